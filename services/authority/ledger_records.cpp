#include "authority/ledger_records.hpp"

namespace cantdo::authority {

LedgerRecord GrantRecord(common::v1::LedgerEventKind kind, const std::string& actor, const common::v1::Grant& g) {
  LedgerRecord rec;
  rec.kind = kind;
  rec.actor = actor;
  rec.action = g.action();
  rec.resource = g.resource();
  rec.parameters_hash = g.parameters_hash();
  rec.workflow_id = g.workflow_id();
  rec.run_id = g.run_id();
  rec.step = g.step();
  rec.grant_id = g.grant_id();
  rec.approval_id = g.approval_id();
  rec.policy_version = g.policy_version();
  rec.policy_hash = g.policy_hash();
  return rec;
}

LedgerRecord ApprovalRecord(common::v1::LedgerEventKind kind, const std::string& actor, const common::v1::Approval& a) {
  LedgerRecord rec;
  rec.kind = kind;
  rec.actor = actor;
  rec.action = a.action().action();
  rec.resource = a.action().resource();
  rec.parameters_hash = a.parameters_hash();
  rec.workflow_id = a.action().workflow_id();
  rec.run_id = a.action().run_id();
  rec.step = a.action().step();
  rec.approval_id = a.approval_id();
  rec.grant_id = a.grant_id();
  rec.policy_version = a.policy_version();
  rec.policy_hash = a.policy_hash();
  return rec;
}

}  // namespace cantdo::authority
