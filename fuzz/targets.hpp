#pragma once
// The fuzz targets (docs/fuzzing.md). Each runs what a service runs on one
// untrusted input: a request message's bytes parsed as the service's gRPC
// layer parses them, then the edge validation and the pure processing that
// follows it (canonicalising and hashing parameters, the gateway's
// forwarding to the authority), or the text the JWT/JWKS parsers and
// canonical JSON receive.
//
// A target returns normally for every input. A finding is a crash, a
// sanitizer report, or a broken invariant, which aborts with a message
// (Fail): a refusal without a reason or field, a request the gateway
// accepts but the authority would refuse, canonical JSON that is not
// stable under re-canonicalisation.
//
// The same functions run in the unit tests (tests/unit/fuzz) over every
// seed and every past finding, with the regular build's sanitizers.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cantdo::fuzz {

struct Target {
  const char* name;  // also the directory of its seeds: fuzz/seeds/<name>/
  void (*run)(std::string_view input);
  // The full name of the protobuf message the input is, whose seeds are
  // text-format files (*.textproto); empty for targets that take raw text.
  const char* message;
};

const std::vector<Target>& AllTargets();
const Target* FindTarget(std::string_view name);

// The bytes a seed file stands for: for a target that takes a message, the
// file is that message in protobuf text format and this is its binary
// encoding; for a raw target, the file's bytes. INVALID_ARGUMENT if the
// text does not parse as the message.
absl::StatusOr<std::string> EncodeSeed(const Target& target, std::string_view file_contents);

// Aborts with `what` and the status: a finding.
[[noreturn]] void Fail(std::string_view what, const absl::Status& status = absl::OkStatus());

// What every refusal at an edge must be: INVALID_ARGUMENT or
// PERMISSION_DENIED with a reason, INVALID_FIELD with a non-empty `field`.
void CheckRefusal(const absl::Status& status);

// The targets, by area (registered in targets.cpp).
void AuthorityRequestApproval(std::string_view input);
void AuthorityGetApproval(std::string_view input);
void AuthorityCompleteApproval(std::string_view input);
void AuthorityClaimGrant(std::string_view input);
void AuthorityConsumeGrant(std::string_view input);
void AuthorityRevokeGrant(std::string_view input);
void AuthorityListLedgerEntries(std::string_view input);
void AuthorityVerifyLedger(std::string_view input);
void AuthorityGetPolicy(std::string_view input);

void GatewayRequestAuthorization(std::string_view input);
void GatewayGetAuthorization(std::string_view input);
void GatewayClaimGrant(std::string_view input);
void GatewayConsumeGrant(std::string_view input);
void GatewayListLedgerEntries(std::string_view input);
void GatewayVerifyLedger(std::string_view input);
void GatewayStartWorkflow(std::string_view input);
void GatewayGetWorkflow(std::string_view input);
void GatewayListWorkflows(std::string_view input);
void GatewayGetWorkflowHistory(std::string_view input);
void GatewayWatchWorkflow(std::string_view input);
void GatewaySignalWorkflow(std::string_view input);
void GatewayCancelWorkflow(std::string_view input);

void AuthJwks(std::string_view input);
void AuthJwt(std::string_view input);

void BaseCanonicalJson(std::string_view input);

}  // namespace cantdo::fuzz
