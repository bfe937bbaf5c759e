#pragma once
// The ledger entries the authority writes about a grant or an approval:
// every binding field copied from it, so an auditor can follow one grant
// or one approval through the ledger.

#include <string>

#include "authority/ledger.hpp"
#include "cantdo/common/v1/authorization.pb.h"

namespace cantdo::authority {

LedgerRecord GrantRecord(common::v1::LedgerEventKind kind, const std::string& actor, const common::v1::Grant& g);
LedgerRecord ApprovalRecord(common::v1::LedgerEventKind kind, const std::string& actor, const common::v1::Approval& a);

}  // namespace cantdo::authority
