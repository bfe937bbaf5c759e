#include "ledger_offline.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/files.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::ledger_tool {
namespace {

absl::Status Mismatch(absl::string_view what) { return absl::DataLossError(absl::StrCat("receipt: ", what)); }

}  // namespace

absl::StatusOr<tlog::NoteVerifier> LoadVerifier(const std::string& key, const std::string& key_file) {
  std::string text = key;
  if (text.empty() && !key_file.empty()) {
    CANTDO_ASSIGN_OR_RETURN(text, ReadFile(key_file));
  }
  if (text.empty()) return InvalidArgument("verifier-key", "is required (cantdo-ledger verifier-key prints it)");
  return tlog::NoteVerifier::Parse(absl::StripAsciiWhitespace(text));
}

absl::StatusOr<tlog::Checkpoint> ReadCheckpointFile(const std::string& path, const tlog::NoteVerifier& verifier) {
  CANTDO_ASSIGN_OR_RETURN(std::string note, ReadFile(path));
  return tlog::OpenCheckpoint(note, verifier);
}

absl::Status VerifyReceipt(const common::v1::LedgerReceipt& receipt, const tlog::NoteVerifier& verifier) {
  CANTDO_ASSIGN_OR_RETURN(const tlog::Checkpoint cp, tlog::OpenCheckpoint(receipt.checkpoint().note(), verifier));
  const std::string& doc = receipt.document();
  nlohmann::json d = nlohmann::json::parse(doc, nullptr, false);
  if (!d.is_object()) return Mismatch("the document is not a JSON object");
  const common::v1::LedgerEntry& e = receipt.entry();
  if (!d.contains("sequence") || !d["sequence"].is_number_integer() || d["sequence"].get<int64_t>() != e.sequence() ||
      receipt.leaf_index() != e.sequence() - 1) {
    return Mismatch("the document, the entry and the leaf index name different sequences");
  }
  if (Sha256Hex(doc) != e.hash()) return Mismatch("the entry's hash is not the SHA-256 of the document");
  // The fields a reader acts on must be the document's.
  const std::pair<const char*, const std::string*> fields[] = {{"actor", &e.actor()},
                                                               {"action", &e.action()},
                                                               {"resource", &e.resource()},
                                                               {"parameters_hash", &e.parameters_hash()},
                                                               {"workflow_id", &e.workflow_id()},
                                                               {"run_id", &e.run_id()},
                                                               {"step", &e.step()},
                                                               {"grant_id", &e.grant_id()},
                                                               {"approval_id", &e.approval_id()},
                                                               {"policy_version", &e.policy_version()},
                                                               {"policy_hash", &e.policy_hash()},
                                                               {"prev_hash", &e.prev_hash()}};
  for (const auto& [name, value] : fields) {
    if (!d.contains(name) || !d[name].is_string() || d[name].get<std::string>() != *value) {
      return Mismatch(absl::StrCat("the entry's ", name, " is not the document's"));
    }
  }
  const std::string acting =
      d.contains("acting_service") && d["acting_service"].is_string() ? d["acting_service"].get<std::string>() : "";
  if (acting != e.acting_service()) return Mismatch("the entry's acting_service is not the document's");
  const std::string kind = common::v1::LedgerEventKind_Name(e.kind());
  if (!d.contains("kind") || !d["kind"].is_string() || "LEDGER_EVENT_KIND_" + d["kind"].get<std::string>() != kind) {
    return Mismatch("the entry's kind is not the document's");
  }
  std::vector<tlog::Hash> proof;
  for (const std::string& h : receipt.inclusion_proof()) {
    auto hash = tlog::HashFromBytes(h);
    if (!hash.ok()) return Mismatch("a proof hash is not 32 bytes");
    proof.push_back(*hash);
  }
  absl::Status st = tlog::VerifyInclusion(receipt.leaf_index(), cp.size, tlog::LeafHash(doc), proof, cp.root);
  if (!st.ok())
    return Mismatch(absl::StrCat("entry ", e.sequence(), " is not in checkpoint ", cp.size, ": ", st.message()));
  return absl::OkStatus();
}

absl::StatusOr<WitnessStep> WitnessUpdate(const std::string& state_path, const tlog::NoteVerifier& verifier,
                                          const std::string& new_note, const ConsistencyFetcher& fetch) {
  CANTDO_ASSIGN_OR_RETURN(const tlog::Checkpoint next, tlog::OpenCheckpoint(new_note, verifier));
  WitnessStep step;
  step.new_size = next.size;
  if (auto kept_note = ReadFile(state_path); kept_note.ok()) {
    auto kept = tlog::OpenCheckpoint(*kept_note, verifier);
    if (!kept.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(state_path, " holds no checkpoint signed by this key: ", kept.status().message()));
    }
    step.old_size = kept->size;
    if (next.size < kept->size) {
      return absl::DataLossError(absl::StrCat("rollback: the log now shows ", next.size, " entries, but checkpoint ",
                                              kept->size, " was signed before"));
    }
    if (next.size == kept->size) {
      if (next.root != kept->root) {
        return absl::DataLossError(
            absl::StrCat("fork: two signed checkpoints of ", next.size, " entries with different roots"));
      }
      return step;
    }
    CANTDO_ASSIGN_OR_RETURN(std::vector<tlog::Hash> proof, fetch(kept->size, next.size));
    if (absl::Status st = tlog::VerifyConsistency(kept->size, next.size, kept->root, next.root, proof); !st.ok()) {
      return absl::DataLossError(absl::StrCat("fork: checkpoint ", next.size, " does not extend checkpoint ",
                                              kept->size, " (", st.message(), ")"));
    }
  }
  CANTDO_RETURN_IF_ERROR(ReplaceFile(state_path, new_note));
  step.advanced = true;
  return step;
}

}  // namespace cantdo::ledger_tool
