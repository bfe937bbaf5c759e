#include "authority/ledger_checkpointer.hpp"

#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "authority/ledger_tree.hpp"
#include "cantdo/base/files.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/tlog/merkle.hpp"

namespace cantdo::authority {
namespace {}  // namespace

absl::StatusOr<tlog::NoteSigner> LoadLedgerSigningKey(const std::string& key, const std::string& key_file) {
  std::string text = key;
  if (text.empty() && !key_file.empty()) {
    auto read = ReadFile(key_file);
    if (!read.ok()) return InvalidArgument("ledger-signing-key-file", "cannot be read");
    text = *std::move(read);
  }
  if (text.empty()) return InvalidArgument("ledger-signing-key", "is not set");
  auto signer = tlog::NoteSigner::Parse(text);
  if (!signer.ok()) {
    return InvalidArgument(key.empty() ? "ledger-signing-key-file" : "ledger-signing-key",
                           absl::StrCat("is not a signer key: ", signer.status().message()));
  }
  return signer;
}

absl::StatusOr<std::unique_ptr<LedgerCheckpointer>> LedgerCheckpointer::Create(tlog::NoteSigner signer,
                                                                               std::string dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create checkpoint directory ", dir));
  CANTDO_ASSIGN_OR_RETURN(tlog::NoteVerifier verifier, tlog::NoteVerifier::Parse(signer.VerifierKey()));
  std::unique_ptr<LedgerCheckpointer> c(new LedgerCheckpointer(std::move(signer), std::move(verifier), dir));
  if (auto note = ReadFile(absl::StrCat(dir, "/", kFileName)); note.ok()) {
    auto cp = tlog::OpenCheckpoint(*note, c->verifier_);
    if (!cp.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(dir, "/", kFileName, " is not a checkpoint signed by key ",
                                                        c->verifier_.name(), ": ", cp.status().message()));
    }
    absl::MutexLock lock(&c->mu_);
    c->latest_note_ = *std::move(note);
    c->latest_ = *std::move(cp);
  }
  return c;
}

absl::StatusOr<std::optional<tlog::Checkpoint>> LedgerCheckpointer::MaybeCheckpoint(pg::Connection& conn) {
  absl::MutexLock sign_lock(&sign_mu_);
  // Another replica sharing the directory may have signed a larger tree:
  // that one is the tree to extend (and is not to be replaced by a smaller).
  if (auto note = ReadFile(absl::StrCat(dir_, "/", kFileName)); note.ok()) {
    auto cp = tlog::OpenCheckpoint(*note, verifier_);
    if (cp.ok() && cp->size > Latest().size) {
      absl::MutexLock lock(&mu_);
      latest_note_ = *std::move(note);
      latest_ = *std::move(cp);
    }
  }
  const tlog::Checkpoint last = Latest();
  CANTDO_ASSIGN_OR_RETURN(const int64_t size, LedgerTree::Size(conn));
  if (size <= last.size) return std::nullopt;
  const tlog::NodeReader read = LedgerTree::Reader(conn);
  tlog::Checkpoint next;
  next.origin = signer_.name();
  next.size = size;
  CANTDO_ASSIGN_OR_RETURN(next.root, tlog::TreeRoot(size, read));
  if (last.size > 0) {
    CANTDO_ASSIGN_OR_RETURN(std::vector<tlog::Hash> proof, tlog::ConsistencyProof(last.size, size, read));
    if (absl::Status st = tlog::VerifyConsistency(last.size, size, last.root, next.root, proof); !st.ok()) {
      return absl::DataLossError(absl::StrCat("the ledger's tree of ", size, " entries does not extend checkpoint ",
                                              last.size, " (", st.message(),
                                              "): its history was rewritten; refusing to sign"));
    }
  }
  // The leaves first: a checkpoint in the directory never covers leaves
  // missing from it. Writes are positional, so replicas writing the same
  // leaves agree, and a file shorter than the last checkpoint (a directory
  // from before it existed) is filled in.
  const std::string leaves_path = absl::StrCat(dir_, "/", kLeafHashesFileName);
  std::error_code ec;
  const uintmax_t have = std::filesystem::exists(leaves_path, ec) ? std::filesystem::file_size(leaves_path, ec) : 0;
  const int64_t from = std::min<int64_t>(last.size, static_cast<int64_t>(have / 32));
  CANTDO_ASSIGN_OR_RETURN(std::vector<tlog::Hash> leaves, LedgerTree::Leaves(conn, from, size));
  {
    std::fstream out(leaves_path, std::ios::binary | std::ios::in | std::ios::out);
    if (!out.is_open()) out.open(leaves_path, std::ios::binary | std::ios::out | std::ios::trunc);
    out.seekp(static_cast<std::streamoff>(from) * 32);
    for (const tlog::Hash& h : leaves) out.write(reinterpret_cast<const char*>(h.data()), 32);
    out.flush();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", leaves_path));
  }
  CANTDO_ASSIGN_OR_RETURN(std::string note, signer_.Sign(next.Text()));
  CANTDO_RETURN_IF_ERROR(ReplaceFile(absl::StrCat(dir_, "/", kFileName), note));
  absl::MutexLock lock(&mu_);
  latest_note_ = std::move(note);
  latest_ = next;
  return next;
}

std::vector<tlog::Hash> LedgerCheckpointer::PublishedLeaves() const {
  std::vector<tlog::Hash> out;
  std::ifstream in(absl::StrCat(dir_, "/", kLeafHashesFileName), std::ios::binary);
  tlog::Hash h;
  while (in.read(reinterpret_cast<char*>(h.data()), 32)) out.push_back(h);
  return out;
}

std::string LedgerCheckpointer::LatestNote() const {
  absl::MutexLock lock(&mu_);
  return latest_note_;
}

tlog::Checkpoint LedgerCheckpointer::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

}  // namespace cantdo::authority
