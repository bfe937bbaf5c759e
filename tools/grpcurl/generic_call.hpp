#pragma once
// Calls any gRPC method with serialized protobuf bytes, without generated
// stubs: unary, server-streaming, client-streaming and bidi alike. Requests
// are all written first, then responses are read until the server ends.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include "absl/time/time.h"

namespace cantdo::grpcurl {

struct CallOptions {
  std::multimap<std::string, std::string> metadata;
  absl::Duration timeout = absl::InfiniteDuration();
};

// `method` is "/package.Service/Method". `on_response` gets each response's
// bytes as it arrives; returning false cancels the call.
::grpc::Status GenericCall(const std::shared_ptr<::grpc::Channel>& channel, const std::string& method,
                           const std::vector<std::string>& requests, const CallOptions& options,
                           const std::function<bool(const std::string&)>& on_response);

}  // namespace cantdo::grpcurl
