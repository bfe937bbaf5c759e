#include "cantdo/workflow/failure.hpp"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/workflow/activity_context.hpp"

namespace cantdo::workflow {

namespace {
constexpr absl::string_view kNonRetryablePayload = "cantdo.dev/workflow.non_retryable";
}

absl::Status NonRetryable(absl::Status status) {
  status.SetPayload(kNonRetryablePayload, absl::Cord("1"));
  return status;
}

bool IsNonRetryable(const absl::Status& status) { return status.GetPayload(kNonRetryablePayload).has_value(); }

std::string FailureType(const absl::Status& status) {
  if (auto reason = GetReason(status)) return *reason;
  return absl::StatusCodeToString(status.code());
}

v1::Failure FailureFromStatus(const absl::Status& status, absl::string_view source) {
  v1::Failure f;
  f.set_message(std::string(status.message()));
  f.set_type(FailureType(status));
  f.set_non_retryable(IsNonRetryable(status));
  f.set_source(std::string(source));
  (*f.mutable_metadata())["code"] = absl::StrCat(static_cast<int>(status.code()));
  for (const auto& [k, v] : GetMetadata(status)) (*f.mutable_metadata())[k] = v;
  return f;
}

absl::Status StatusFromFailure(const v1::Failure& f) {
  int code = static_cast<int>(absl::StatusCode::kUnknown);
  auto it = f.metadata().find("code");
  if (it != f.metadata().end() && !absl::SimpleAtoi(it->second, &code)) code = 2;
  if (code == 0) code = static_cast<int>(absl::StatusCode::kUnknown);
  absl::Status s(static_cast<absl::StatusCode>(code), f.message());
  if (!f.type().empty() && f.type() != absl::StatusCodeToString(s.code())) s = WithReason(std::move(s), f.type());
  for (const auto& [k, v] : f.metadata()) {
    if (k != "code") s = WithMetadata(std::move(s), k, v);
  }
  if (f.non_retryable()) s = NonRetryable(std::move(s));
  return s;
}

}  // namespace cantdo::workflow
