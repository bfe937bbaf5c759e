#include "cantdo/fields/field_rules.hpp"

#include <cctype>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/fields/parameters.hpp"

namespace cantdo::fields {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kNanosPerSecond = 1000000000;
constexpr std::size_t kUuidLength = 36;

bool Control(unsigned char c) { return c < 0x20 || c == 0x7f; }
bool LowerAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool Digit(char c) { return c >= '0' && c <= '9'; }

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return InvalidArgument(field, absl::StrCat(field, " ", what));
}

// Empty when required, or too long.
absl::Status Presence(absl::string_view value, absl::string_view field, bool required, std::size_t max) {
  if (value.empty()) return required ? Invalid(field, "is required") : absl::OkStatus();
  if (value.size() > max) return Invalid(field, absl::StrCat("has more than ", max, " bytes"));
  return absl::OkStatus();
}

}  // namespace

absl::Status RequirePrintableAscii(absl::string_view value, absl::string_view field, bool required, std::size_t max) {
  CANTDO_RETURN_IF_ERROR(Presence(value, field, required, max));
  for (unsigned char c : value) {
    if (c < 0x20 || c > 0x7e) return Invalid(field, "must be printable ASCII");
  }
  return absl::OkStatus();
}

absl::Status RequireSingleLine(absl::string_view value, absl::string_view field, bool required, std::size_t max) {
  CANTDO_RETURN_IF_ERROR(Presence(value, field, required, max));
  for (unsigned char c : value) {
    if (Control(c)) return Invalid(field, "must not contain control characters");
  }
  return absl::OkStatus();
}

absl::Status RequireText(absl::string_view value, absl::string_view field, bool required, std::size_t max) {
  CANTDO_RETURN_IF_ERROR(Presence(value, field, required, max));
  for (unsigned char c : value) {
    if (Control(c) && c != '\t' && c != '\n' && c != '\r') {
      return Invalid(field, "must not contain control characters other than tab and line breaks");
    }
  }
  return absl::OkStatus();
}

absl::Status RequireUuid(absl::string_view value, absl::string_view field, bool required) {
  if (value.empty()) return required ? Invalid(field, "is required") : absl::OkStatus();
  bool ok = value.size() == kUuidLength;
  for (std::size_t i = 0; ok && i < value.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    ok = dash ? value[i] == '-' : std::isxdigit(static_cast<unsigned char>(value[i])) != 0;
  }
  return ok ? absl::OkStatus() : Invalid(field, "must be a UUID");
}

absl::Status RequireSha256Hex(absl::string_view value, absl::string_view field) {
  bool ok = value.size() == 64;
  for (std::size_t i = 0; ok && i < value.size(); ++i) ok = Digit(value[i]) || (value[i] >= 'a' && value[i] <= 'f');
  return ok ? absl::OkStatus() : Invalid(field, "must be a lowercase hex SHA-256 (64 characters)");
}

absl::Status RequireActionName(absl::string_view value, absl::string_view field) {
  if (value.empty()) return Invalid(field, "is required");
  // ^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$, without std::regex's recursion.
  bool ok = value.size() >= kMinActionLength && value.size() <= kMaxActionLength;
  int dots = 0;
  bool word_start = true;
  for (std::size_t i = 0; ok && i < value.size(); ++i) {
    const char c = value[i];
    if (word_start) {
      ok = LowerAlpha(c);
      word_start = false;
    } else if (c == '.') {
      ++dots;
      word_start = true;
    } else {
      ok = LowerAlpha(c) || Digit(c) || c == '_';
    }
  }
  ok = ok && dots > 0 && !word_start;
  return ok ? absl::OkStatus()
            : Invalid(field, "must be 3-128 characters of dot-separated lowercase words, e.g. refund.issue");
}

absl::Status RequireTimestamp(const google::protobuf::Timestamp& value, absl::string_view field) {
  if (value.seconds() < TimeUtil::kTimestampMinSeconds || value.seconds() > TimeUtil::kTimestampMaxSeconds ||
      value.nanos() < 0 || value.nanos() >= kNanosPerSecond) {
    return Invalid(field, "must be a time between 0001-01-01 and 9999-12-31 UTC with nanos in [0, 999999999]");
  }
  return absl::OkStatus();
}

absl::Time ToTime(const google::protobuf::Timestamp& value) {
  return absl::FromUnixSeconds(value.seconds()) + absl::Nanoseconds(value.nanos());
}

absl::Status RequireDurationWithin(const google::protobuf::Duration& value, absl::string_view field, absl::Duration min,
                                   absl::Duration max) {
  const bool sign_ok = (value.seconds() >= 0 && value.nanos() >= 0) || (value.seconds() <= 0 && value.nanos() <= 0);
  if (value.seconds() < TimeUtil::kDurationMinSeconds || value.seconds() > TimeUtil::kDurationMaxSeconds ||
      value.nanos() <= -kNanosPerSecond || value.nanos() >= kNanosPerSecond || !sign_ok) {
    return Invalid(field, "is not a valid duration (nanos in (-1s, 1s) with the sign of seconds)");
  }
  const absl::Duration d = absl::Seconds(value.seconds()) + absl::Nanoseconds(value.nanos());
  if (d < min || d > max) {
    return Invalid(field,
                   absl::StrCat("must be between ", absl::FormatDuration(min), " and ", absl::FormatDuration(max)));
  }
  return absl::OkStatus();
}

absl::Status ValidateActionRef(const common::v1::ActionRef& a, absl::string_view field, ActionBinding binding) {
  const std::string f(field);
  const bool workflow = binding == ActionBinding::kWorkflow;
  const bool named = binding != ActionBinding::kOptional;
  CANTDO_RETURN_IF_ERROR(RequireActionName(a.action(), f + ".action"));
  CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(a.resource(), f + ".resource", false, kMaxIdLength));
  CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(a.workflow_id(), f + ".workflow_id", named, kMaxWorkflowIdLength));
  CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(a.run_id(), f + ".run_id", workflow, kMaxRunIdLength));
  CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(a.step(), f + ".step", named, kMaxStepLength));
  return CanonicaliseParameters(a.parameters(), f + ".parameters").status();
}

absl::Status ValidateLedgerFilter(const common::v1::LedgerFilter& filter, absl::string_view field) {
  const std::string f(field);
  CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(filter.workflow_id(), f + ".workflow_id", false, kMaxWorkflowIdLength));
  CANTDO_RETURN_IF_ERROR(RequireUuid(filter.grant_id(), f + ".grant_id", false));
  CANTDO_RETURN_IF_ERROR(RequireUuid(filter.approval_id(), f + ".approval_id", false));
  if (filter.kinds_size() > kMaxLedgerKinds) {
    return Invalid(f + ".kinds", absl::StrCat("has more than ", kMaxLedgerKinds, " entries"));
  }
  for (int i = 0; i < filter.kinds_size(); ++i) {
    const int kind = filter.kinds(i);
    if (!common::v1::LedgerEventKind_IsValid(kind) || kind == common::v1::LEDGER_EVENT_KIND_UNSPECIFIED) {
      return Invalid(absl::StrCat(f, ".kinds[", i, "]"), absl::StrCat("is not a ledger event kind (", kind, ")"));
    }
  }
  if (filter.has_start_time()) CANTDO_RETURN_IF_ERROR(RequireTimestamp(filter.start_time(), f + ".start_time"));
  if (filter.has_end_time()) CANTDO_RETURN_IF_ERROR(RequireTimestamp(filter.end_time(), f + ".end_time"));
  if (filter.has_start_time() && filter.has_end_time() && ToTime(filter.end_time()) <= ToTime(filter.start_time())) {
    return Invalid(f + ".end_time", "must be after start_time");
  }
  return absl::OkStatus();
}

absl::Status ValidateLedgerQuery(int page_size, int64_t start_sequence, const common::v1::LedgerFilter& filter) {
  if (page_size < 0) return Invalid("page_size", "must not be negative");
  if (start_sequence < 0) return Invalid("start_sequence", "must not be negative");
  return ValidateLedgerFilter(filter, "filter");
}

absl::Status ValidateLedgerRange(int64_t start_sequence, int64_t end_sequence) {
  if (start_sequence < 0) return Invalid("start_sequence", "must not be negative");
  if (end_sequence < 0) return Invalid("end_sequence", "must not be negative");
  if (end_sequence != 0 && end_sequence < start_sequence) {
    return Invalid("end_sequence", "must not be before start_sequence (0: the head)");
  }
  return absl::OkStatus();
}

}  // namespace cantdo::fields
