#include "grpcurl/generic_call.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

namespace cantdo::grpcurl {
namespace {

// Waits for the one operation in flight; false if it failed.
bool Await(::grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok)) return false;
  return ok;
}

}  // namespace

::grpc::Status GenericCall(const std::shared_ptr<::grpc::Channel>& channel, const std::string& method,
                           const std::vector<std::string>& requests, const CallOptions& options,
                           const std::function<bool(const std::string&)>& on_response) {
  ::grpc::GenericStub stub(channel);
  ::grpc::ClientContext ctx;
  for (const auto& [k, v] : options.metadata) ctx.AddMetadata(k, v);
  if (options.timeout != absl::InfiniteDuration()) {
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options.timeout));
  }
  ::grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(nullptr);
  bool alive = Await(cq);
  for (const auto& r : requests) {
    if (!alive) break;
    ::grpc::Slice slice(r);
    ::grpc::ByteBuffer buf(&slice, 1);
    call->Write(buf, nullptr);
    alive = Await(cq);
  }
  if (alive) {
    call->WritesDone(nullptr);
    alive = Await(cq);
  }
  while (alive) {
    ::grpc::ByteBuffer buf;
    call->Read(&buf, nullptr);
    if (!Await(cq)) break;
    std::vector<::grpc::Slice> slices;
    (void)buf.Dump(&slices);
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    if (!on_response(bytes)) {
      ctx.TryCancel();
      break;
    }
  }
  ::grpc::Status status;
  call->Finish(&status, nullptr);
  Await(cq);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace cantdo::grpcurl
