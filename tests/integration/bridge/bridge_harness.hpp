#pragma once
// Shared pieces of the bridge's integration tests: the real dev identity
// provider (tools/dev-idp under node), a fake authority (a real mTLS gRPC
// server recording CompleteApproval), and the real cantdo-ciba-bridge
// binary against a fresh database as its own role.

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/synchronization/mutex.h"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/server.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/http/https_client.hpp"
#include "support/child_process.hpp"
#include "support/dev_idp.hpp"
#include "support/port_reservation.hpp"
#include "support/scrape.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"

namespace cantdo::bridgetest {

using cantdo::testing::ChildProcess;
using cantdo::testing::TestDatabase;
namespace av1 = cantdo::authority::v1;
namespace bv1 = cantdo::bridge::v1;

using cantdo::testing::DevIdp;
using cantdo::testing::NodePath;
using cantdo::testing::PortReservation;
using cantdo::testing::SourceDir;
using cantdo::testing::WaitUntil;

// A real gRPC server in the test implementing CompleteApproval over mTLS,
// recording each call. `fail_first` calls answer UNAVAILABLE; `refuse`
// answers PERMISSION_DENIED for good.
class FakeAuthority final : public av1::AuthorityService::Service {
 public:
  explicit FakeAuthority(cantdo::testing::TestPki& pki) {
    grpc::ServerConfig sc;
    sc.service_name = "fake-authority";
    sc.listen_address = "127.0.0.1:0";
    sc.tls = pki.Issue("authority");
    sc.shutdown_grace = absl::Seconds(1);
    auto server = grpc::Server::Start(sc, {this}, [] { return absl::OkStatus(); });
    REQUIRE(server.ok());
    server_ = *std::move(server);
  }
  ~FakeAuthority() override { server_->Shutdown(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  ::grpc::Status CompleteApproval(::grpc::ServerContext* ctx, const av1::CompleteApprovalRequest* req,
                                  av1::CompleteApprovalResponse*) override {
    absl::Status peer = grpc::RequirePeer(*ctx, {grpc::ServiceSpiffeId("ciba-bridge")});
    absl::MutexLock lock(&mu_);
    calls_.push_back(*req);
    if (!peer.ok()) return grpc::ToGrpcStatus(peer);
    if (fail_first_ > 0) {
      --fail_first_;
      return ::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "authority restarting");
    }
    if (refuse_) return ::grpc::Status(::grpc::StatusCode::PERMISSION_DENIED, "token rejected");
    acked_.push_back(*req);
    return ::grpc::Status::OK;
  }

  void FailFirst(int n) {
    absl::MutexLock lock(&mu_);
    fail_first_ = n;
  }
  void Refuse(bool r) {
    absl::MutexLock lock(&mu_);
    refuse_ = r;
  }
  std::vector<av1::CompleteApprovalRequest> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // The acknowledged result for `approval_id`, waiting up to `timeout`.
  std::optional<av1::CompleteApprovalRequest> WaitForAck(const std::string& approval_id, absl::Duration timeout) {
    std::optional<av1::CompleteApprovalRequest> found;
    WaitUntil(
        [&] {
          absl::MutexLock lock(&mu_);
          for (const auto& c : acked_) {
            if (c.approval_id() == approval_id) found = c;
          }
          return found.has_value();
        },
        timeout);
    return found;
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  mutable absl::Mutex mu_;
  std::vector<av1::CompleteApprovalRequest> calls_, acked_;
  int fail_first_ = 0;
  bool refuse_ = false;
};

// A login role for the test's database, member of cantdo_bridge.
class BridgeLogin {
 public:
  explicit BridgeLogin(const TestDatabase& db) : name_(db.Name() + "_bridge") {
    auto admin = TestDatabase::ConnectAdmin();
    REQUIRE(admin->Exec("CREATE ROLE " + name_ + " LOGIN IN ROLE cantdo_bridge", {}).ok());
    dsn_ = db.Dsn() + " user=" + name_;
  }
  ~BridgeLogin() {
    auto admin = TestDatabase::ConnectAdmin();
    (void)admin->Exec("DROP ROLE IF EXISTS " + name_, {});
  }
  const std::string& dsn() const { return dsn_; }

 private:
  std::string name_, dsn_;
};

// The real binary.
class Bridge {
 public:
  Bridge(cantdo::testing::TestPki& pki, const std::string& dir, const std::string& dsn,
         std::map<std::string, std::string> env)
      : dir_(dir) {
    auto files = pki.WriteFiles(dir, "ciba-bridge");
    env_ = {{"CANTDO_LISTEN", "127.0.0.1:0"},
            {"CANTDO_TLS_CERT", files.cert},
            {"CANTDO_TLS_KEY", files.key},
            {"CANTDO_TLS_CA", files.ca},
            {"CANTDO_DB_DSN", dsn},
            {"CANTDO_SHUTDOWN_GRACE", "1s"},
            {"CANTDO_CIBA_CLIENT_ID", "cantdo-ciba-bridge"},
            {"CANTDO_CIBA_CLIENT_SECRET", DevIdp::kSecret},
            {"CANTDO_CIBA_DEFAULT_POLL_INTERVAL", "1s"},
            {"CANTDO_CIBA_SCAN_INTERVAL", "200ms"},
            {"CANTDO_CIBA_HTTP_TIMEOUT", "2s"},
            {"CANTDO_CIBA_MAX_BACKOFF", "2s"},
            {"CANTDO_LOG_LEVEL", "debug"}};
    for (auto& [k, v] : env) env_[k] = v;
    authority_tls_ = pki.Issue("authority");
    Start();
  }
  void Start() {
    ++starts_;
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{cantdo::testing::BuildDir() + "/services/ciba-bridge/cantdo-ciba-bridge"}, env_,
        dir_ + "/bridge-" + std::to_string(starts_) + ".log");
    auto line = child_->WaitForLogLine("\"msg\":\"listening\"", absl::Seconds(30));
    INFO(child_->Log());
    REQUIRE(line.has_value());
    port_ = nlohmann::json::parse(*line).at("port").get<int>();
    // Logged before "listening" when --metrics-listen is set.
    if (auto m = child_->WaitForLogLine("\"msg\":\"metrics listening\"", absl::Milliseconds(1)); m.has_value()) {
      metrics_port_ = nlohmann::json::parse(*m).at("port").get<int>();
    }
    channel_ = grpc::MakeMtlsChannel("127.0.0.1:" + std::to_string(port_), authority_tls_);
    stub_ = bv1::CibaBridgeService::NewStub(channel_);
  }
  void Kill() {
    child_->Signal(SIGKILL);
    child_->Wait(absl::Seconds(5));
  }
  std::string Log() const { return child_->Log(); }
  ChildProcess& child() { return *child_; }
  int port() const { return port_; }

  // GET /metrics over plain HTTP (CANTDO_METRICS_LISTEN on loopback).
  std::string Metrics() const {
    REQUIRE(metrics_port_ > 0);
    auto got = cantdo::testing::Scrape(metrics_port_, false);
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    REQUIRE(got->status == 200);
    return got->body;
  }

  // Retries while discovery has not succeeded yet (UNAVAILABLE).
  absl::StatusOr<bv1::StartBackchannelAuthenticationResponse> Start(const bv1::StartBackchannelAuthenticationRequest& r,
                                                                    bool wait_ready = true) {
    absl::StatusOr<bv1::StartBackchannelAuthenticationResponse> out;
    for (int i = 0; i < 100; ++i) {
      ::grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      bv1::StartBackchannelAuthenticationResponse resp;
      auto st = grpc::FromGrpcStatus(stub_->StartBackchannelAuthentication(&ctx, r, &resp));
      if (st.ok()) return resp;
      out = st;
      if (!wait_ready || st.message().find("discovery") == std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return out;
  }
  bv1::BackchannelAuthentication Get(const std::string& id) {
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    bv1::GetBackchannelAuthenticationRequest r;
    r.set_id(id);
    bv1::GetBackchannelAuthenticationResponse resp;
    auto st = stub_->GetBackchannelAuthentication(&ctx, r, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp.authentication();
  }

 private:
  std::string dir_;
  std::map<std::string, std::string> env_;
  grpc::TlsMaterial authority_tls_;
  std::unique_ptr<ChildProcess> child_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<bv1::CibaBridgeService::Stub> stub_;
  int port_ = 0;
  int metrics_port_ = 0;
  int starts_ = 0;
};

inline bv1::StartBackchannelAuthenticationRequest StartRequest(const std::string& approval_id,
                                                               const std::string& subject, const std::string& message) {
  bv1::StartBackchannelAuthenticationRequest r;
  r.set_approval_id(approval_id);
  r.set_login_hint(subject);
  r.set_binding_message(message);
  r.set_scope("openid");
  return r;
}

}  // namespace cantdo::bridgetest
