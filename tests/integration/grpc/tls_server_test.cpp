// The server bootstrap over real gRPC on loopback: mutual TLS refuses
// callers without a CA-signed certificate, identities come from the
// certificate, health is truthful, reflection works, request ids echo.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>

#include "cantdo/base/status.hpp"
#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/grpc/interceptors.hpp"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/server.hpp"
#include "cantdo/grpc/status.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcurl/reflection_client.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

using namespace cantdo;
namespace cg = cantdo::grpc;
namespace bv1 = cantdo::bridge::v1;
using HealthStatus = ::grpc::health::v1::HealthCheckResponse;

namespace {

// Answers only the authority, as the real bridge does.
class OnlyAuthority final : public bv1::CibaBridgeService::Service {
 public:
  ::grpc::Status GetBackchannelAuthentication(::grpc::ServerContext* ctx,
                                              const bv1::GetBackchannelAuthenticationRequest*,
                                              bv1::GetBackchannelAuthenticationResponse*) override {
    seen_request_id = cg::RequestId(*ctx);
    return cg::ToGrpcStatus(cg::RequirePeer(*ctx, {cg::ServiceSpiffeId("authority")}));
  }
  std::string seen_request_id;
};

struct Fixture {
  testing::TestPki pki;
  OnlyAuthority service;
  std::atomic<bool> ready{true};
  std::unique_ptr<cg::Server> server;

  // Serves `other` instead of `service` when given.
  explicit Fixture(cg::ClientCertPolicy policy = cg::ClientCertPolicy::kRequireAndVerify,
                   ::grpc::Service* other = nullptr) {
    cg::ServerConfig config;
    config.service_name = "test";
    config.listen_address = "127.0.0.1:0";
    config.tls = pki.Issue("ciba-bridge");
    config.client_certs = policy;
    config.readiness_interval = absl::Milliseconds(20);
    config.shutdown_grace = absl::Seconds(1);
    auto s = cg::Server::Start(config, {other != nullptr ? other : &service}, [this]() -> absl::Status {
      return ready ? absl::OkStatus() : absl::UnavailableError("database down");
    });
    REQUIRE(s.ok());
    server = *std::move(s);
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(server->port()); }

  absl::Status Call(const std::shared_ptr<::grpc::Channel>& channel, const std::string& request_id = "") {
    auto stub = bv1::CibaBridgeService::NewStub(channel);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!request_id.empty()) ctx.AddMetadata("x-request-id", request_id);
    bv1::GetBackchannelAuthenticationRequest req;
    bv1::GetBackchannelAuthenticationResponse resp;
    auto st = cg::FromGrpcStatus(stub->GetBackchannelAuthentication(&ctx, req, &resp));
    auto md = ctx.GetServerInitialMetadata();
    auto it = md.find("x-request-id");
    echoed_request_id = it == md.end() ? "" : std::string(it->second.data(), it->second.size());
    return st;
  }

  HealthStatus::ServingStatus Health(const std::shared_ptr<::grpc::Channel>& channel) {
    auto stub = ::grpc::health::v1::Health::NewStub(channel);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ::grpc::health::v1::HealthCheckRequest req;
    HealthStatus resp;
    auto st = stub->Check(&ctx, req, &resp);
    REQUIRE(st.ok());
    return resp.status();
  }

  std::string echoed_request_id;
};

}  // namespace

TEST_CASE("mTLS: the allowed service identity is let through", "[integration][grpc]") {
  Fixture f;
  CHECK(f.Call(cg::MakeMtlsChannel(f.target(), f.pki.Issue("authority"))).ok());
}

TEST_CASE("mTLS: another service of the same CA is refused by identity", "[integration][grpc]") {
  Fixture f;
  absl::Status st = f.Call(cg::MakeMtlsChannel(f.target(), f.pki.Issue("worker")));
  CHECK(st.code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(st) == std::optional<std::string>("CALLER_NOT_ALLOWED"));
}

TEST_CASE("mTLS: a client without a certificate is refused in the handshake", "[integration][grpc]") {
  Fixture f;
  absl::Status st = f.Call(cg::MakeTlsChannel(f.target(), f.pki.ca_pem()));
  CHECK(st.code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("mTLS: a certificate from another CA is refused", "[integration][grpc]") {
  Fixture f;
  testing::TestPki rogue;
  cg::TlsMaterial forged = rogue.Issue("authority");  // claims the right identity
  forged.ca_pem = f.pki.ca_pem();                     // and trusts the real server
  absl::Status st = f.Call(cg::MakeMtlsChannel(f.target(), forged));
  CHECK(st.code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("TLS: a client that does not trust the server's CA does not connect", "[integration][grpc]") {
  Fixture f;
  testing::TestPki other;
  CHECK(f.Call(cg::MakeMtlsChannel(f.target(), other.Issue("authority"))).code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("optional client certs: no certificate reaches the handler as unauthenticated", "[integration][grpc]") {
  Fixture f(cg::ClientCertPolicy::kRequestAndVerify);
  absl::Status st = f.Call(cg::MakeTlsChannel(f.target(), f.pki.ca_pem()));
  CHECK(st.code() == absl::StatusCode::kUnauthenticated);
  CHECK(GetReason(st) == std::optional<std::string>("CALLER_UNAUTHENTICATED"));
}

TEST_CASE("health follows readiness and turns NOT_SERVING on shutdown", "[integration][grpc]") {
  Fixture f;
  auto channel = cg::MakeMtlsChannel(f.target(), f.pki.Issue("worker"));
  CHECK(f.Health(channel) == HealthStatus::SERVING);

  f.ready = false;
  CHECK(cantdo::testing::WaitUntil([&] { return !f.server->serving(); }, absl::Seconds(2), absl::Milliseconds(10)));
  CHECK(f.Health(channel) == HealthStatus::NOT_SERVING);

  f.ready = true;
  CHECK(cantdo::testing::WaitUntil([&] { return f.server->serving(); }, absl::Seconds(2), absl::Milliseconds(10)));
  CHECK(f.Health(channel) == HealthStatus::SERVING);

  f.server->Shutdown();
  CHECK_FALSE(f.server->serving());
}

TEST_CASE("a server that is not ready starts NOT_SERVING", "[integration][grpc]") {
  testing::TestPki pki;
  cg::ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.tls = pki.Issue("authority");
  auto s = cg::Server::Start(config, {}, [] { return absl::UnavailableError("no database"); });
  REQUIRE(s.ok());
  CHECK_FALSE((*s)->serving());
  auto stub = ::grpc::health::v1::Health::NewStub(
      cg::MakeMtlsChannel("127.0.0.1:" + std::to_string((*s)->port()), pki.Issue("worker")));
  ::grpc::ClientContext ctx;
  ::grpc::health::v1::HealthCheckRequest req;
  HealthStatus resp;
  REQUIRE(stub->Check(&ctx, req, &resp).ok());
  CHECK(resp.status() == HealthStatus::NOT_SERVING);
}

TEST_CASE("reflection lists and describes the services", "[integration][grpc]") {
  Fixture f;
  grpcurl::ReflectionClient reflection(cg::MakeMtlsChannel(f.target(), f.pki.Issue("authority")), {});
  auto services = reflection.ListServices();
  REQUIRE(services.ok());
  CHECK(std::count(services->begin(), services->end(), "cantdo.bridge.v1.CibaBridgeService") == 1);
  CHECK(std::count(services->begin(), services->end(), "grpc.health.v1.Health") == 1);
  REQUIRE(reflection.Load("cantdo.bridge.v1.CibaBridgeService").ok());
  const auto* svc = reflection.pool().FindServiceByName("cantdo.bridge.v1.CibaBridgeService");
  REQUIRE(svc != nullptr);
  CHECK(svc->FindMethodByName("StartBackchannelAuthentication") != nullptr);
}

TEST_CASE("request ids are kept when well-formed and made when not", "[integration][grpc]") {
  Fixture f;
  auto channel = cg::MakeMtlsChannel(f.target(), f.pki.Issue("authority"));
  REQUIRE(f.Call(channel, "req-123").ok());
  CHECK(f.service.seen_request_id == "req-123");
  CHECK(f.echoed_request_id == "req-123");

  REQUIRE(f.Call(channel, "bad id with spaces").ok());
  CHECK(f.service.seen_request_id.size() == 36);
  CHECK(f.echoed_request_id == f.service.seen_request_id);
}

namespace {

// Records which thread ran each call, by kernel thread id (a pthread id is
// reused as soon as its thread ends, which would hide the churn).
class ThreadRecorder final : public bv1::CibaBridgeService::Service {
 public:
  ::grpc::Status GetBackchannelAuthentication(::grpc::ServerContext*, const bv1::GetBackchannelAuthenticationRequest*,
                                              bv1::GetBackchannelAuthenticationResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(gettid());
    return ::grpc::Status::OK;
  }
  std::mutex mu;
  std::set<pid_t> threads;
};

}  // namespace

TEST_CASE("request threads are kept between calls, not started and ended per call", "[integration][grpc]") {
  ThreadRecorder recorder;
  Fixture f(cg::ClientCertPolicy::kRequireAndVerify, &recorder);
  const cg::TlsMaterial caller = f.pki.Issue("authority");

  // 8 callers, 100 calls each. gRPC's default (2 idle threads) started a
  // new thread for about every other call here: hundreds of threads.
  constexpr int kCallers = 8, kCalls = 100;
  std::atomic<int> failed{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&] {
      auto stub = bv1::CibaBridgeService::NewStub(cg::MakeMtlsChannel(f.target(), caller));
      for (int i = 0; i < kCalls; ++i) {
        ::grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        bv1::GetBackchannelAuthenticationRequest req;
        bv1::GetBackchannelAuthenticationResponse resp;
        if (!stub->GetBackchannelAuthentication(&ctx, req, &resp).ok()) ++failed;
      }
    });
  }
  for (auto& t : callers) t.join();
  CHECK(failed == 0);
  std::lock_guard<std::mutex> lock(recorder.mu);
  INFO("distinct request threads: " << recorder.threads.size());
  CHECK(recorder.threads.size() <= static_cast<size_t>(cg::ServerConfig{}.idle_request_threads + kCallers));
}
