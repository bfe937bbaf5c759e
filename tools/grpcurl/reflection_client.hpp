#pragma once
// A client of gRPC server reflection (grpc.reflection.v1alpha, what gRPC
// 1.51 servers offer): lists services and loads the descriptors of any
// symbol, with its dependencies, into a local pool, so requests and
// responses can be converted from and to JSON without generated code.

#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "grpcurl/generic_call.hpp"
#include "grpcurl/grpcurl_format.hpp"

namespace cantdo::grpcurl {

class ReflectionClient {
 public:
  ReflectionClient(std::shared_ptr<::grpc::Channel> channel, CallOptions options);
  ~ReflectionClient();

  absl::StatusOr<std::vector<std::string>> ListServices();

  // Ensures the file that defines `symbol` (a service, method or message
  // full name) and all its imports are in pool().
  absl::Status Load(const std::string& symbol);

  const google::protobuf::DescriptorPool& pool() const { return *pool_; }
  google::protobuf::DynamicMessageFactory& factory() { return *factory_; }

 private:
  absl::StatusOr<std::vector<std::string>> Ask(const std::string& field, const std::string& value);
  absl::Status AddFiles(const std::vector<std::string>& serialized);

  std::shared_ptr<::grpc::Channel> channel_;
  CallOptions options_;
  // Descriptors of the reflection protocol itself (embedded at build time).
  std::unique_ptr<google::protobuf::DescriptorPool> protocol_pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> protocol_factory_;
  // Descriptors learnt from the server.
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
};

// Any payload types, from the pool, loading by reflection the file of a
// type the pool does not have yet (as grpcurl resolves them).
class ReflectionAnyTypes final : public AnyTypes {
 public:
  explicit ReflectionAnyTypes(ReflectionClient& reflection) : reflection_(reflection) {}
  std::unique_ptr<google::protobuf::Message> New(std::string_view type_url) override;

 private:
  ReflectionClient& reflection_;
};

}  // namespace cantdo::grpcurl
