#include "authority/ledger.hpp"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "authority/caller.hpp"
#include "authority/ledger_tree.hpp"
#include "cantdo/base/canonical_json.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/fields/principal.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::authority {
namespace {

using common::v1::LedgerEntry;

// 'ledger' in ASCII: the advisory lock key that serialises appends.
constexpr int64_t kLedgerLockKey = 0x6c6564676572;

// What a deciding transaction writes (the authority's role may INSERT these
// columns only, V0009); the chainer adds sequence, prev_hash and hash.
constexpr char kContentColumns[] =
    "time_us, kind, actor, action, resource, parameters_hash, workflow_id, run_id, step, "
    "grant_id, approval_id, decision, reason, policy_version, policy_hash, detail, acting_service";
constexpr char kColumns[] =
    "sequence, time_us, kind, actor, action, resource, parameters_hash, workflow_id, run_id, step, "
    "grant_id, approval_id, decision, reason, policy_version, policy_hash, detail, acting_service, prev_hash, hash";

constexpr absl::string_view kKindPrefix = "LEDGER_EVENT_KIND_";
constexpr absl::string_view kDecisionPrefix = "DECISION_";
constexpr absl::string_view kServicePrefix = "spiffe://";

struct Row {
  int64_t sequence = 0;  // 0 while pending
  int64_t time_us = 0;
  std::string kind, actor, action, resource, parameters_hash, workflow_id, run_id, step, grant_id, approval_id,
      decision, reason, policy_version, policy_hash, detail, acting_service, prev_hash, hash;
};

// The text columns of a row, by name.
struct TextColumn {
  const char* name;
  std::string Row::*field;
};
constexpr TextColumn kContentText[] = {
    {"kind", &Row::kind},
    {"actor", &Row::actor},
    {"action", &Row::action},
    {"resource", &Row::resource},
    {"parameters_hash", &Row::parameters_hash},
    {"workflow_id", &Row::workflow_id},
    {"run_id", &Row::run_id},
    {"step", &Row::step},
    {"grant_id", &Row::grant_id},
    {"approval_id", &Row::approval_id},
    {"decision", &Row::decision},
    {"reason", &Row::reason},
    {"policy_version", &Row::policy_version},
    {"policy_hash", &Row::policy_hash},
    {"detail", &Row::detail},
    {"acting_service", &Row::acting_service},
};
constexpr int kContentTextCount = sizeof(kContentText) / sizeof(kContentText[0]);

// Where each column is in a result of `SELECT kColumns`, looked up by name
// once per result rather than once per cell.
class RowReader {
 public:
  static absl::StatusOr<RowReader> Of(const pg::Result& res) {
    RowReader r(res);
    CANTDO_ASSIGN_OR_RETURN(r.sequence_, res.ColumnIndex("sequence"));
    CANTDO_ASSIGN_OR_RETURN(r.time_us_, res.ColumnIndex("time_us"));
    CANTDO_ASSIGN_OR_RETURN(r.prev_hash_, res.ColumnIndex("prev_hash"));
    CANTDO_ASSIGN_OR_RETURN(r.hash_, res.ColumnIndex("hash"));
    for (int c = 0; c < kContentTextCount; ++c) {
      CANTDO_ASSIGN_OR_RETURN(r.text_[c], res.ColumnIndex(kContentText[c].name));
    }
    return r;
  }

  // Row `i`; a pending row has sequence 0 and empty hashes.
  absl::StatusOr<Row> Read(int i) const {
    Row r;
    CANTDO_ASSIGN_OR_RETURN(r.time_us, res_.GetInt64(i, time_us_));
    for (int c = 0; c < kContentTextCount; ++c) {
      CANTDO_ASSIGN_OR_RETURN(r.*kContentText[c].field, res_.GetString(i, text_[c]));
    }
    if (!res_.IsNull(i, sequence_)) {
      CANTDO_ASSIGN_OR_RETURN(r.sequence, res_.GetInt64(i, sequence_));
      CANTDO_ASSIGN_OR_RETURN(r.prev_hash, res_.GetString(i, prev_hash_));
      CANTDO_ASSIGN_OR_RETURN(r.hash, res_.GetString(i, hash_));
    }
    return r;
  }

 private:
  explicit RowReader(const pg::Result& res) : res_(res) {}
  const pg::Result& res_;
  int sequence_ = 0, time_us_ = 0, prev_hash_ = 0, hash_ = 0;
  int text_[kContentTextCount] = {};
};

// The entry's document: the RFC 8785 canonical JSON that its chain hash is
// the SHA-256 of, and the data of its Merkle tree leaf (ledger.hpp).
absl::StatusOr<std::string> DocumentOf(const Row& r) {
  nlohmann::json detail = nlohmann::json::parse(r.detail, nullptr, false);
  if (detail.is_discarded()) return absl::DataLossError("ledger detail is not JSON");
  nlohmann::json o = {{"sequence", r.sequence},
                      {"time_us", r.time_us},
                      {"kind", r.kind},
                      {"actor", r.actor},
                      {"action", r.action},
                      {"resource", r.resource},
                      {"parameters_hash", r.parameters_hash},
                      {"workflow_id", r.workflow_id},
                      {"run_id", r.run_id},
                      {"step", r.step},
                      {"grant_id", r.grant_id},
                      {"approval_id", r.approval_id},
                      {"decision", r.decision},
                      {"reason", r.reason},
                      {"policy_version", r.policy_version},
                      {"policy_hash", r.policy_hash},
                      {"detail", detail},
                      {"prev_hash", r.prev_hash}};
  // Absent rather than empty, so entries from before V0009 keep their hash.
  if (!r.acting_service.empty()) o["acting_service"] = r.acting_service;
  return CanonicalJson(o);
}

// "GRANT_CLAIMED" for LEDGER_EVENT_KIND_GRANT_CLAIMED; "" for a value the
// enum does not have.
std::string KindName(common::v1::LedgerEventKind k) {
  if (!common::v1::LedgerEventKind_IsValid(k)) return "";
  const std::string& n = common::v1::LedgerEventKind_Name(k);
  return n.size() > kKindPrefix.size() ? n.substr(kKindPrefix.size()) : "";
}

std::string DecisionName(common::v1::Decision d) {
  if (d == common::v1::DECISION_UNSPECIFIED || !common::v1::Decision_IsValid(d)) return "";
  return common::v1::Decision_Name(d).substr(kDecisionPrefix.size());
}

// A filter time in Unix microseconds, clamped to what int64 holds.
int64_t Micros(const google::protobuf::Timestamp& t) {
  return absl::ToUnixMicros(absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos()));
}

LedgerEntry ToProto(const Row& r) {
  LedgerEntry e;
  e.set_sequence(r.sequence);
  e.mutable_time()->set_seconds(r.time_us / 1000000);
  e.mutable_time()->set_nanos(static_cast<int>((r.time_us % 1000000) * 1000));
  common::v1::LedgerEventKind kind;
  if (common::v1::LedgerEventKind_Parse(std::string(kKindPrefix) + r.kind, &kind)) e.set_kind(kind);
  e.set_actor(r.actor);
  e.set_action(r.action);
  e.set_resource(r.resource);
  e.set_parameters_hash(r.parameters_hash);
  e.set_workflow_id(r.workflow_id);
  e.set_run_id(r.run_id);
  e.set_step(r.step);
  e.set_grant_id(r.grant_id);
  e.set_approval_id(r.approval_id);
  common::v1::Decision d;
  if (!r.decision.empty() && common::v1::Decision_Parse(std::string(kDecisionPrefix) + r.decision, &d))
    e.set_decision(d);
  common::v1::ErrorReason reason;
  if (!r.reason.empty() && common::v1::ErrorReason_Parse(r.reason, &reason)) e.set_reason(reason);
  e.set_policy_version(r.policy_version);
  e.set_policy_hash(r.policy_hash);
  nlohmann::json detail = nlohmann::json::parse(r.detail, nullptr, false);
  if (detail.is_object()) {
    auto* fields = e.mutable_detail()->mutable_fields();
    for (const auto& [k, v] : detail.items()) {
      if (v.is_string())
        (*fields)[k].set_string_value(v.get<std::string>());
      else if (v.is_number())
        (*fields)[k].set_number_value(v.get<double>());
      else if (v.is_boolean())
        (*fields)[k].set_bool_value(v.get<bool>());
      else
        (*fields)[k].set_string_value(v.dump());
    }
  }
  e.set_prev_hash(r.prev_hash);
  e.set_hash(r.hash);
  e.set_acting_service(r.acting_service);
  return e;
}

// Ledger::Verify, also collecting each checked entry's leaf hash in
// `leaves` when not null.
absl::StatusOr<common::v1::LedgerVerification> VerifyChain(pg::Connection& conn, int64_t start, int64_t end,
                                                           absl::Time now, std::vector<tlog::Hash>* leaves) {
  common::v1::LedgerVerification v;
  *v.mutable_verify_time() = google::protobuf::Timestamp();
  v.mutable_verify_time()->set_seconds(absl::ToUnixSeconds(now));
  if (start <= 0) start = 1;
  std::string prev_hash = kGenesisHash;
  if (start > 1) {
    CANTDO_ASSIGN_OR_RETURN(pg::Result anchor, conn.Exec("SELECT hash FROM cantdo.ledger WHERE sequence = $1",
                                                         {pg::Int64Param(start - 1)}));
    if (anchor.Rows() != 1) {
      v.set_ok(false);
      v.set_first_bad_sequence(start - 1);
      v.set_problem(common::v1::LEDGER_PROBLEM_SEQUENCE_GAP);
      v.set_message(absl::StrCat("entry ", start - 1, " (the anchor before the range) is missing"));
      return v;
    }
    CANTDO_ASSIGN_OR_RETURN(prev_hash, anchor.GetString(0, 0));
  }
  int64_t expected = start;
  auto fail = [&](int64_t seq, common::v1::LedgerProblem problem, std::string message) {
    v.set_ok(false);
    v.set_first_bad_sequence(seq);
    v.set_problem(problem);
    v.set_message(std::move(message));
    return v;
  };
  constexpr int kBatch = 1000;
  while (true) {
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result batch,
        conn.Exec(absl::StrCat("SELECT ", kColumns,
                               " FROM cantdo.ledger WHERE sequence >= $1 AND ($2::bigint = 0 OR sequence <= $2) "
                               "ORDER BY sequence LIMIT ",
                               kBatch),
                  {pg::Int64Param(expected), pg::Int64Param(end)}));
    if (batch.Rows() == 0) break;
    absl::StatusOr<RowReader> reader = RowReader::Of(batch);
    if (!reader.ok())
      return fail(expected, common::v1::LEDGER_PROBLEM_UNREADABLE, std::string(reader.status().message()));
    for (int i = 0; i < batch.Rows(); ++i) {
      auto row = reader->Read(i);
      if (!row.ok()) return fail(expected, common::v1::LEDGER_PROBLEM_UNREADABLE, std::string(row.status().message()));
      if (row->sequence != expected) {
        return fail(expected, common::v1::LEDGER_PROBLEM_SEQUENCE_GAP,
                    absl::StrCat("entry ", expected, " is missing (next present: ", row->sequence, ")"));
      }
      if (row->prev_hash != prev_hash) {
        return fail(expected, common::v1::LEDGER_PROBLEM_PREV_HASH_MISMATCH,
                    absl::StrCat("entry ", expected, " does not follow entry ", expected - 1,
                                 " (removed, inserted or reordered entries)"));
      }
      auto doc = DocumentOf(*row);
      if (!doc.ok() || Sha256Hex(*doc) != row->hash) {
        return fail(expected, common::v1::LEDGER_PROBLEM_HASH_MISMATCH,
                    absl::StrCat("entry ", expected, " was altered: its hash does not match its content"));
      }
      if (leaves != nullptr) leaves->push_back(tlog::LeafHash(*doc));
      prev_hash = row->hash;
      v.set_entries_checked(v.entries_checked() + 1);
      v.set_head_sequence(expected);
      v.set_head_hash(prev_hash);
      ++expected;
    }
    if (batch.Rows() < kBatch) break;
  }
  v.set_ok(true);
  return v;
}

// `detail` with the current trace's id (cantdo/base/trace_context.hpp),
// unless it names one: inside the hashed detail, so the chain covers it and
// verifiers need nothing new.
nlohmann::json DetailWithTrace(const nlohmann::json& detail) {
  nlohmann::json out = detail.is_object() ? detail : nlohmann::json::object();
  if (const trace::TraceContext* t = trace::Current(); t != nullptr && !out.contains("trace_id")) {
    out["trace_id"] = t->trace_id;
  }
  return out;
}

}  // namespace

std::string DefaultActingService(const std::string& actor) {
  if (absl::StartsWith(actor, kServicePrefix)) return actor;
  if (fields::RequireExternalPrincipal(actor, "actor").ok()) return kGatewayId;
  return "";
}

absl::StatusOr<std::string> Ledger::GrantEntryInsert(const std::string& grant_cte, common::v1::LedgerEventKind kind,
                                                     const std::string& actor, const nlohmann::json& detail,
                                                     absl::Time now, int first_param, std::vector<pg::Param>& params,
                                                     const std::string& acting_service) {
  CANTDO_ASSIGN_OR_RETURN(std::string canonical, CanonicalJson(DetailWithTrace(detail)));
  const int p = first_param;
  params.push_back(pg::Int64Param(absl::ToUnixMicros(now)));
  params.push_back(KindName(kind));
  params.push_back(actor);
  params.push_back(std::move(canonical));
  params.push_back(acting_service.empty() ? DefaultActingService(actor) : acting_service);
  // The columns GrantRecord copies from the grant, as ReadGrant renders
  // them (uuid as text); decision and reason are empty for grant records.
  return absl::StrCat("INSERT INTO cantdo.ledger (", kContentColumns, ") SELECT $", p, "::bigint, $", p + 1, ", $",
                      p + 2,
                      ", g.action, g.resource, g.parameters_hash, g.workflow_id, g.run_id, g.step, g.grant_id::text, "
                      "g.approval_id::text, '', '', g.policy_version, g.policy_hash, $",
                      p + 3, ", $", p + 4, " FROM ", grant_cte, " g");
}

absl::StatusOr<int64_t> Ledger::Append(pg::Connection& tx, const LedgerRecord& rec, absl::Time now) {
  Row r;
  r.time_us = absl::ToUnixMicros(now);
  r.kind = KindName(rec.kind);
  r.decision = DecisionName(rec.decision);
  CANTDO_ASSIGN_OR_RETURN(r.detail, CanonicalJson(DetailWithTrace(rec.detail)));
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result res,
      tx.Exec(absl::StrCat("INSERT INTO cantdo.ledger (", kContentColumns,
                           ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) RETURNING entry_id"),
              {pg::Int64Param(r.time_us), r.kind, rec.actor, rec.action, rec.resource, rec.parameters_hash,
               rec.workflow_id, rec.run_id, rec.step, rec.grant_id, rec.approval_id, r.decision, rec.reason,
               rec.policy_version, rec.policy_hash, r.detail,
               rec.acting_service.empty() ? DefaultActingService(rec.actor) : rec.acting_service}));
  return res.GetInt64(0, 0);
}

absl::StatusOr<int> Ledger::ChainPending(pg::Connection& conn, int limit) {
  return pg::RunInTransaction(conn, pg::TxOptions{}, [&](pg::Connection& tx) -> absl::StatusOr<int> {
    CANTDO_RETURN_IF_ERROR(tx.Exec("SELECT pg_advisory_xact_lock($1)", {pg::Int64Param(kLedgerLockKey)}).status());
    // Under the lock, and in READ COMMITTED, these statements see every
    // entry committed (pending or chained) before they run.
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result head,
        tx.Exec("SELECT sequence, hash FROM cantdo.ledger WHERE sequence IS NOT NULL ORDER BY sequence DESC LIMIT 1"));
    int64_t sequence = 0;
    std::string prev_hash = kGenesisHash;
    if (head.Rows() == 1) {
      CANTDO_ASSIGN_OR_RETURN(sequence, head.GetInt64(0, 0));
      CANTDO_ASSIGN_OR_RETURN(prev_hash, head.GetString(0, 1));
    }
    // Entries chained before the tree existed (V0014) join it first, oldest
    // first; from then on the tree grows with the chain, in its transaction.
    CANTDO_ASSIGN_OR_RETURN(const int64_t tree_size, LedgerTree::Size(tx));
    int backfilled = 0;
    if (tree_size < sequence) {
      CANTDO_ASSIGN_OR_RETURN(
          pg::Result old, tx.Exec(absl::StrCat("SELECT ", kColumns,
                                               " FROM cantdo.ledger WHERE sequence > $1 ORDER BY sequence LIMIT $2"),
                                  {pg::Int64Param(tree_size), pg::Int64Param(limit)}));
      CANTDO_ASSIGN_OR_RETURN(const RowReader old_reader, RowReader::Of(old));
      std::vector<tlog::Hash> leaves;
      for (int i = 0; i < old.Rows(); ++i) {
        CANTDO_ASSIGN_OR_RETURN(Row r, old_reader.Read(i));
        if (r.sequence != tree_size + i + 1) return absl::DataLossError("the ledger has a gap; the tree cannot grow");
        CANTDO_ASSIGN_OR_RETURN(std::string doc, DocumentOf(r));
        leaves.push_back(tlog::LeafHash(doc));
      }
      CANTDO_RETURN_IF_ERROR(LedgerTree::Append(tx, tree_size, leaves));
      backfilled = old.Rows();
      if (tree_size + backfilled < sequence || backfilled >= limit) return backfilled;
    }
    const int64_t chained_before = sequence;
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result pending,
        tx.Exec(absl::StrCat("SELECT entry_id, ", kColumns,
                             " FROM cantdo.ledger WHERE sequence IS NULL ORDER BY entry_id LIMIT $1"),
                {pg::Int64Param(limit - backfilled)}));
    if (pending.Rows() == 0) return backfilled;
    CANTDO_ASSIGN_OR_RETURN(const RowReader reader, RowReader::Of(pending));
    CANTDO_ASSIGN_OR_RETURN(const int entry_id_column, pending.ColumnIndex("entry_id"));
    // One UPDATE for the batch: arrays of entry ids, sequences, hashes.
    std::string ids = "{", seqs = "{", prevs = "{", hashes = "{";
    std::vector<tlog::Hash> leaves;
    for (int i = 0; i < pending.Rows(); ++i) {
      CANTDO_ASSIGN_OR_RETURN(int64_t entry_id, pending.GetInt64(i, entry_id_column));
      CANTDO_ASSIGN_OR_RETURN(Row r, reader.Read(i));
      r.sequence = ++sequence;
      r.prev_hash = prev_hash;
      CANTDO_ASSIGN_OR_RETURN(std::string doc, DocumentOf(r));
      r.hash = Sha256Hex(doc);
      leaves.push_back(tlog::LeafHash(doc));
      const char* sep = i == 0 ? "" : ",";
      absl::StrAppend(&ids, sep, entry_id);
      absl::StrAppend(&seqs, sep, r.sequence);
      absl::StrAppend(&prevs, sep, r.prev_hash);
      absl::StrAppend(&hashes, sep, r.hash);
      prev_hash = r.hash;
    }
    for (std::string* a : {&ids, &seqs, &prevs, &hashes}) a->push_back('}');
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result updated,
        tx.Exec(
            "UPDATE cantdo.ledger AS l SET sequence = v.sequence, prev_hash = v.prev_hash, hash = v.hash "
            "FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS v(entry_id, sequence, prev_hash, hash) "
            "WHERE l.entry_id = v.entry_id AND l.sequence IS NULL",
            {ids, seqs, prevs, hashes}));
    if (updated.CommandTuples() != pending.Rows()) {
      return absl::AbortedError("ledger entries changed while being chained");
    }
    CANTDO_RETURN_IF_ERROR(LedgerTree::Append(tx, chained_before, leaves));
    return backfilled + pending.Rows();
  });
}

absl::StatusOr<int64_t> Ledger::ChainAll(pg::Connection& conn) {
  constexpr int kBatch = 1000;
  // Bounded, so that a reader is not held forever behind a stream of new
  // entries: it needs those committed before it asked, which at most this
  // many batches cover in any realistic backlog.
  constexpr int kMaxBatches = 100;
  int64_t total = 0;
  for (int i = 0; i < kMaxBatches; ++i) {
    CANTDO_ASSIGN_OR_RETURN(int n, ChainPending(conn, kBatch));
    total += n;
    if (n < kBatch) break;
  }
  return total;
}

absl::StatusOr<common::v1::LedgerVerification> Ledger::Verify(pg::Connection& conn, int64_t start, int64_t end,
                                                              absl::Time now) {
  return VerifyChain(conn, start, end, now, nullptr);
}

absl::StatusOr<common::v1::LedgerVerification> Ledger::VerifyCheckpoint(
    pg::Connection& conn, const tlog::Checkpoint& checkpoint, absl::Time now,
    const std::vector<tlog::Hash>* published_leaves) {
  std::vector<tlog::Hash> leaves;
  CANTDO_ASSIGN_OR_RETURN(common::v1::LedgerVerification v, VerifyChain(conn, 0, 0, now, &leaves));
  if (!v.ok()) return v;  // the chain itself is broken: that is the first sequence affected
  const int64_t n = checkpoint.size;
  const int64_t head = static_cast<int64_t>(leaves.size());
  auto fail = [&](int64_t seq, common::v1::LedgerProblem problem, std::string message) {
    v.set_ok(false);
    v.set_first_bad_sequence(seq);
    v.set_problem(problem);
    v.set_message(std::move(message));
    return v;
  };
  if (head < n) {
    return fail(head + 1, common::v1::LEDGER_PROBLEM_TRUNCATED,
                absl::StrCat("the checkpoint covers ", n, " entries; the ledger has ", head, ": entry ", head + 1,
                             " onwards were removed"));
  }
  const tlog::NodeReader computed = tlog::LeafNodeReader(leaves);
  const tlog::NodeReader stored = LedgerTree::Reader(conn);
  CANTDO_ASSIGN_OR_RETURN(const int64_t tree_size, LedgerTree::Size(conn));
  auto root_of = [](int64_t size, const tlog::NodeReader& read) -> absl::StatusOr<tlog::Hash> {
    return tlog::TreeRoot(size, read);
  };
  if (n > 0) {
    CANTDO_ASSIGN_OR_RETURN(const tlog::Hash entries_root, root_of(n, computed));
    // The database's tree of the checkpoint's size; absent (a shorter
    // tree) counts as a different one.
    absl::StatusOr<tlog::Hash> stored_root =
        tree_size >= n ? root_of(n, stored) : absl::NotFoundError("the stored tree is shorter");
    const bool stored_ok = stored_root.ok() && *stored_root == checkpoint.root;
    if (entries_root != checkpoint.root) {
      // Located by the database's tree where its nodes still lead to the
      // checkpoint's root; where they do not (it was rebuilt to match the
      // edit), only the range below which they stop.
      tlog::LeafRange where{0, n};
      if (stored_ok) {
        CANTDO_ASSIGN_OR_RETURN(where, tlog::FirstDifference(n, checkpoint.root, stored, computed));
      } else if (published_leaves != nullptr && static_cast<int64_t>(published_leaves->size()) >= n) {
        // Leaves kept outside the database, believed once they lead to the
        // checkpoint's root.
        const std::vector<tlog::Hash> kept(published_leaves->begin(), published_leaves->begin() + n);
        CANTDO_ASSIGN_OR_RETURN(where, tlog::FirstDifference(n, checkpoint.root, tlog::LeafNodeReader(kept), computed));
      }
      if (where.exact()) {
        return fail(where.lo + 1, common::v1::LEDGER_PROBLEM_REWRITTEN,
                    absl::StrCat("entry ", where.lo + 1, " is not the entry checkpoint ", n,
                                 " covers: it was rewritten (and the chain after it recomputed)"));
      }
      return fail(where.lo + 1, common::v1::LEDGER_PROBLEM_REWRITTEN,
                  absl::StrCat("entries ", where.lo + 1, "..", where.hi, " no longer hash to checkpoint ", n,
                               "'s root, and the database's tree was rebuilt to match them, so the first changed "
                               "entry cannot be located from the database alone (give the checkpoint "
                               "directory's leaf-hashes to locate it)"));
    }
    if (!stored_ok) {
      tlog::LeafRange where{0, n};
      if (tree_size >= n) {
        CANTDO_ASSIGN_OR_RETURN(where, tlog::FirstDifference(n, checkpoint.root, computed, stored));
      } else {
        where = {tree_size, tree_size + 1};
      }
      return fail(where.lo + 1, common::v1::LEDGER_PROBLEM_FORKED,
                  absl::StrCat("the database serves a different tree of size ", n,
                               " than the checkpoint's (its entries still match the checkpoint): it departs at entry ",
                               where.lo + 1));
    }
  }
  // Beyond the checkpoint: the stored tree must still be the entries' tree,
  // or the proofs it serves for newer checkpoints would not be theirs.
  if (head > n && tree_size >= head) {
    CANTDO_ASSIGN_OR_RETURN(const tlog::Hash entries_root, root_of(head, computed));
    absl::StatusOr<tlog::Hash> stored_root = root_of(head, stored);
    if (!stored_root.ok() || *stored_root != entries_root) {
      tlog::LeafRange where{n, head};
      if (stored_root.ok()) {
        CANTDO_ASSIGN_OR_RETURN(where, tlog::FirstDifference(head, entries_root, computed, stored));
      }
      return fail(where.lo + 1, common::v1::LEDGER_PROBLEM_FORKED,
                  absl::StrCat("the database's tree is not the tree of its entries from entry ", where.lo + 1));
    }
  }
  v.set_checkpoint_size(n);
  return v;
}

absl::StatusOr<Ledger::Leaf> Ledger::ReadLeaf(pg::Connection& conn, int64_t sequence) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result res,
                          conn.Exec(absl::StrCat("SELECT ", kColumns, " FROM cantdo.ledger WHERE sequence = $1"),
                                    {pg::Int64Param(sequence)}));
  if (res.Rows() != 1) return absl::NotFoundError(absl::StrCat("no ledger entry ", sequence));
  CANTDO_ASSIGN_OR_RETURN(const RowReader reader, RowReader::Of(res));
  CANTDO_ASSIGN_OR_RETURN(Row r, reader.Read(0));
  Leaf leaf;
  CANTDO_ASSIGN_OR_RETURN(leaf.document, DocumentOf(r));
  leaf.entry = ToProto(r);
  return leaf;
}

absl::StatusOr<int64_t> Ledger::SequenceOf(pg::Connection& conn, int64_t entry_id) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result res, conn.Exec("SELECT sequence FROM cantdo.ledger WHERE entry_id = $1", {pg::Int64Param(entry_id)}));
  if (res.Rows() != 1) {
    return WithMetadata(WithReason(absl::NotFoundError(absl::StrCat("no ledger entry with entry_id ", entry_id)),
                                   "LEDGER_ENTRY_NOT_FOUND"),
                        "entry_id", absl::StrCat(entry_id));
  }
  if (res.IsNull(0, 0)) {
    return WithMetadata(FailedPrecondition("LEDGER_NOT_CHECKPOINTED",
                                           absl::StrCat("ledger entry ", entry_id,
                                                        " is not chained yet; ask again after the next checkpoint")),
                        "entry_id", absl::StrCat(entry_id));
  }
  return res.GetInt64(0, 0);
}

absl::StatusOr<std::vector<LedgerEntry>> Ledger::List(pg::Connection& conn, const common::v1::LedgerFilter& filter,
                                                      int64_t start_sequence, int limit) {
  std::string kinds;
  for (int k : filter.kinds()) {
    if (!kinds.empty()) kinds += ",";
    kinds += KindName(static_cast<common::v1::LedgerEventKind>(k));
  }
  const int64_t start_us = filter.has_start_time() ? Micros(filter.start_time()) : 0;
  const int64_t end_us = filter.has_end_time() ? Micros(filter.end_time()) : 0;
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result res,
      conn.Exec(
          absl::StrCat("SELECT ", kColumns,
                       " FROM cantdo.ledger WHERE sequence >= $1 "
                       "AND ($2 = '' OR workflow_id = $2) AND ($3 = '' OR grant_id = $3) "
                       "AND ($4 = '' OR approval_id = $4) AND ($5 = '' OR kind = ANY (string_to_array($5, ','))) "
                       "AND ($6::bigint = 0 OR time_us >= $6) AND ($7::bigint = 0 OR time_us < $7) "
                       "ORDER BY sequence LIMIT $8"),
          {pg::Int64Param(std::max<int64_t>(start_sequence, 1)), filter.workflow_id(), filter.grant_id(),
           filter.approval_id(), kinds, pg::Int64Param(start_us), pg::Int64Param(end_us), pg::Int64Param(limit)}));
  std::vector<LedgerEntry> out;
  if (res.Rows() == 0) return out;
  CANTDO_ASSIGN_OR_RETURN(const RowReader reader, RowReader::Of(res));
  for (int i = 0; i < res.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(Row r, reader.Read(i));
    out.push_back(ToProto(r));
  }
  return out;
}

}  // namespace cantdo::authority
