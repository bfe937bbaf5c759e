#include "gateway/run_grants.hpp"

#include <set>

#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::gateway {

namespace av1 = authority::v1;
namespace cv1 = common::v1;

absl::StatusOr<std::vector<std::string>> RunGrants::Unconsumed(const std::string& workflow_id,
                                                               const std::string& run_id) const {
  std::vector<std::string> issued;  // in issue order
  std::set<std::string> done;
  av1::ListLedgerEntriesRequest list;
  list.set_page_size(1000);
  list.mutable_filter()->set_workflow_id(workflow_id);
  for (auto kind : {cv1::LEDGER_EVENT_KIND_GRANT_ISSUED, cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED,
                    cv1::LEDGER_EVENT_KIND_GRANT_REVOKED, cv1::LEDGER_EVENT_KIND_GRANT_EXPIRED}) {
    list.mutable_filter()->add_kinds(kind);
  }
  do {
    CANTDO_ASSIGN_OR_RETURN(av1::ListLedgerEntriesResponse page, authority_.ListLedgerEntries(list));
    for (const cv1::LedgerEntry& e : page.entries()) {
      if (e.run_id() != run_id || e.grant_id().empty()) continue;
      if (e.kind() == cv1::LEDGER_EVENT_KIND_GRANT_ISSUED) {
        issued.push_back(e.grant_id());
      } else {
        done.insert(e.grant_id());
      }
    }
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  std::vector<std::string> out;
  for (auto& id : issued) {
    if (!done.count(id)) out.push_back(std::move(id));
  }
  return out;
}

absl::Status RunGrants::Revoke(const std::string& grant_id, const std::string& reason,
                               const std::string& on_behalf_of) const {
  av1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant_id);
  revoke.set_reason(reason.substr(0, 1024));
  revoke.set_on_behalf_of(on_behalf_of);
  auto revoked = authority_.RevokeGrant(revoke);
  if (revoked.ok()) return absl::OkStatus();
  const std::string why = GetReason(revoked.status()).value_or("");
  if (why == "GRANT_ALREADY_CONSUMED" || why == "GRANT_EXPIRED") return absl::OkStatus();  // nothing left to stop
  return revoked.status();
}

absl::StatusOr<int> RunGrants::RevokeAll(const std::string& workflow_id, const std::string& run_id,
                                         const std::string& reason, const std::string& on_behalf_of) const {
  CANTDO_ASSIGN_OR_RETURN(std::vector<std::string> grants, Unconsumed(workflow_id, run_id));
  absl::Status first;
  int revoked = 0;
  for (const std::string& grant_id : grants) {
    if (absl::Status st = Revoke(grant_id, reason, on_behalf_of); !st.ok()) {
      log::Warn("grant of a cancelled run not revoked",
                {{"workflow_id", workflow_id}, {"run_id", run_id}, {"grant_id", grant_id}, {"error", st.ToString()}});
      if (first.ok()) first = st;
      continue;
    }
    ++revoked;
  }
  if (!first.ok()) return first;
  return revoked;
}

}  // namespace cantdo::gateway
