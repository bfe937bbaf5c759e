// Certificates that change on disk take effect without a restart (issue 21,
// part 5): cert-manager renews a service's key pair in place and
// trust-manager rewrites the CA bundle, both through Kubernetes volumes that
// swap their files atomically. Servers and channels made from
// LoadTlsMaterial watch the files; new handshakes use what they hold now.
// Real gRPC over loopback, files written exactly the way the kubelet
// updates a Secret or ConfigMap volume (a new directory, then one atomic
// rename of the ..data symlink).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <grpcpp/client_context.h>

#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/grpc/server.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/grpc/tls.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "support/test_pki.hpp"

namespace cg = cantdo::grpc;
namespace bv1 = cantdo::bridge::v1;

namespace {

constexpr absl::Duration kReload = absl::Seconds(1);
// How long a change may take to show: several reload intervals, generous
// for a loaded CI machine. A wait, not a timed assertion.
constexpr auto kPatience = std::chrono::seconds(60);

// A directory laid out like a Kubernetes Secret/ConfigMap volume:
// tls.crt -> ..data/tls.crt, ..data -> ..<generation>/. Publish() writes a
// new generation and switches ..data with one rename(2), as the kubelet
// does, so a reader sees the old files or the new ones, never a mix.
class VolumeDir {
 public:
  explicit VolumeDir(std::string dir) : dir_(std::move(dir)) {}
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  void Publish(const cg::TlsMaterial& m) {
    const std::string gen = "..gen" + std::to_string(++generation_);
    REQUIRE(mkdir((dir_ + "/" + gen).c_str(), 0700) == 0);
    std::ofstream(dir_ + "/" + gen + "/tls.crt") << m.cert_pem;
    std::ofstream(dir_ + "/" + gen + "/tls.key") << m.key_pem;
    std::ofstream(dir_ + "/" + gen + "/ca.crt") << m.ca_pem;
    REQUIRE(symlink(gen.c_str(), (dir_ + "/..data_tmp").c_str()) == 0);
    REQUIRE(rename((dir_ + "/..data_tmp").c_str(), (dir_ + "/..data").c_str()) == 0);
    if (generation_ == 1) {
      for (const char* f : {"tls.crt", "tls.key", "ca.crt"}) {
        REQUIRE(symlink((std::string("..data/") + f).c_str(), Path(f).c_str()) == 0);
      }
    }
  }

  cg::TlsMaterial Load() const {
    auto m = cg::LoadTlsMaterial(Path("tls.crt"), Path("tls.key"), Path("ca.crt"), kReload);
    REQUIRE(m.ok());
    return *m;
  }

 private:
  std::string dir_;
  int generation_ = 0;
};

// Records the certificate each caller presented.
class RecordsPeer final : public bv1::CibaBridgeService::Service {
 public:
  ::grpc::Status GetBackchannelAuthentication(::grpc::ServerContext* ctx,
                                              const bv1::GetBackchannelAuthenticationRequest*,
                                              bv1::GetBackchannelAuthenticationResponse*) override {
    auto pem = ctx->auth_context()->FindPropertyValues("x509_pem_cert");
    std::lock_guard<std::mutex> lock(mu_);
    last_peer_pem_ = pem.empty() ? "" : std::string(pem[0].data(), pem[0].size());
    return ::grpc::Status::OK;
  }
  std::string last_peer_pem() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_peer_pem_;
  }

 private:
  std::mutex mu_;
  std::string last_peer_pem_;
};

std::unique_ptr<cg::Server> Serve(const cg::TlsMaterial& tls, ::grpc::Service* service) {
  cg::ServerConfig config;
  config.service_name = "reload-test";
  config.listen_address = "127.0.0.1:0";
  config.tls = tls;
  config.shutdown_grace = absl::Seconds(1);
  auto server = cg::Server::Start(config, {service}, [] { return absl::OkStatus(); });
  REQUIRE(server.ok());
  return *std::move(server);
}

std::string Target(const cg::Server& s) { return "127.0.0.1:" + std::to_string(s.port()); }

// One call on a fresh channel (a new connection, so a new handshake).
// Returns the status and the certificate the server presented.
std::pair<::grpc::Status, std::string> CallOnce(const std::string& target, const cg::TlsMaterial& client) {
  auto stub = bv1::CibaBridgeService::NewStub(cg::MakeMtlsChannel(target, client));
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  bv1::GetBackchannelAuthenticationRequest req;
  bv1::GetBackchannelAuthenticationResponse resp;
  ::grpc::Status st = stub->GetBackchannelAuthentication(&ctx, req, &resp);
  std::string server_pem;
  if (auto auth = ctx.auth_context()) {
    auto pem = auth->FindPropertyValues("x509_pem_cert");
    if (!pem.empty()) server_pem.assign(pem[0].data(), pem[0].size());
  }
  return {st, server_pem};
}

// Calls `probe` until it returns true or kPatience passes.
template <typename F>
bool Eventually(F probe) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST_CASE("a server presents its renewed certificate to new connections without a restart",
          "[integration][grpc][tls-reload]") {
  cantdo::testing::TestPki pki;
  cantdo::testing::TempDir dir;
  VolumeDir volume(dir.path());
  const cg::TlsMaterial first = pki.Issue("authority");
  volume.Publish(first);
  RecordsPeer service;
  auto server = Serve(volume.Load(), &service);
  const cg::TlsMaterial client = pki.Issue("gateway");

  auto [st, presented] = CallOnce(Target(*server), client);
  REQUIRE(st.ok());
  CHECK(presented == first.cert_pem);

  // cert-manager renews: a new key and certificate, same identity.
  const cg::TlsMaterial renewed = pki.Issue("authority");
  REQUIRE(renewed.cert_pem != first.cert_pem);
  volume.Publish(renewed);
  std::string last;
  const bool switched = Eventually([&] {
    auto [call, pem] = CallOnce(Target(*server), client);
    last = pem;
    return call.ok() && pem == renewed.cert_pem;
  });
  INFO("the server still presents: " << (last == first.cert_pem ? "the first certificate" : last));
  CHECK(switched);
}

TEST_CASE("a CA added to the bundle file is trusted without a restart, and only then",
          "[integration][grpc][tls-reload]") {
  cantdo::testing::TestPki pki;
  cantdo::testing::TestPki next_ca;  // the CA being rotated in
  cantdo::testing::TempDir dir;
  VolumeDir volume(dir.path());
  cg::TlsMaterial served = pki.Issue("authority");
  volume.Publish(served);
  RecordsPeer service;
  auto server = Serve(volume.Load(), &service);

  // A client whose certificate comes from the new CA (it trusts the old
  // one, which signed the server).
  cg::TlsMaterial client = next_ca.Issue("gateway");
  client.ca_pem = pki.ca_pem();
  CHECK(CallOnce(Target(*server), client).first.error_code() == ::grpc::StatusCode::UNAVAILABLE);

  // trust-manager publishes a bundle with both CAs.
  served.ca_pem = pki.ca_pem() + next_ca.ca_pem();
  volume.Publish(served);
  CHECK(Eventually([&] { return CallOnce(Target(*server), client).first.ok(); }));
}

TEST_CASE("a channel presents its renewed client certificate on new connections", "[integration][grpc][tls-reload]") {
  cantdo::testing::TestPki pki;
  cantdo::testing::TempDir dir;
  VolumeDir volume(dir.path());
  RecordsPeer service;
  auto server = Serve(pki.Issue("ciba-bridge"), &service);

  const cg::TlsMaterial first = pki.Issue("authority");
  volume.Publish(first);
  const cg::TlsMaterial client = volume.Load();
  REQUIRE(CallOnce(Target(*server), client).first.ok());
  CHECK(service.last_peer_pem() == first.cert_pem);

  const cg::TlsMaterial renewed = pki.Issue("authority");
  volume.Publish(renewed);
  CHECK(Eventually(
      [&] { return CallOnce(Target(*server), client).first.ok() && service.last_peer_pem() == renewed.cert_pem; }));
}

TEST_CASE("watched files keep the checks: an untrusted client and a wrong server name are refused",
          "[integration][grpc][tls-reload]") {
  cantdo::testing::TestPki pki;
  cantdo::testing::TempDir dir;
  VolumeDir volume(dir.path());
  volume.Publish(pki.Issue("authority"));
  const cg::TlsMaterial watched = volume.Load();
  RecordsPeer service;
  auto server = Serve(watched, &service);

  cantdo::testing::TestPki rogue;
  cg::TlsMaterial forged = rogue.Issue("gateway");
  forged.ca_pem = pki.ca_pem();
  CHECK(CallOnce(Target(*server), forged).first.error_code() == ::grpc::StatusCode::UNAVAILABLE);

  // The server's certificate names localhost and 127.0.0.1, not this.
  auto stub = bv1::CibaBridgeService::NewStub(cg::MakeMtlsChannel(Target(*server), watched, "cantdo-worker"));
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  bv1::GetBackchannelAuthenticationRequest req;
  bv1::GetBackchannelAuthenticationResponse resp;
  CHECK(stub->GetBackchannelAuthentication(&ctx, req, &resp).error_code() == ::grpc::StatusCode::UNAVAILABLE);
  CHECK(CallOnce(Target(*server), watched).first.ok());  // the right name passes
}
