#pragma once
// Signed checkpoints of the ledger's Merkle tree, kept outside the database.
//
// A checkpoint (C2SP tlog-checkpoint in a C2SP signed note, Ed25519) commits
// the authority to the first `size` ledger entries. The signing key comes
// from the authority's configuration (environment or a mounted Kubernetes
// Secret), never from PostgreSQL, so whoever controls the database can
// neither sign a checkpoint nor change what one covers unseen
// (docs/security.md, "Checkpoints").
//
// The newest checkpoint is written to `<dir>/checkpoint` (replaced
// atomically), where the gateway and auditors read it; before it, the leaf
// hashes it covers are added to `<dir>/leaf-hashes` (32 bytes per entry, in
// sequence order), so that a copy of the directory also locates a rewrite
// whose author rebuilt the database's tree too (Ledger::VerifyCheckpoint). Replicas may share
// the directory: each extends the largest checkpoint found there. Before signing a
// larger tree, the checkpointer checks a consistency proof from the last
// tree it signed, built from the database's stored tree: a database whose
// history was rewritten since gets no new signature (DATA_LOSS), so the
// authority never signs a fork of its own log.
//
// Thread-safe.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/tlog/checkpoint.hpp"
#include "cantdo/tlog/note.hpp"

namespace cantdo::authority {

// Reads a signer key (Go note format) from `key`, or else from the file
// `key_file` (a mounted Secret). INVALID_ARGUMENT naming the option, never
// quoting the key, when both are empty or it does not parse.
absl::StatusOr<tlog::NoteSigner> LoadLedgerSigningKey(const std::string& key, const std::string& key_file);

class LedgerCheckpointer {
 public:
  // Creates `dir` if missing and picks up the checkpoint already in it, which
  // must be signed by `signer` (FAILED_PRECONDITION otherwise: a key change
  // needs the old checkpoint moved aside, deliberately).
  static absl::StatusOr<std::unique_ptr<LedgerCheckpointer>> Create(tlog::NoteSigner signer, std::string dir);

  // If the stored tree grew since the last checkpoint, signs and writes a
  // checkpoint of it. Returns the new checkpoint, or nullopt when the tree
  // did not grow. DATA_LOSS when the tree does not extend the last one.
  absl::StatusOr<std::optional<tlog::Checkpoint>> MaybeCheckpoint(pg::Connection& conn);

  // The leaf hashes in the directory (see above), as many as it holds.
  std::vector<tlog::Hash> PublishedLeaves() const;

  // The newest checkpoint note this authority signed or found ("" if none).
  std::string LatestNote() const;
  // Its parsed form (size 0 if none).
  tlog::Checkpoint Latest() const;
  const tlog::NoteVerifier& verifier() const { return verifier_; }
  // The note verifier key auditors check checkpoints with.
  std::string verifier_key() const { return signer_.VerifierKey(); }
  const std::string& dir() const { return dir_; }

  // The file name of the newest checkpoint in a checkpoint directory.
  static constexpr char kFileName[] = "checkpoint";
  // The file of the leaf hashes the checkpoints cover.
  static constexpr char kLeafHashesFileName[] = "leaf-hashes";

 private:
  LedgerCheckpointer(tlog::NoteSigner signer, tlog::NoteVerifier verifier, std::string dir)
      : signer_(std::move(signer)), verifier_(std::move(verifier)), dir_(std::move(dir)) {}

  const tlog::NoteSigner signer_;
  const tlog::NoteVerifier verifier_;
  const std::string dir_;
  // Serialises MaybeCheckpoint calls (and the file they write).
  absl::Mutex sign_mu_;
  mutable absl::Mutex mu_;
  std::string latest_note_ ABSL_GUARDED_BY(mu_);
  tlog::Checkpoint latest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cantdo::authority
