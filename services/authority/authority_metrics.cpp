#include "authority/authority_metrics.hpp"

#include <chrono>
#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "authority/grant_store.hpp"
#include "authority/ledger_checkpointer.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/runtime/database_collector.hpp"

namespace cantdo::authority {
namespace {

namespace cv1 = common::v1;
using metrics::CollectedFamily;
using metrics::MetricType;

constexpr std::string_view kOther = "other";

// The reasons a claim and a consume are refused for (grants.cpp, ClaimRefusal
// and ConsumeRefusal). Anything else counts as "other", so the label set
// stays closed even if a new reason slips in without being added here.
constexpr std::string_view kClaimDenialReasons[] = {
    "GRANT_NOT_FOUND",     "GRANT_PRINCIPAL_MISMATCH",  "GRANT_ACTION_MISMATCH",  "GRANT_WORKFLOW_MISMATCH",
    "GRANT_STEP_MISMATCH", "GRANT_PARAMETERS_MISMATCH", "GRANT_ALREADY_CONSUMED", "GRANT_REVOKED",
    "GRANT_EXPIRED",       "GRANT_ALREADY_CLAIMED"};
constexpr std::string_view kConsumeDenialReasons[] = {"GRANT_NOT_FOUND",        "GRANT_PRINCIPAL_MISMATCH",
                                                      "GRANT_ALREADY_CONSUMED", "GRANT_REVOKED",
                                                      "GRANT_NOT_CLAIMED",      "GRANT_EXPIRED"};

bool IsGrantDenialReason(std::string_view reason) {
  for (std::string_view r : kClaimDenialReasons) {
    if (r == reason) return true;
  }
  for (std::string_view r : kConsumeDenialReasons) {
    if (r == reason) return true;
  }
  return false;
}

std::string DecisionName(cv1::Decision d) {
  const std::string& full = cv1::Decision_Name(d);
  return absl::StartsWith(full, "DECISION_") ? full.substr(9) : full;
}

// The credential kinds a grant may release, as stored (CredentialKindName).
std::vector<std::string> CredentialKinds() {
  std::vector<std::string> kinds;
  const auto* d = cv1::ExecutionCredentialKind_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    const auto kind = static_cast<cv1::ExecutionCredentialKind>(d->value(i)->number());
    if (kind != cv1::EXECUTION_CREDENTIAL_KIND_UNSPECIFIED) kinds.push_back(CredentialKindName(kind));
  }
  return kinds;
}

absl::StatusOr<int64_t> Int64Or(const pg::Result& r, int row, int column, int64_t fallback) {
  CANTDO_ASSIGN_OR_RETURN(std::optional<std::string> text, r.GetOptionalString(row, column));
  if (!text) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(*text, &v)) return absl::InternalError(absl::StrCat("not an integer: ", *text));
  return v;
}

double AgeSeconds(absl::Time now, int64_t since_us) {
  return std::max(0.0, absl::ToDoubleSeconds(now - absl::FromUnixMicros(since_us)));
}

}  // namespace

AuthorityMetrics::AuthorityMetrics(metrics::Registry& r, const Policy& policy, Clock& clock)
    : denials_by_principal_(clock),
      decisions_(r.AddCounterFamily("cantdo_authority_decisions_total",
                                    "Policy decisions recorded in the ledger, by action and decision (ALLOW, DENY, "
                                    "REQUIRE_APPROVAL).",
                                    {"action", "decision"})),
      approvals_decided_(r.AddCounterFamily("cantdo_authority_approvals_decided_total",
                                            "Approvals closed, by action and outcome (APPROVED, DENIED, EXPIRED, "
                                            "INVALID).",
                                            {"action", "outcome"})),
      asked_again_(r.AddCounter("cantdo_authority_approvals_asked_again_total",
                                "Approvers asked again after the identity provider ended a request undecided.")),
      grant_denials_(r.AddCounterFamily("cantdo_authority_grant_denials_total",
                                        "Grant claims and consumes refused, by operation (claim, consume) and reason.",
                                        {"operation", "reason"})),
      chain_failures_(r.AddCounter("cantdo_authority_ledger_chain_failures_total",
                                   "Background ledger chaining passes that failed.")),
      checkpoints_(r.AddCounter("cantdo_authority_ledger_checkpoints_total",
                                "Ledger checkpoints signed and written by this replica.")),
      checkpoint_failures_(r.AddCounterFamily("cantdo_authority_ledger_checkpoint_failures_total",
                                              "Ledger checkpoint attempts that failed, by status code; DATA_LOSS: "
                                              "the database's history no longer extends the last checkpoint.",
                                              {"code"})),
      clock_(clock) {
  for (const auto& rule : policy.proto().rules()) {
    actions_.insert(rule.action());
    if (!rule.required_role().empty()) roles_.insert(rule.required_role());
  }
  auto& transitions = r.AddCounterFamily("cantdo_authority_grant_transitions_total",
                                         "Grant state changes, by transition (issued, claimed, reclaimed, consumed, "
                                         "revoked, expired).",
                                         {"transition"});
  static constexpr std::string_view kNames[] = {"issued", "claimed", "reclaimed", "consumed", "revoked", "expired"};
  for (int i = 0; i < 6; ++i) transitions_[i] = &transitions.Labels({kNames[i]});
  // Every decision and outcome of every action the policy names, at zero:
  // an alert's rate() then starts from the first event, not the second.
  for (const auto& action : actions_) {
    for (std::string_view d : {"ALLOW", "DENY", "REQUIRE_APPROVAL"}) decisions_.Labels({action, d});
  }
  for (const auto& rule : policy.proto().rules()) {
    if (rule.decision() != cv1::DECISION_REQUIRE_APPROVAL) continue;
    for (std::string_view o : {"APPROVED", "DENIED", "EXPIRED", "INVALID"}) {
      approvals_decided_.Labels({rule.action(), o});
    }
  }
  for (std::string_view reason : kClaimDenialReasons) grant_denials_.Labels({"claim", reason});
  for (std::string_view reason : kConsumeDenialReasons) grant_denials_.Labels({"consume", reason});
}

std::string_view AuthorityMetrics::ActionLabel(const std::string& action) const {
  auto it = actions_.find(action);
  return it == actions_.end() ? kOther : std::string_view(*it);
}

std::string_view AuthorityMetrics::RoleLabel(const std::string& role) const {
  auto it = roles_.find(role);
  return it == roles_.end() ? kOther : std::string_view(*it);
}

void AuthorityMetrics::Decided(const std::string& action, cv1::Decision decision) {
  const std::string name = DecisionName(decision);
  decisions_.Labels({ActionLabel(action), name}).Inc();
}

void AuthorityMetrics::ApprovalClosed(const std::string& action, std::string_view outcome) {
  approvals_decided_.Labels({ActionLabel(action), outcome}).Inc();
}

void AuthorityMetrics::GrantDenied(std::string_view operation, std::string_view reason, const std::string& principal) {
  const std::string_view op = operation == "claim" || operation == "consume" ? operation : kOther;
  grant_denials_.Labels({op, IsGrantDenialReason(reason) ? reason : kOther}).Inc();
  denials_by_principal_.Record(principal);
}

void AuthorityMetrics::LedgerCheckpointFailed(absl::StatusCode code) {
  checkpoint_failures_.Labels({absl::StatusCodeToString(code)}).Inc();
}

void AuthorityMetrics::AddCollectors(metrics::Registry& registry, pg::Pool& pool,
                                     const LedgerCheckpointer* checkpointer) {
  registry.AddCollector([this](std::vector<CollectedFamily>& out) {
    const DenialWindow::Peak peak = denials_by_principal_.Read();
    const std::string window = absl::StrCat(absl::ToInt64Minutes(denials_by_principal_.window()), " minutes");
    out.push_back(CollectedFamily{
        "cantdo_authority_grant_denials_max_per_principal",
        absl::StrCat("The most grant claims and consumes refused for one principal in the "
                     "last ",
                     window, ", on this replica."),
        MetricType::kGauge,
        {},
        {}}.Add({}, static_cast<double>(peak.max_per_principal)));
    out.push_back(CollectedFamily{
        "cantdo_authority_grant_denied_principals",
        absl::StrCat("Principals refused a grant claim or consume in the last ", window, ", on this replica."),
        MetricType::kGauge,
        {},
        {}}.Add({}, static_cast<double>(peak.principals)));
  });

  runtime::AddDatabaseCollector(
      registry, pool, "authority",
      [this, checkpointer](pg::Connection& tx, std::vector<CollectedFamily>& out) -> absl::Status {
        const absl::Time now = clock_.Now();
        // Approvals waiting for a human, per role the policy names (zero
        // included, so a role's series never disappears).
        std::map<std::string, std::pair<int64_t, int64_t>, std::less<>> pending;  // role -> (count, oldest us)
        for (const auto& role : roles_) pending[role] = {0, 0};
        CANTDO_ASSIGN_OR_RETURN(
            pg::Result a,
            tx.Exec("SELECT required_role, count(*), (extract(epoch FROM min(create_time)) * 1000000)::bigint"
                    " FROM cantdo.approvals WHERE state = 'PENDING' GROUP BY required_role"));
        for (int i = 0; i < a.Rows(); ++i) {
          CANTDO_ASSIGN_OR_RETURN(std::string role, a.GetString(i, 0));
          CANTDO_ASSIGN_OR_RETURN(int64_t n, a.GetInt64(i, 1));
          CANTDO_ASSIGN_OR_RETURN(int64_t oldest, a.GetInt64(i, 2));
          auto& [count, first] = pending[std::string(RoleLabel(role))];
          first = count == 0 ? oldest : std::min(first, oldest);
          count += n;
        }
        CollectedFamily count{"cantdo_authority_approvals_pending",
                              "Approvals waiting for an approver's decision, by the role they require.",
                              MetricType::kGauge,
                              {"required_role"},
                              {}};
        CollectedFamily age{"cantdo_authority_approvals_oldest_pending_age_seconds",
                            "Age of the oldest approval waiting for a decision, by required role; 0 when none waits.",
                            MetricType::kGauge,
                            {"required_role"},
                            {}};
        for (const auto& [role, v] : pending) {
          count.Add({role}, static_cast<double>(v.first));
          age.Add({role}, v.first == 0 ? 0 : AgeSeconds(now, v.second));
        }
        out.push_back(std::move(count));
        out.push_back(std::move(age));

        std::map<std::string, int64_t, std::less<>> live;
        for (const auto& kind : CredentialKinds()) live[kind] = 0;
        CANTDO_ASSIGN_OR_RETURN(pg::Result c, tx.Exec("SELECT credential_kind, count(*) FROM cantdo.grants"
                                                      " WHERE credential_handle IS NOT NULL GROUP BY credential_kind"));
        for (int i = 0; i < c.Rows(); ++i) {
          CANTDO_ASSIGN_OR_RETURN(std::string kind, c.GetString(i, 0));
          CANTDO_ASSIGN_OR_RETURN(int64_t n, c.GetInt64(i, 1));
          live[live.count(kind) ? kind : std::string(kOther)] += n;
        }
        CollectedFamily credentials{"cantdo_authority_credentials_live",
                                    "Execution credentials released by a claim and not destroyed yet, by kind.",
                                    MetricType::kGauge,
                                    {"kind"},
                                    {}};
        for (const auto& [kind, n] : live) credentials.Add({kind}, static_cast<double>(n));
        out.push_back(std::move(credentials));

        CANTDO_ASSIGN_OR_RETURN(pg::Result p,
                                tx.Exec("SELECT count(*), min(time_us) FROM cantdo.ledger WHERE sequence IS NULL"));
        CANTDO_ASSIGN_OR_RETURN(int64_t unchained, p.GetInt64(0, 0));
        CANTDO_ASSIGN_OR_RETURN(int64_t oldest_unchained, Int64Or(p, 0, 1, 0));
        CANTDO_ASSIGN_OR_RETURN(pg::Result h, tx.Exec("SELECT max(sequence) FROM cantdo.ledger"));
        CANTDO_ASSIGN_OR_RETURN(int64_t chained, Int64Or(h, 0, 0, 0));
        auto gauge = [&](const char* name, const char* help, double v) {
          out.push_back(CollectedFamily{name, help, MetricType::kGauge, {}, {}}.Add({}, v));
        };
        gauge("cantdo_authority_ledger_pending_entries",
              "Ledger entries committed but not hash-chained yet (the chainer runs every --ledger-chain-interval).",
              static_cast<double>(unchained));
        gauge("cantdo_authority_ledger_oldest_pending_age_seconds",
              "Age of the oldest ledger entry not hash-chained yet; 0 when all are.",
              unchained == 0 ? 0 : AgeSeconds(now, oldest_unchained));
        gauge("cantdo_authority_ledger_chained_entries", "Ledger entries hash-chained (the head's sequence).",
              static_cast<double>(chained));

        if (checkpointer != nullptr) {
          const int64_t covered = checkpointer->Latest().size;
          gauge("cantdo_authority_ledger_checkpoint_entries", "Ledger entries the newest signed checkpoint covers.",
                static_cast<double>(covered));
          std::error_code ec;
          const auto written =
              std::filesystem::last_write_time(checkpointer->dir() + "/" + LedgerCheckpointer::kFileName, ec);
          if (!ec) {
            const auto since = std::chrono::file_clock::to_sys(written);
            gauge("cantdo_authority_ledger_checkpoint_age_seconds",
                  "Seconds since the newest checkpoint was written to the checkpoint directory (any replica).",
                  std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now() - since).count()));
          }
          double uncovered_age = 0;
          if (chained > covered) {
            CANTDO_ASSIGN_OR_RETURN(pg::Result e, tx.Exec("SELECT time_us FROM cantdo.ledger WHERE sequence = $1",
                                                          {pg::Int64Param(covered + 1)}));
            if (e.Rows() == 1) {
              CANTDO_ASSIGN_OR_RETURN(int64_t t, e.GetInt64(0, 0));
              uncovered_age = AgeSeconds(now, t);
            }
          }
          gauge("cantdo_authority_ledger_uncheckpointed_oldest_age_seconds",
                "Age of the oldest chained ledger entry no signed checkpoint covers yet; 0 when all are covered.",
                uncovered_age);
        }
        return absl::OkStatus();
      });
}

}  // namespace cantdo::authority
