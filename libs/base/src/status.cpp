#include "cantdo/base/status.hpp"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cantdo {
namespace {

constexpr absl::string_view kReasonUrl = "cantdo.dev/reason";
constexpr absl::string_view kMetadataUrlPrefix = "cantdo.dev/metadata/";

}  // namespace

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  if (!status.ok()) status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

absl::Status WithMetadata(absl::Status status, absl::string_view key, absl::string_view value) {
  if (!status.ok()) status.SetPayload(absl::StrCat(kMetadataUrlPrefix, key), absl::Cord(value));
  return status;
}

std::optional<std::string> GetReason(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonUrl);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

std::map<std::string, std::string> GetMetadata(const absl::Status& status) {
  std::map<std::string, std::string> out;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    if (absl::StartsWith(url, kMetadataUrlPrefix)) {
      out.emplace(std::string(url.substr(kMetadataUrlPrefix.size())), std::string(value));
    }
  });
  return out;
}

absl::Status InvalidArgument(absl::string_view field, absl::string_view message) {
  return WithMetadata(WithReason(absl::InvalidArgumentError(absl::StrCat(field, ": ", message)), "INVALID_FIELD"),
                      "field", field);
}

absl::Status PermissionDenied(absl::string_view reason, absl::string_view message) {
  return WithReason(absl::PermissionDeniedError(message), reason);
}

absl::Status FailedPrecondition(absl::string_view reason, absl::string_view message) {
  return WithReason(absl::FailedPreconditionError(message), reason);
}

absl::Status Unavailable(absl::string_view reason, absl::string_view message) {
  return WithReason(absl::UnavailableError(message), reason);
}

}  // namespace cantdo
