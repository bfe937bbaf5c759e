#include "cantdo/tlog/note.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cantdo/base/status.hpp"

namespace cantdo::tlog {
namespace {

constexpr char kAlgEd25519 = 0x01;
constexpr absl::string_view kSignaturePrefix = "\xe2\x80\x94 ";  // U+2014 EM DASH, space
constexpr absl::string_view kPrivateKeyPrefix = "PRIVATE+KEY+";

uint32_t KeyHash(absl::string_view name, absl::string_view encoded_key) {
  const std::string in = absl::StrCat(name, "\n", encoded_key);
  unsigned char sum[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), sum);
  return (uint32_t{sum[0]} << 24) | (uint32_t{sum[1]} << 16) | (uint32_t{sum[2]} << 8) | uint32_t{sum[3]};
}

// A key name: non-empty UTF-8 without spaces, '+' or newlines.
bool ValidName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == ' ' || c == '+' || c == '\n' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

std::shared_ptr<EVP_PKEY> Wrap(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

// <name>+<hash>+<base64 key> -> its parts, with the key decoded.
absl::StatusOr<std::tuple<std::string, uint32_t, std::string>> SplitKey(absl::string_view s, absl::string_view what) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, absl::MaxSplits('+', 2));
  uint32_t hash = 0;
  std::string key;
  if (parts.size() != 3 || !ValidName(parts[0]) || parts[1].size() != 8 || !absl::SimpleHexAtoi(parts[1], &hash) ||
      !absl::Base64Unescape(parts[2], &key) || key.size() != 33 || key[0] != kAlgEd25519) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", what, " (expected <name>+<hash>+<base64 Ed25519 key>)"));
  }
  return std::make_tuple(std::string(parts[0]), hash, key);
}

}  // namespace

absl::StatusOr<NoteVerifier> NoteVerifier::Parse(absl::string_view vkey) {
  CANTDO_ASSIGN_OR_RETURN(auto parts, SplitKey(vkey, "verifier key"));
  auto& [name, hash, key] = parts;
  if (KeyHash(name, key) != hash)
    return absl::InvalidArgumentError("verifier key hash does not match its name and key");
  NoteVerifier v;
  v.name_ = name;
  v.key_hash_ = hash;
  v.key_ = Wrap(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                            reinterpret_cast<const unsigned char*>(key.data() + 1), 32));
  if (!v.key_) return absl::InvalidArgumentError("verifier key is not an Ed25519 public key");
  return v;
}

bool NoteVerifier::Verify(absl::string_view message, absl::string_view signature) const {
  if (signature.size() != 64) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

absl::StatusOr<NoteSigner> NoteSigner::Parse(absl::string_view skey) {
  skey = absl::StripAsciiWhitespace(skey);
  if (!absl::ConsumePrefix(&skey, kPrivateKeyPrefix)) {
    return absl::InvalidArgumentError("malformed signer key (expected PRIVATE+KEY+<name>+<hash>+<base64 seed>)");
  }
  CANTDO_ASSIGN_OR_RETURN(auto parts, SplitKey(skey, "signer key"));
  auto& [name, hash, seed] = parts;
  NoteSigner s;
  s.name_ = name;
  s.seed_ = seed.substr(1);
  s.key_ = Wrap(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(s.seed_.data()), 32));
  if (!s.key_) return absl::InvalidArgumentError("signer key is not an Ed25519 seed");
  size_t len = 32;
  s.public_key_.resize(32);
  if (EVP_PKEY_get_raw_public_key(s.key_.get(), reinterpret_cast<unsigned char*>(s.public_key_.data()), &len) != 1) {
    return absl::InternalError("cannot derive the Ed25519 public key");
  }
  s.key_hash_ = KeyHash(name, std::string(1, kAlgEd25519) + s.public_key_);
  if (s.key_hash_ != hash) return absl::InvalidArgumentError("signer key hash does not match its name and key");
  return s;
}

absl::StatusOr<NoteSigner> NoteSigner::Generate(absl::string_view name) {
  if (!ValidName(name)) return absl::InvalidArgumentError("a key name has no spaces, '+' or newlines");
  std::string seed(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), 32) != 1) {
    return absl::InternalError("no randomness for a key");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), 32),
      EVP_PKEY_free);
  std::string pub(32, '\0');
  size_t len = 32;
  if (!k || EVP_PKEY_get_raw_public_key(k.get(), reinterpret_cast<unsigned char*>(pub.data()), &len) != 1) {
    return absl::InternalError("cannot make an Ed25519 key");
  }
  const std::string encoded = std::string(1, kAlgEd25519) + pub;
  return Parse(absl::StrFormat("%s%s+%08x+%s", kPrivateKeyPrefix, name, KeyHash(name, encoded),
                               absl::Base64Escape(std::string(1, kAlgEd25519) + seed)));
}

std::string NoteSigner::SignerKey() const {
  return absl::StrFormat("%s%s+%08x+%s", kPrivateKeyPrefix, name_, key_hash_,
                         absl::Base64Escape(std::string(1, kAlgEd25519) + seed_));
}

std::string NoteSigner::VerifierKey() const {
  return absl::StrFormat("%s+%08x+%s", name_, key_hash_, absl::Base64Escape(std::string(1, kAlgEd25519) + public_key_));
}

absl::StatusOr<std::string> NoteSigner::Sign(absl::string_view text) const {
  if (text.empty() || text.back() != '\n') return absl::InvalidArgumentError("a note's text ends with a newline");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1 ||
      len != 64) {
    return absl::InternalError("Ed25519 signing failed");
  }
  std::string blob;
  for (int shift = 24; shift >= 0; shift -= 8) blob.push_back(static_cast<char>((key_hash_ >> shift) & 0xff));
  blob += sig;
  return absl::StrCat(text, "\n", kSignaturePrefix, name_, " ", absl::Base64Escape(blob), "\n");
}

absl::StatusOr<std::string> OpenNote(absl::string_view note, const NoteVerifier& verifier) {
  const auto malformed = [] { return absl::DataLossError("malformed signed note"); };
  const size_t split = note.rfind("\n\n");
  if (split == absl::string_view::npos) return malformed();
  const absl::string_view text = note.substr(0, split + 1);
  absl::string_view sigs = note.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n') return malformed();
  for (char c : note) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') return malformed();
  }
  bool verified = false;
  sigs.remove_suffix(1);
  for (absl::string_view line : absl::StrSplit(sigs, '\n')) {
    if (!absl::ConsumePrefix(&line, kSignaturePrefix)) return malformed();
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) return malformed();
    const absl::string_view name = line.substr(0, space);
    std::string blob;
    if (!ValidName(name) || !absl::Base64Unescape(line.substr(space + 1), &blob) || blob.size() < 5) return malformed();
    const uint32_t hash =
        (uint32_t{static_cast<unsigned char>(blob[0])} << 24) | (uint32_t{static_cast<unsigned char>(blob[1])} << 16) |
        (uint32_t{static_cast<unsigned char>(blob[2])} << 8) | uint32_t{static_cast<unsigned char>(blob[3])};
    if (name != verifier.name() || hash != verifier.key_hash()) continue;
    if (!verifier.Verify(text, absl::string_view(blob).substr(4))) {
      return absl::DataLossError(absl::StrCat("invalid signature by ", verifier.name()));
    }
    verified = true;
  }
  if (!verified) return absl::DataLossError(absl::StrCat("note not signed by ", verifier.name()));
  return std::string(text);
}

}  // namespace cantdo::tlog
