#include "grpcurl/reflection_client.hpp"

#include <google/protobuf/descriptor.pb.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "cantdo/grpc/status.hpp"

namespace cantdo::grpcurl {

extern const unsigned char kReflectionDescriptor[];
extern const std::size_t kReflectionDescriptorSize;

namespace {

constexpr char kMethod[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
namespace pb = google::protobuf;

}  // namespace

ReflectionClient::ReflectionClient(std::shared_ptr<::grpc::Channel> channel, CallOptions options)
    : channel_(std::move(channel)),
      options_(std::move(options)),
      protocol_pool_(std::make_unique<pb::DescriptorPool>()),
      pool_(std::make_unique<pb::DescriptorPool>()) {
  pb::FileDescriptorSet set;
  set.ParseFromArray(kReflectionDescriptor, static_cast<int>(kReflectionDescriptorSize));
  for (const auto& f : set.file()) protocol_pool_->BuildFile(f);
  protocol_factory_ = std::make_unique<pb::DynamicMessageFactory>(protocol_pool_.get());
  factory_ = std::make_unique<pb::DynamicMessageFactory>(pool_.get());
}

ReflectionClient::~ReflectionClient() = default;

// Sends one ServerReflectionRequest with string field `field` = `value` and
// returns, depending on the answer, the service names or the serialized
// FileDescriptorProtos.
absl::StatusOr<std::vector<std::string>> ReflectionClient::Ask(const std::string& field, const std::string& value) {
  const pb::Descriptor* req_type =
      protocol_pool_->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
  const pb::Descriptor* resp_type =
      protocol_pool_->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  if (!req_type || !resp_type) return absl::InternalError("embedded reflection descriptor is broken");
  std::unique_ptr<pb::Message> req(protocol_factory_->GetPrototype(req_type)->New());
  req->GetReflection()->SetString(req.get(), req_type->FindFieldByName(field), value);

  std::vector<std::string> out;
  absl::Status problem;
  ::grpc::Status st =
      GenericCall(channel_, kMethod, {req->SerializeAsString()}, options_, [&](const std::string& bytes) {
        std::unique_ptr<pb::Message> resp(protocol_factory_->GetPrototype(resp_type)->New());
        if (!resp->ParseFromString(bytes)) {
          problem = absl::InternalError("unparsable reflection response");
          return false;
        }
        const pb::Reflection* r = resp->GetReflection();
        if (r->HasField(*resp, resp_type->FindFieldByName("error_response"))) {
          const pb::Message& err = r->GetMessage(*resp, resp_type->FindFieldByName("error_response"));
          const pb::Descriptor* et = err.GetDescriptor();
          problem = absl::Status(
              static_cast<absl::StatusCode>(err.GetReflection()->GetInt32(err, et->FindFieldByName("error_code"))),
              err.GetReflection()->GetString(err, et->FindFieldByName("error_message")));
          return false;
        }
        if (const auto* f = resp_type->FindFieldByName("list_services_response"); r->HasField(*resp, f)) {
          const pb::Message& list = r->GetMessage(*resp, f);
          const pb::FieldDescriptor* services = list.GetDescriptor()->FindFieldByName("service");
          for (int i = 0; i < list.GetReflection()->FieldSize(list, services); ++i) {
            const pb::Message& s = list.GetReflection()->GetRepeatedMessage(list, services, i);
            out.push_back(s.GetReflection()->GetString(s, s.GetDescriptor()->FindFieldByName("name")));
          }
        }
        if (const auto* f = resp_type->FindFieldByName("file_descriptor_response"); r->HasField(*resp, f)) {
          const pb::Message& files = r->GetMessage(*resp, f);
          const pb::FieldDescriptor* fdp = files.GetDescriptor()->FindFieldByName("file_descriptor_proto");
          for (int i = 0; i < files.GetReflection()->FieldSize(files, fdp); ++i) {
            out.push_back(files.GetReflection()->GetRepeatedString(files, fdp, i));
          }
        }
        return true;
      });
  if (!problem.ok()) return problem;  // (we cancelled the call on purpose)
  if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
  return out;
}

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() { return Ask("list_services", "*"); }

absl::Status ReflectionClient::AddFiles(const std::vector<std::string>& serialized) {
  // The server sends a file and its (transitive) imports in any order:
  // build each once all of its imports are built.
  std::map<std::string, pb::FileDescriptorProto> pending;
  for (const auto& bytes : serialized) {
    pb::FileDescriptorProto f;
    if (!f.ParseFromString(bytes)) return absl::InternalError("unparsable FileDescriptorProto");
    if (pool_->FindFileByName(f.name()) == nullptr) pending.emplace(f.name(), std::move(f));
  }
  bool progress = true;
  while (!pending.empty() && progress) {
    progress = false;
    for (auto it = pending.begin(); it != pending.end();) {
      bool ready = true;
      for (const auto& dep : it->second.dependency()) {
        if (pool_->FindFileByName(dep) == nullptr) ready = false;
      }
      if (!ready) {
        ++it;
        continue;
      }
      if (pool_->BuildFile(it->second) == nullptr) {
        return absl::InternalError(absl::StrCat("cannot build descriptor of ", it->first));
      }
      it = pending.erase(it);
      progress = true;
    }
  }
  for (const auto& [name, f] : pending) {
    for (const auto& dep : f.dependency()) {
      if (pool_->FindFileByName(dep) == nullptr) {
        auto more = Ask("file_by_filename", dep);
        if (!more.ok()) return more.status();
        if (auto st = AddFiles(*more); !st.ok()) return st;
      }
    }
    if (pool_->FindFileByName(name) == nullptr && pool_->BuildFile(f) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot build descriptor of ", name));
    }
  }
  return absl::OkStatus();
}

absl::Status ReflectionClient::Load(const std::string& symbol) {
  if (pool_->FindFileContainingSymbol(symbol) != nullptr) return absl::OkStatus();
  auto files = Ask("file_containing_symbol", symbol);
  if (!files.ok()) return files.status();
  return AddFiles(*files);
}

std::unique_ptr<pb::Message> ReflectionAnyTypes::New(std::string_view type_url) {
  std::string name(type_url.substr(type_url.rfind('/') + 1));  // (npos + 1 is 0: no slash)
  const pb::Descriptor* d = reflection_.pool().FindMessageTypeByName(name);
  if (d == nullptr && reflection_.Load(name).ok()) d = reflection_.pool().FindMessageTypeByName(name);
  if (d == nullptr) return nullptr;
  return std::unique_ptr<pb::Message>(reflection_.factory().GetPrototype(d)->New());
}

}  // namespace cantdo::grpcurl
