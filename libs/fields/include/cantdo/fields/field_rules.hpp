#pragma once
// The field rules of the public API, shared by every edge that receives
// them (the gateway's and the authority's handlers), so a field means the
// same thing wherever it arrives. Each check returns OK, or
// INVALID_ARGUMENT with reason INVALID_FIELD and metadata `field` = the
// `field` it was given (a path in proto field names, e.g. "filter.kinds[2]"),
// the message saying what is wrong. docs/api.md and the proto comments state
// the same rules.
//
// Pure functions over values: no I/O, no clock; each is fuzzed (fuzz/).

#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cantdo/common/v1/authorization.pb.h"

namespace cantdo::fields {

// Identifiers are at most this long unless a field says otherwise.
inline constexpr std::size_t kMaxIdLength = 256;
// ActionRef.workflow_id, run_id, step; LedgerFilter.workflow_id.
inline constexpr std::size_t kMaxWorkflowIdLength = 255;
inline constexpr std::size_t kMaxRunIdLength = 64;
inline constexpr std::size_t kMaxStepLength = 128;
inline constexpr std::size_t kMaxActionLength = 128;
inline constexpr std::size_t kMinActionLength = 3;
// LedgerFilter.kinds: more entries than kinds exist say nothing more.
inline constexpr int kMaxLedgerKinds = 64;
// RequestApproval / RequestAuthorization approval_timeout.
inline constexpr absl::Duration kMinApprovalTimeout = absl::Minutes(1);
inline constexpr absl::Duration kMaxApprovalTimeout = absl::Hours(7 * 24);

// `required`: empty is refused; otherwise empty is OK.
// At most `max` bytes of printable ASCII (0x20-0x7e).
absl::Status RequirePrintableAscii(absl::string_view value, absl::string_view field, bool required, std::size_t max);
// At most `max` bytes of UTF-8 on one line: no control character (C0, DEL).
absl::Status RequireSingleLine(absl::string_view value, absl::string_view field, bool required, std::size_t max);
// At most `max` bytes of UTF-8 text: no control character but tab, line
// feed and carriage return (PostgreSQL cannot store NUL; libpq would cut
// the value at it).
absl::Status RequireText(absl::string_view value, absl::string_view field, bool required, std::size_t max);
// A UUID in its 36-character text form (server-made ids: approvals, grants).
absl::Status RequireUuid(absl::string_view value, absl::string_view field, bool required);
// 64 lowercase hex digits (a SHA-256).
absl::Status RequireSha256Hex(absl::string_view value, absl::string_view field);
// An action name: 3-128 characters matching ^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$.
absl::Status RequireActionName(absl::string_view value, absl::string_view field);

// A google.protobuf.Timestamp within its documented range (0001-01-01 to
// 9999-12-31 UTC, nanos 0-999,999,999).
absl::Status RequireTimestamp(const google::protobuf::Timestamp& value, absl::string_view field);
// The Timestamp as absl::Time. REQUIRES: RequireTimestamp(value) is OK.
absl::Time ToTime(const google::protobuf::Timestamp& value);
// A google.protobuf.Duration in its documented range (±10,000 years, nanos
// with the sign of seconds) and within [min, max].
absl::Status RequireDurationWithin(const google::protobuf::Duration& value, absl::string_view field, absl::Duration min,
                                   absl::Duration max);

// Which ActionRef binding fields a caller must set.
enum class ActionBinding {
  kOptional,  // none (the gateway acting for others; a claim presents what it has)
  kPlatform,  // workflow_id and step (an agent platform's own reference)
  kWorkflow,  // workflow_id, run_id and step (a cantdo workflow's step)
};

// ActionRef (authorization.proto): action name, resource (printable ASCII,
// at most 256), workflow_id (printable ASCII, at most 255), run_id (at most
// 64), step (at most 128), parameters (parameters.hpp). `field` is the
// ActionRef's own path, e.g. "action".
absl::Status ValidateActionRef(const common::v1::ActionRef& action, absl::string_view field, ActionBinding binding);

// LedgerFilter: workflow_id as in ActionRef, grant_id and approval_id UUIDs,
// each kind a known LedgerEventKind other than UNSPECIFIED (at most 64),
// start_time and end_time valid Timestamps with end after start.
absl::Status ValidateLedgerFilter(const common::v1::LedgerFilter& filter, absl::string_view field);

// The fields ListLedgerEntries has at the gateway and the authority:
// page_size and start_sequence not negative, the filter (field "filter")
// valid. page_token is each edge's own.
absl::Status ValidateLedgerQuery(int page_size, int64_t start_sequence, const common::v1::LedgerFilter& filter);
// VerifyLedger's range: start_sequence and end_sequence not negative, end
// (0: the head) not before start.
absl::Status ValidateLedgerRange(int64_t start_sequence, int64_t end_sequence);

}  // namespace cantdo::fields
