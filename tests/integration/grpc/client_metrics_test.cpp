// gRPC client metrics over real gRPC on loopback: every call a channel made
// from the TLS material (static or watched files) ends is counted by the
// code the caller got, unary latency is observed, channels sharing one
// registry add up, and the exposition passes promtool.
#include <catch2/catch.hpp>

#include <grpcpp/client_context.h>

#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/grpc/client_metrics.hpp"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/server.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/metrics/registry.hpp"
#include "support/port_reservation.hpp"
#include "support/prometheus_checks.hpp"
#include "support/test_pki.hpp"

using namespace cantdo;
namespace cg = cantdo::grpc;
namespace bv1 = cantdo::bridge::v1;

namespace {

constexpr char kService[] = R"(grpc_service="cantdo.bridge.v1.CibaBridgeService",)"
                            R"(grpc_method="GetBackchannelAuthentication")";

// Answers only the authority, as the real bridge does.
class OnlyAuthority final : public bv1::CibaBridgeService::Service {
 public:
  ::grpc::Status GetBackchannelAuthentication(::grpc::ServerContext* ctx,
                                              const bv1::GetBackchannelAuthenticationRequest*,
                                              bv1::GetBackchannelAuthenticationResponse*) override {
    return cg::ToGrpcStatus(cg::RequirePeer(*ctx, {cg::ServiceSpiffeId("authority")}));
  }
};

::grpc::StatusCode Call(const std::shared_ptr<::grpc::Channel>& channel) {
  auto stub = bv1::CibaBridgeService::NewStub(channel);
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  bv1::GetBackchannelAuthenticationRequest req;
  bv1::GetBackchannelAuthenticationResponse resp;
  return stub->GetBackchannelAuthentication(&ctx, req, &resp).error_code();
}

}  // namespace

TEST_CASE(
    "gRPC client metrics: calls counted by the code the caller got, unary latency observed, channels of one "
    "registry add up, promtool passes",
    "[integration][grpc][metrics]") {
  testing::TestPki pki;
  OnlyAuthority service;
  cg::ServerConfig config;
  config.service_name = "test";
  config.listen_address = "127.0.0.1:0";
  config.tls = pki.Issue("ciba-bridge");
  config.shutdown_grace = absl::Seconds(1);
  auto server = cg::Server::Start(config, {&service}, [] { return absl::OkStatus(); });
  REQUIRE(server.ok());
  const std::string target = "127.0.0.1:" + std::to_string((*server)->port());

  metrics::Registry registry;
  const cg::ClientInterceptorMaker counted = cg::MakeClientMetricsInterceptor(registry);
  // Nothing counted before any call: the families exist, empty.
  const std::string empty = registry.Render();
  CHECK(empty.find("# TYPE cantdo_grpc_client_handled_total counter") != std::string::npos);
  CHECK(empty.find("# TYPE cantdo_grpc_client_handling_seconds histogram") != std::string::npos);
  CHECK(empty.find("cantdo_grpc_client_handled_total{") == std::string::npos);

  // As the authority (static material): allowed, twice.
  cg::TlsMaterial authority = pki.Issue("authority");
  authority.client_interceptors.push_back(counted);
  const auto authority_channel = cg::MakeMtlsChannel(target, authority);
  CHECK(Call(authority_channel) == ::grpc::StatusCode::OK);
  CHECK(Call(authority_channel) == ::grpc::StatusCode::OK);

  // As the worker, from watched files (the runtime's path): refused.
  testing::TempDir dir;
  const auto files = pki.WriteFiles(dir.path(), "worker");
  auto worker = cg::LoadTlsMaterial(files.cert, files.key, files.ca);
  REQUIRE(worker.ok());
  worker->client_interceptors.push_back(counted);
  CHECK(Call(cg::MakeMtlsChannel(target, *worker)) == ::grpc::StatusCode::PERMISSION_DENIED);

  // Nobody listening: the caller gets UNAVAILABLE, and so does the count.
  const testing::PortReservation nowhere;  // bound, never listening
  CHECK(Call(cg::MakeMtlsChannel(nowhere.address(), authority)) == ::grpc::StatusCode::UNAVAILABLE);

  // A channel without the interceptor is not counted.
  CHECK(Call(cg::MakeMtlsChannel(target, pki.Issue("authority"))) == ::grpc::StatusCode::OK);

  const std::string text = registry.Render();
  const std::string handled = std::string("cantdo_grpc_client_handled_total{") + kService + ",grpc_code=";
  CHECK(testing::RequireSample(text, handled + "\"OK\"}") == 2);
  CHECK(testing::RequireSample(text, handled + "\"PERMISSION_DENIED\"}") == 1);
  CHECK(testing::RequireSample(text, handled + "\"UNAVAILABLE\"}") == 1);
  const std::string seconds = std::string("cantdo_grpc_client_handling_seconds");
  CHECK(testing::RequireSample(text, seconds + "_count{" + kService + "}") == 4);
  CHECK(testing::RequireSample(text, seconds + "_sum{" + kService + "}") > 0);
  CHECK(testing::RequireSample(text, seconds + "_bucket{" + kService + ",le=\"+Inf\"}") == 4);

  cantdo::testing::CheckPromtoolClean(text);
}
