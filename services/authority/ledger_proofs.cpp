#include "authority/ledger_proofs.hpp"

#include "absl/strings/str_cat.h"
#include "authority/ledger.hpp"
#include "authority/ledger_tree.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

common::v1::LedgerCheckpoint ToProto(const std::string& note, const tlog::Checkpoint& c) {
  common::v1::LedgerCheckpoint out;
  out.set_note(note);
  out.set_origin(c.origin);
  out.set_size(c.size);
  out.set_root_hash(std::string(tlog::HashBytes(c.root)));
  return out;
}

absl::Status NotCheckpointed(absl::string_view what, int64_t newest) {
  return WithMetadata(
      FailedPrecondition("LEDGER_NOT_CHECKPOINTED", absl::StrCat(what, " is beyond the newest checkpoint (", newest,
                                                                 " entries); ask again after the next one")),
      "checkpoint_size", absl::StrCat(newest));
}

}  // namespace

absl::StatusOr<common::v1::LedgerCheckpoint> LedgerProofs::Checkpoint() const {
  if (checkpointer_ == nullptr) {
    return FailedPrecondition("LEDGER_CHECKPOINTS_OFF", "this authority signs no ledger checkpoints");
  }
  const std::string note = checkpointer_->LatestNote();
  if (note.empty()) return NotCheckpointed("the ledger", 0);
  return ToProto(note, checkpointer_->Latest());
}

absl::StatusOr<v1::GetInclusionProofResponse> LedgerProofs::Inclusion(pg::Connection& conn,
                                                                      const v1::GetInclusionProofRequest& req) const {
  if (req.sequence() <= 0) return InvalidArgument("sequence", "must be positive");
  if (req.tree_size() < 0) return InvalidArgument("tree_size", "must not be negative");
  CANTDO_ASSIGN_OR_RETURN(const common::v1::LedgerCheckpoint cp, Checkpoint());
  const int64_t size = req.tree_size() == 0 ? cp.size() : req.tree_size();
  if (size > cp.size()) return NotCheckpointed(absl::StrCat("tree size ", size), cp.size());
  if (req.sequence() > size) {
    return size == cp.size() ? NotCheckpointed(absl::StrCat("entry ", req.sequence()), cp.size())
                             : InvalidArgument("sequence", "is beyond tree_size");
  }
  auto leaf = Ledger::ReadLeaf(conn, req.sequence());
  if (absl::IsNotFound(leaf.status())) {
    return WithMetadata(WithReason(leaf.status(), "LEDGER_ENTRY_NOT_FOUND"), "sequence", absl::StrCat(req.sequence()));
  }
  CANTDO_RETURN_IF_ERROR(leaf.status());
  CANTDO_ASSIGN_OR_RETURN(std::vector<tlog::Hash> proof,
                          tlog::InclusionProof(req.sequence() - 1, size, LedgerTree::Reader(conn)));
  v1::GetInclusionProofResponse resp;
  resp.set_leaf_index(req.sequence() - 1);
  resp.set_tree_size(size);
  for (const tlog::Hash& h : proof) resp.add_hashes(std::string(tlog::HashBytes(h)));
  resp.set_document(leaf->document);
  return resp;
}

absl::StatusOr<v1::GetConsistencyProofResponse> LedgerProofs::Consistency(
    pg::Connection& conn, const v1::GetConsistencyProofRequest& req) const {
  if (req.old_size() <= 0) return InvalidArgument("old_size", "must be positive");
  if (req.new_size() < 0) return InvalidArgument("new_size", "must not be negative");
  CANTDO_ASSIGN_OR_RETURN(const common::v1::LedgerCheckpoint cp, Checkpoint());
  const int64_t new_size = req.new_size() == 0 ? cp.size() : req.new_size();
  if (new_size > cp.size()) return NotCheckpointed(absl::StrCat("tree size ", new_size), cp.size());
  if (req.old_size() > new_size) {
    return new_size == cp.size() ? NotCheckpointed(absl::StrCat("tree size ", req.old_size()), cp.size())
                                 : InvalidArgument("old_size", "is larger than new_size");
  }
  CANTDO_ASSIGN_OR_RETURN(std::vector<tlog::Hash> proof,
                          tlog::ConsistencyProof(req.old_size(), new_size, LedgerTree::Reader(conn)));
  v1::GetConsistencyProofResponse resp;
  resp.set_old_size(req.old_size());
  resp.set_new_size(new_size);
  for (const tlog::Hash& h : proof) resp.add_hashes(std::string(tlog::HashBytes(h)));
  return resp;
}

absl::StatusOr<common::v1::LedgerReceipt> LedgerProofs::Receipt(pg::Connection& conn, int64_t sequence) const {
  // One checkpoint for both: the proof is against the tree it signed.
  CANTDO_ASSIGN_OR_RETURN(const common::v1::LedgerCheckpoint cp, Checkpoint());
  v1::GetInclusionProofRequest req;
  req.set_sequence(sequence);
  req.set_tree_size(cp.size());
  CANTDO_ASSIGN_OR_RETURN(v1::GetInclusionProofResponse proof, Inclusion(conn, req));
  CANTDO_ASSIGN_OR_RETURN(Ledger::Leaf leaf, Ledger::ReadLeaf(conn, sequence));
  common::v1::LedgerReceipt r;
  *r.mutable_entry() = std::move(leaf.entry);
  r.set_document(std::move(leaf.document));
  r.set_leaf_index(proof.leaf_index());
  *r.mutable_inclusion_proof() = proof.hashes();
  *r.mutable_checkpoint() = cp;
  return r;
}

}  // namespace cantdo::authority
