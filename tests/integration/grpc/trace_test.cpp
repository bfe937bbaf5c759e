// W3C trace context over real gRPC on loopback (cantdo/grpc/trace.hpp):
// the handler runs under the caller's trace, or a new one when the caller
// sent none or a malformed one (never an error), and calls made under a
// trace carry it to the next service.
#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include <grpcpp/client_context.h>

#include "cantdo/base/trace_context.hpp"
#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/grpc/server.hpp"
#include "cantdo/grpc/tls.hpp"
#include "support/test_pki.hpp"

using namespace cantdo;
namespace cg = cantdo::grpc;
namespace bv1 = cantdo::bridge::v1;

namespace {

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Records the trace its handler ran under; with `next`, calls it (as a
// service calling another does) and records what that one saw too.
class TraceRecorder final : public bv1::CibaBridgeService::Service {
 public:
  ::grpc::Status GetBackchannelAuthentication(::grpc::ServerContext*, const bv1::GetBackchannelAuthenticationRequest*,
                                              bv1::GetBackchannelAuthenticationResponse*) override {
    const trace::TraceContext* t = trace::Current();
    seen = t != nullptr ? std::optional<trace::TraceContext>(*t) : std::nullopt;
    if (next != nullptr) {
      auto stub = bv1::CibaBridgeService::NewStub(next_channel);
      ::grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      bv1::GetBackchannelAuthenticationRequest req;
      bv1::GetBackchannelAuthenticationResponse resp;
      if (!stub->GetBackchannelAuthentication(&ctx, req, &resp).ok()) return ::grpc::Status(::grpc::INTERNAL, "next");
    }
    return ::grpc::Status::OK;
  }
  std::optional<trace::TraceContext> seen;
  TraceRecorder* next = nullptr;
  std::shared_ptr<::grpc::Channel> next_channel;
};

struct Server {
  Server(testing::TestPki& pki, TraceRecorder* service) {
    cg::ServerConfig config;
    config.service_name = "test";
    config.listen_address = "127.0.0.1:0";
    config.tls = pki.Issue("ciba-bridge");
    config.readiness_interval = absl::Milliseconds(20);
    config.shutdown_grace = absl::Seconds(1);
    auto s = cg::Server::Start(config, {service}, []() { return absl::OkStatus(); });
    REQUIRE(s.ok());
    server = *std::move(s);
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(server->port()); }
  std::unique_ptr<cg::Server> server;
};

::grpc::Status Call(const std::shared_ptr<::grpc::Channel>& channel, const char* traceparent = nullptr) {
  auto stub = bv1::CibaBridgeService::NewStub(channel);
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (traceparent != nullptr) ctx.AddMetadata("traceparent", traceparent);
  bv1::GetBackchannelAuthenticationRequest req;
  bv1::GetBackchannelAuthenticationResponse resp;
  return stub->GetBackchannelAuthentication(&ctx, req, &resp);
}

}  // namespace

TEST_CASE("trace: the handler runs under the caller's traceparent", "[integration][grpc][trace]") {
  testing::TestPki pki;
  TraceRecorder service;
  Server server(pki, &service);
  auto channel = cg::MakeMtlsChannel(server.target(), pki.Issue("authority"));
  REQUIRE(Call(channel, kTraceparent).ok());
  REQUIRE(service.seen.has_value());
  CHECK(service.seen->trace_id == kTraceId);
  CHECK(service.seen->parent_id == "00f067aa0ba902b7");
}

TEST_CASE("trace: no traceparent, or a malformed one, starts a new trace and is no error",
          "[integration][grpc][trace]") {
  testing::TestPki pki;
  TraceRecorder service;
  Server server(pki, &service);
  auto channel = cg::MakeMtlsChannel(server.target(), pki.Issue("authority"));
  const std::regex hex32("^[0-9a-f]{32}$");

  REQUIRE(Call(channel).ok());
  REQUIRE(service.seen.has_value());
  const std::string first = service.seen->trace_id;
  CHECK(std::regex_match(first, hex32));

  REQUIRE(Call(channel).ok());
  REQUIRE(service.seen.has_value());
  CHECK(service.seen->trace_id != first);  // each call its own trace

  const char* malformed[] = {
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
      "garbage",
  };
  for (const char* h : malformed) {
    INFO(h);
    service.seen.reset();
    REQUIRE(Call(channel, h).ok());
    REQUIRE(service.seen.has_value());
    CHECK(std::regex_match(service.seen->trace_id, hex32));
    CHECK(service.seen->trace_id != kTraceId);
    CHECK(service.seen->trace_id != "00000000000000000000000000000000");
  }
}

TEST_CASE("trace: calls made under a trace carry it to the next service", "[integration][grpc][trace]") {
  testing::TestPki pki;
  TraceRecorder downstream;
  Server downstream_server(pki, &downstream);
  TraceRecorder front;
  front.next = &downstream;
  front.next_channel = cg::MakeMtlsChannel(downstream_server.target(), pki.Issue("authority"));
  Server front_server(pki, &front);
  auto channel = cg::MakeMtlsChannel(front_server.target(), pki.Issue("authority"));

  SECTION("a handler's outgoing call") {
    REQUIRE(Call(channel, kTraceparent).ok());
    REQUIRE(downstream.seen.has_value());
    CHECK(downstream.seen->trace_id == kTraceId);
    // A new span: the same trace, another parent id.
    CHECK(downstream.seen->parent_id != "00f067aa0ba902b7");
  }
  SECTION("background work under a stored traceparent") {
    {
      trace::ScopedTrace traced{std::string_view(kTraceparent)};
      REQUIRE(Call(front.next_channel).ok());
    }
    REQUIRE(downstream.seen.has_value());
    CHECK(downstream.seen->trace_id == kTraceId);
    // Outside any trace, nothing is sent: the server starts its own.
    REQUIRE(Call(front.next_channel).ok());
    REQUIRE(downstream.seen.has_value());
    CHECK(downstream.seen->trace_id != kTraceId);
  }
  SECTION("a caller's own traceparent wins over the thread's") {
    trace::ScopedTrace traced{std::string_view("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")};
    REQUIRE(Call(front.next_channel, kTraceparent).ok());
    REQUIRE(downstream.seen.has_value());
    CHECK(downstream.seen->trace_id == kTraceId);
  }
}
