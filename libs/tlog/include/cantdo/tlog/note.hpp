#pragma once
// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, in the
// key encodings of Go's golang.org/x/mod/sumdb/note, so its tools read ours:
//
//   signer key    PRIVATE+KEY+<name>+<hash>+<base64(0x01 || 32-byte seed)>
//   verifier key  <name>+<hash>+<base64(0x01 || 32-byte public key)>
//
// <hash> is 8 lowercase hex digits: the first 4 bytes of
// SHA-256(<name> || "\n" || 0x01 || public key), big-endian. A note is its
// text (UTF-8, ending in "\n"), a blank line, and one line per signature:
// "— <name> <base64(key hash || Ed25519 signature of the text)>\n".

#include <cstdint>
#include <memory>
#include <string>

#include <openssl/evp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::tlog {

class NoteVerifier {
 public:
  // Parses a verifier key. INVALID_ARGUMENT when malformed, of another
  // algorithm, or when its hash does not match its name and key.
  static absl::StatusOr<NoteVerifier> Parse(absl::string_view vkey);

  const std::string& name() const { return name_; }
  uint32_t key_hash() const { return key_hash_; }
  // Whether `signature` is this key's Ed25519 signature of `message`.
  bool Verify(absl::string_view message, absl::string_view signature) const;

 private:
  std::string name_;
  uint32_t key_hash_ = 0;
  std::shared_ptr<EVP_PKEY> key_;
};

class NoteSigner {
 public:
  // Parses a signer key (Go's note.NewSigner format). INVALID_ARGUMENT when
  // malformed; the message never contains the key.
  static absl::StatusOr<NoteSigner> Parse(absl::string_view skey);
  // A fresh key named `name` (a note key name: no spaces or '+').
  static absl::StatusOr<NoteSigner> Generate(absl::string_view name);

  const std::string& name() const { return name_; }
  // The signer key to store in a secret (Parse reads it back).
  std::string SignerKey() const;
  // The verifier key to give to whoever checks our notes.
  std::string VerifierKey() const;
  // `text` (must end in "\n") signed: the whole note.
  absl::StatusOr<std::string> Sign(absl::string_view text) const;

 private:
  std::string name_;
  std::string seed_, public_key_;  // raw, 32 bytes each
  uint32_t key_hash_ = 0;
  std::shared_ptr<EVP_PKEY> key_;
};

// The text of `note` if `verifier` signed it (other signatures are
// ignored). DATA_LOSS for a malformed note, an invalid signature, or none
// by this key.
absl::StatusOr<std::string> OpenNote(absl::string_view note, const NoteVerifier& verifier);

}  // namespace cantdo::tlog
