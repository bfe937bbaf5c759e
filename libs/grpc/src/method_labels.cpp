#include "method_labels.hpp"

#include <iterator>
#include <string>

#include <google/protobuf/descriptor.h>

namespace cantdo::grpc::internal {

std::string_view CodeName(::grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kNames)) ? kNames[i] : "UNKNOWN";
}

bool KnownMethod(std::string_view service, std::string_view method) {
  const std::string full = std::string(service) + "." + std::string(method);
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full) != nullptr;
}

MethodName SplitMethod(const char* full_method) {
  std::string_view full = full_method != nullptr ? full_method : "";
  if (!full.empty() && full[0] == '/') full.remove_prefix(1);
  const size_t slash = full.find('/');
  if (slash == std::string_view::npos) return {full, ""};
  return {full.substr(0, slash), full.substr(slash + 1)};
}

void RecordCall(const CallMetricFamilies& families, const char* full_method, ::grpc::StatusCode code,
                std::optional<double> seconds) {
  auto [service, method] = SplitMethod(full_method);
  const std::string_view code_name = CodeName(code);
  metrics::Counter* handled = families.handled.Find({service, method, code_name});
  if (handled == nullptr) {
    if (!KnownMethod(service, method)) service = method = "unknown";
    handled = &families.handled.Labels({service, method, code_name});
  }
  handled->Inc();
  if (!seconds) return;
  metrics::Histogram* latency = families.seconds.Find({service, method});
  if (latency == nullptr) {
    if (!KnownMethod(service, method)) service = method = "unknown";
    latency = &families.seconds.Labels({service, method});
  }
  latency->Observe(*seconds);
}

}  // namespace cantdo::grpc::internal
