#include "cantdo/grpc/status.hpp"

#include <string>

#include "cantdo/base/status.hpp"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace cantdo::grpc {

::grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return ::grpc::Status::OK;
  const auto code = static_cast<::grpc::StatusCode>(status.code());
  const std::string message(status.message());
  auto reason = GetReason(status);
  if (!reason) return ::grpc::Status(code, message);

  google::rpc::ErrorInfo info;
  info.set_reason(*reason);
  info.set_domain(std::string(kErrorDomain));
  for (const auto& [k, v] : GetMetadata(status)) (*info.mutable_metadata())[k] = v;
  google::rpc::Status details;
  details.set_code(static_cast<int>(code));
  details.set_message(message);
  details.add_details()->PackFrom(info);
  return ::grpc::Status(code, message, details.SerializeAsString());
}

absl::Status FromGrpcStatus(const ::grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return out;
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (!any.UnpackTo(&info)) continue;
    out = WithReason(out, info.reason());
    for (const auto& [k, v] : info.metadata()) out = WithMetadata(out, k, v);
    break;
  }
  return out;
}

}  // namespace cantdo::grpc
