// Each of the four real binaries starts against a real database as its own
// least-privilege role, serves TLS only, reports SERVING on grpc.health.v1
// only when the schema is current, answers reflection, serves its metrics,
// and stops cleanly on SIGTERM.
#include <catch2/catch.hpp>

#include <google/protobuf/empty.pb.h>
#include <grpcpp/impl/codegen/client_unary_call.h>

#include <signal.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "cantdo/db/migrations.hpp"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/pg/migrator.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcurl/reflection_client.hpp"
#include "support/child_process.hpp"
#include "support/dev_idp.hpp"
#include "support/token_signer.hpp"
#include "support/login_role.hpp"
#include "support/prometheus_checks.hpp"
#include "support/scrape.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"

namespace cg = cantdo::grpc;
using cantdo::testing::ChildProcess;
using cantdo::testing::TestDatabase;
using HealthStatus = ::grpc::health::v1::HealthCheckResponse;

namespace {

struct ServiceCase {
  std::string name;                   // binary cantdo-<name>, directory services/<name>
  std::string role;                   // its Postgres role
  std::vector<std::string> services;  // what reflection must list
};

const std::vector<ServiceCase>& Cases() {
  static const std::vector<ServiceCase> cases = {
      {"gateway",
       "cantdo_gateway",
       {"cantdo.gateway.v1.WorkflowService", "cantdo.gateway.v1.AuthorizationService",
        "cantdo.gateway.v1.LedgerService"}},
      {"authority", "cantdo_authority", {"cantdo.authority.v1.AuthorityService"}},
      {"worker", "cantdo_worker", {}},
      {"ciba-bridge", "cantdo_bridge", {"cantdo.bridge.v1.CibaBridgeService"}},
  };
  return cases;
}

using cantdo::testing::LoginRole;

// The authority's own configuration: a policy and the provider's keys.
std::map<std::string, std::string> AuthorityEnv(const std::string& dir) {
  cantdo::testing::TokenSigner idp("k1", cantdo::testing::TokenSigner::Alg::kRS256);
  std::ofstream(dir + "/jwks.json") << idp.Jwks();
  std::ofstream(dir + "/policy.json") << R"({"version": "t", "approvers": {"cfo": ["cfo1"]},
    "rules": [{"action": "refund.issue", "decision": "REQUIRE_APPROVAL", "required_role": "cfo"}]})";
  return {{"CANTDO_POLICY_FILE", dir + "/policy.json"},
          {"CANTDO_OIDC_ISSUER", "https://idp.test/"},
          {"CANTDO_OIDC_AUDIENCE", "cantdo"},
          {"CANTDO_OIDC_JWKS_URI", dir + "/jwks.json"}};
}

struct Running {
  cantdo::testing::TempDir dir;
  std::unique_ptr<ChildProcess> child;
  int port = 0;
  std::shared_ptr<::grpc::Channel> channel;

  Running(cantdo::testing::TestPki& pki, const ServiceCase& c, const std::string& dsn,
          std::map<std::string, std::string> env = {}) {
    auto files = pki.WriteFiles(dir.path(), c.name);
    env.merge(std::map<std::string, std::string>{{"CANTDO_LISTEN", "127.0.0.1:0"},
                                                 {"CANTDO_TLS_CERT", files.cert},
                                                 {"CANTDO_TLS_KEY", files.key},
                                                 {"CANTDO_TLS_CA", files.ca},
                                                 {"CANTDO_DB_DSN", dsn},
                                                 {"CANTDO_SHUTDOWN_GRACE", "2s"}});
    if (c.name == "authority" && !env.count("CANTDO_POLICY_FILE")) env.merge(AuthorityEnv(dir.path()));
    // The gateway dials the authority lazily: any address lets it start.
    if (c.name == "gateway" && !env.count("CANTDO_AUTHORITY_ADDRESS")) env["CANTDO_AUTHORITY_ADDRESS"] = "127.0.0.1:1";
    child = std::make_unique<ChildProcess>(
        std::vector<std::string>{cantdo::testing::BuildDir() + "/services/" + c.name + "/cantdo-" + c.name}, env,
        dir.path() + "/log.jsonl");
    auto line = child->WaitForLogLine("\"msg\":\"listening\"", absl::Seconds(30));
    INFO(child->Log());
    REQUIRE(line.has_value());
    port = nlohmann::json::parse(*line).at("port").get<int>();
    channel = cg::MakeMtlsChannel("127.0.0.1:" + std::to_string(port), pki.Issue("operator"));
    if (auto m = child->WaitForLogLine("\"msg\":\"metrics listening\"", absl::Milliseconds(1)); m.has_value()) {
      auto fields = nlohmann::json::parse(*m);
      metrics_port = fields.at("port").get<int>();
      metrics_tls = fields.at("scheme") == "https";
    }
  }

  // GET /metrics as Prometheus would.
  std::string Metrics(const std::string& ca_file) {
    REQUIRE(metrics_port > 0);
    auto got = cantdo::testing::Scrape(metrics_port, metrics_tls, ca_file);
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    REQUIRE(got->status == 200);
    return got->body;
  }
  int metrics_port = 0;
  bool metrics_tls = false;

  HealthStatus::ServingStatus Health() {
    auto stub = ::grpc::health::v1::Health::NewStub(channel);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ::grpc::health::v1::HealthCheckRequest req;
    HealthStatus resp;
    auto st = stub->Check(&ctx, req, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp.status();
  }

  HealthStatus::ServingStatus WaitForHealth(HealthStatus::ServingStatus want) {
    auto got = Health();
    for (int i = 0; i < 150 && got != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      got = Health();
    }
    return got;
  }
};

}  // namespace

TEST_CASE("every service starts, is SERVING, lists its API by reflection and stops on SIGTERM",
          "[integration][services]") {
  TestDatabase db(TestDatabase::kMigrated);
  cantdo::testing::TestPki pki;
  cantdo::testing::TempDir idp_dir;
  cantdo::testing::DevIdp idp(pki, idp_dir.path());
  for (const auto& c : Cases()) {
    DYNAMIC_SECTION(c.name) {
      LoginRole login(db, c.role);
      std::map<std::string, std::string> env;
      if (c.name == "ciba-bridge") {
        env = {{"CANTDO_CIBA_ISSUER", idp.issuer()},
               {"CANTDO_CIBA_CLIENT_ID", "cantdo-ciba-bridge"},
               {"CANTDO_CIBA_CLIENT_SECRET", cantdo::testing::DevIdp::kSecret},
               {"CANTDO_CIBA_CA_FILE", idp.ca_file()},
               {"CANTDO_AUTHORITY_ADDRESS", "127.0.0.1:1"}};
      }
      // The worker is SERVING only when the authority answers and its
      // customer platform's database does (docs/offboarding.md).
      std::unique_ptr<TestDatabase> platform;
      std::unique_ptr<Running> authority;
      if (c.name == "worker") {
        platform = std::make_unique<TestDatabase>();
        authority = std::make_unique<Running>(pki, Cases()[1], db.Dsn());
        env = {{"CANTDO_AUTHORITY_ADDRESS", "127.0.0.1:" + std::to_string(authority->port)},
               {"CANTDO_CUSTOMER_DB_DSN", platform->Dsn()}};
      }
      Running r(pki, c, login.dsn(), env);
      INFO(r.child->Log());
      CHECK(r.WaitForHealth(HealthStatus::SERVING) == HealthStatus::SERVING);

      cantdo::grpcurl::ReflectionClient reflection(r.channel, {});
      auto listed = reflection.ListServices();
      REQUIRE(listed.ok());
      CHECK(std::count(listed->begin(), listed->end(), "grpc.health.v1.Health") == 1);
      for (const auto& s : c.services) {
        CHECK(std::count(listed->begin(), listed->end(), s) == 1);
        REQUIRE(reflection.Load(s).ok());  // describe works
        CHECK(reflection.pool().FindServiceByName(s) != nullptr);
      }

      r.child->Signal(SIGTERM);
      CHECK(r.child->Wait(absl::Seconds(15)) == std::optional<int>(0));
      CHECK(r.child->Log().find("\"msg\":\"stopped\"") != std::string::npos);
    }
  }
}

TEST_CASE("a service whose schema is behind reports NOT_SERVING until migrated", "[integration][services]") {
  TestDatabase db(TestDatabase::kEmpty);
  cantdo::testing::TestPki pki;
  Running r(pki, Cases()[1], db.Dsn());
  INFO(r.child->Log());
  CHECK(r.Health() == HealthStatus::NOT_SERVING);

  // Apply the migrations with the real command; health follows.
  ChildProcess migrate({cantdo::testing::BuildDir() + "/tools/migrate/cantdo-migrate", "--dsn=" + db.Dsn(), "up"}, {},
                       r.dir.path() + "/migrate.log");
  REQUIRE(migrate.Wait(absl::Seconds(60)) == std::optional<int>(0));
  CHECK(r.WaitForHealth(HealthStatus::SERVING) == HealthStatus::SERVING);
}

// The previous release's real binary against the next release's schema: an
// expand-only migration declares that binaries up to this build's newest
// version still work (docs/database.md, "Compatibility window"), so the
// running pods stay SERVING while the next release's migration Job runs;
// a migration without a window takes them out.
TEST_CASE("the previous release's binary is SERVING on the next release's expand-only schema, not after a strict one",
          "[integration][services][schema]") {
  TestDatabase db(TestDatabase::kMigrated);
  cantdo::testing::TestPki pki;
  LoginRole login(db, "cantdo_authority");

  const int current = cantdo::db::LatestVersion();
  auto next = cantdo::db::AllMigrations();
  next.push_back({current + 1, "next_release_expand",
                  absl::StrFormat("-- compatibility: binaries-from=V%04d requires=V%04d\n"
                                  "CREATE TABLE cantdo.next_release_expand (id bigint PRIMARY KEY);\n",
                                  current, current + 1)});
  auto admin = db.Connect();
  REQUIRE(cantdo::pg::Migrator(next).Apply(*admin).ok());

  // This build is the previous release now. Its first readiness check runs
  // before it listens, against the newer schema.
  Running r(pki, Cases()[1], login.dsn());
  INFO(r.child->Log());
  CHECK(r.Health() == HealthStatus::SERVING);
  // And the init container's command of this release lets new pods start.
  ChildProcess compatible(
      {cantdo::testing::BuildDir() + "/tools/migrate/cantdo-migrate", "--dsn=" + login.dsn(), "compatible"}, {},
      r.dir.path() + "/compatible.log");
  CHECK(compatible.Wait(absl::Seconds(60)) == std::optional<int>(0));

  // A contract step without a window: this build is now too old.
  next.push_back({current + 2, "next_release_contract", "DROP TABLE cantdo.next_release_expand;\n"});
  REQUIRE(cantdo::pg::Migrator(next).Apply(*admin).ok());
  CHECK(r.WaitForHealth(HealthStatus::NOT_SERVING) == HealthStatus::NOT_SERVING);
  ChildProcess refused(
      {cantdo::testing::BuildDir() + "/tools/migrate/cantdo-migrate", "--dsn=" + login.dsn(), "compatible"}, {},
      r.dir.path() + "/refused.log");
  CHECK(refused.Wait(absl::Seconds(60)) == std::optional<int>(1));
  CHECK(refused.Log().find("SCHEMA_TOO_NEW") != std::string::npos);
}

TEST_CASE("a service refuses to start with a clear message on bad configuration", "[integration][services]") {
  cantdo::testing::TempDir dir;
  ChildProcess child(
      {cantdo::testing::BuildDir() + "/services/authority/cantdo-authority", "--db-pool-size=0", "--listen=nocolon"},
      {{"CANTDO_TLS_CERT", ""}, {"CANTDO_DB_DSN", ""}}, dir.path() + "/log");
  REQUIRE(child.Wait(absl::Seconds(30)) == std::optional<int>(2));
  const std::string log = child.Log();
  INFO(log);
  CHECK(log.find("--tls-cert (or CANTDO_TLS_CERT) is required") != std::string::npos);
  CHECK(log.find("--db-pool-size must be 1..1000") != std::string::npos);
  CHECK(log.find("--listen must be host:port") != std::string::npos);
}

TEST_CASE("a service whose certificate files are missing exits non-zero and says which", "[integration][services]") {
  cantdo::testing::TempDir dir;
  ChildProcess child({cantdo::testing::BuildDir() + "/services/worker/cantdo-worker"},
                     {{"CANTDO_TLS_CERT", dir.path() + "/nope.pem"},
                      {"CANTDO_TLS_KEY", dir.path() + "/nope.key"},
                      {"CANTDO_TLS_CA", dir.path() + "/ca.pem"},
                      {"CANTDO_DB_DSN", "host=127.0.0.1 port=1"},
                      {"CANTDO_AUTHORITY_ADDRESS", "127.0.0.1:1"},
                      {"CANTDO_CUSTOMER_DB_DSN", "host=127.0.0.1 port=1"},
                      {"CANTDO_LISTEN", "127.0.0.1:0"}},
                     dir.path() + "/log");
  REQUIRE(child.Wait(absl::Seconds(30)) == std::optional<int>(1));
  CHECK(child.Log().find("nope.pem") != std::string::npos);
}

TEST_CASE("cantdo-grpcurl lists, describes and calls a real service the way grpcurl does", "[integration][services]") {
  TestDatabase db(TestDatabase::kMigrated);
  cantdo::testing::TestPki pki;
  Running r(pki, Cases()[1], db.Dsn());
  REQUIRE(r.WaitForHealth(HealthStatus::SERVING) == HealthStatus::SERVING);
  auto client = pki.WriteFiles(r.dir.path(), "operator");
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {cantdo::testing::BuildDir() + "/tools/grpcurl/cantdo-grpcurl",
                                     "-cacert",
                                     client.ca,
                                     "-cert",
                                     client.cert,
                                     "-key",
                                     client.key,
                                     "127.0.0.1:" + std::to_string(r.port)};
    argv.insert(argv.end(), args.begin(), args.end());
    auto out =
        std::make_unique<ChildProcess>(argv, std::map<std::string, std::string>{}, r.dir.path() + "/grpcurl.out");
    auto code = out->Wait(absl::Seconds(30));
    return std::make_pair(code.value_or(-1), out->Log());
  };

  auto [list_code, list] = run({"list", "cantdo.authority.v1.AuthorityService"});
  CHECK(list_code == 0);
  CHECK(list.find("cantdo.authority.v1.AuthorityService.ClaimGrant") != std::string::npos);

  auto [desc_code, desc] = run({"describe", "cantdo.common.v1.Grant"});
  CHECK(desc_code == 0);
  CHECK(desc.find("parameters_hash") != std::string::npos);

  // Byte for byte what grpcurl v1.8.7 prints for these calls (its format.go
  // and cmd/grpcurl; tests/unit/grpcurl has the derivation).
  auto [health_code, health] = run({"grpc.health.v1.Health/Check"});
  CHECK(health_code == 0);
  CHECK(health == "{\n  \"status\": \"SERVING\"\n}\n");

  // An operator may not read the authority's policy: PERMISSION_DENIED
  // (grpcurl's exit code 64+7), with the machine-readable reason shown.
  auto [call_code, call] = run({"-d", "{}", "cantdo.authority.v1.AuthorityService/GetPolicy"});
  CHECK(call_code == 71);
  CHECK(call ==
        "ERROR:\n"
        "  Code: PermissionDenied\n"
        "  Message: caller 'spiffe://cantdo/operator' may not call this method; "
        "allowed: spiffe://cantdo/worker, spiffe://cantdo/gateway, spiffe://cantdo/admin\n"
        "  Details:\n"
        "  1)\t{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"domain\":\"cantdo.dev\","
        "\"reason\":\"CALLER_NOT_ALLOWED\"}\n");

  // Not a call: a request that is not JSON for the method exits 1, a
  // command line without a method 2 (grpcurl's fail() and usage).
  auto [bad_code, bad] = run({"-d", "{\"noSuchField\":1}", "cantdo.authority.v1.AuthorityService/GetPolicy"});
  CHECK(bad_code == 1);
  CHECK(bad.find("Error invoking method \"cantdo.authority.v1.AuthorityService/GetPolicy\": ") != std::string::npos);
  auto [usage_code, usage] = run({});
  CHECK(usage_code == 2);
  CHECK(usage.find("Too few arguments.") != std::string::npos);
}

// The name of a status code as the metrics label it.
std::string CodeName(::grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  return kNames[static_cast<int>(code)];
}

TEST_CASE(
    "every service serves /metrics (HTTPS with its own certificate, or HTTP on loopback): the runtime's "
    "families, its own, a real call counted, and promtool check metrics passes",
    "[integration][services][metrics]") {
  TestDatabase db(TestDatabase::kMigrated);
  cantdo::testing::TestPki pki;
  cantdo::testing::TempDir idp_dir;
  cantdo::testing::DevIdp idp(pki, idp_dir.path());
  // What each service's own metrics say on a fresh, idle database.
  const std::map<std::string, std::vector<std::string>> own = {
      {"gateway", {}},
      {"authority",
       {R"(cantdo_authority_approvals_pending{required_role="cfo"} 0)",
        R"(cantdo_authority_grant_transitions_total{transition="claimed"} 0)",
        "cantdo_authority_ledger_pending_entries 0"}},
      {"worker",
       {R"(cantdo_worker_tasks_waiting{kind="workflow",task_queue="offboarding"} 0)",
        "cantdo_worker_activities_started_total 0"}},
      {"ciba-bridge", {"cantdo_bridge_requests_pending 0", "cantdo_bridge_token_polls_total 0"}},
  };
  for (const auto& c : Cases()) {
    DYNAMIC_SECTION(c.name) {
      LoginRole login(db, c.role);
      // HTTP on loopback for two, HTTPS (on loopback, by --metrics-tls) for
      // the other two.
      const bool tls = c.name == "authority" || c.name == "worker";
      std::map<std::string, std::string> env = {{"CANTDO_METRICS_LISTEN", "127.0.0.1:0"},
                                                {"CANTDO_METRICS_TLS", tls ? "true" : "false"}};
      if (c.name == "ciba-bridge") {
        env.merge(std::map<std::string, std::string>{{"CANTDO_CIBA_ISSUER", idp.issuer()},
                                                     {"CANTDO_CIBA_CLIENT_ID", "cantdo-ciba-bridge"},
                                                     {"CANTDO_CIBA_CLIENT_SECRET", cantdo::testing::DevIdp::kSecret},
                                                     {"CANTDO_CIBA_CA_FILE", idp.ca_file()},
                                                     {"CANTDO_AUTHORITY_ADDRESS", "127.0.0.1:1"}});
      }
      std::unique_ptr<TestDatabase> platform;
      std::unique_ptr<Running> authority;
      if (c.name == "worker") {
        platform = std::make_unique<TestDatabase>();
        authority = std::make_unique<Running>(pki, Cases()[1], db.Dsn());
        env.merge(std::map<std::string, std::string>{
            {"CANTDO_AUTHORITY_ADDRESS", "127.0.0.1:" + std::to_string(authority->port)},
            {"CANTDO_CUSTOMER_DB_DSN", platform->Dsn()}});
      }
      Running r(pki, c, login.dsn(), env);
      INFO(r.child->Log());
      REQUIRE(r.WaitForHealth(HealthStatus::SERVING) == HealthStatus::SERVING);
      CHECK(r.metrics_tls == tls);
      const std::string ca = pki.WriteFiles(r.dir.path(), "prometheus").ca;

      // A real call of the service's API (or, for the worker, which has
      // none, health), whatever it answers, is counted under its code.
      std::string service = "grpc.health.v1.Health", method = "Check";
      if (!c.services.empty()) service = c.services[0];
      if (c.name == "gateway") method = "GetWorkflow";
      if (c.name == "authority") method = "GetPolicy";
      if (c.name == "ciba-bridge") method = "GetBackchannelAuthentication";
      const std::string before = r.Metrics(ca);
      const std::string series = "cantdo_grpc_server_handled_total{grpc_service=\"" + service + "\",grpc_method=\"" +
                                 method + "\",grpc_code=\"";
      ::grpc::StatusCode code;
      {
        ::grpc::internal::RpcMethod rpc(("/" + service + "/" + method).c_str(), ::grpc::internal::RpcMethod::NORMAL_RPC,
                                        r.channel);
        ::grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        google::protobuf::Empty req, resp;
        code = ::grpc::internal::BlockingUnaryCall(r.channel.get(), rpc, &ctx, req, &resp).error_code();
      }
      const std::string m = r.Metrics(ca);
      const std::string counted = series + CodeName(code) + "\"}";
      INFO(counted);
      CHECK(cantdo::testing::SampleValue(m, counted).value_or(0) ==
            cantdo::testing::SampleValue(before, counted).value_or(0) + 1);

      CHECK(cantdo::testing::SampleValue(m, "cantdo_build_info{service=\"" + c.name + "\",version=\"0.1.0\"}") == 1);
      CHECK(cantdo::testing::SampleValue(m, "cantdo_db_up") == 1);
      CHECK(cantdo::testing::SampleValue(m, "cantdo_service_ready") == 1);
      CHECK(cantdo::testing::SampleValue(m, "cantdo_db_pool_open_connections").value_or(0) >= 1);
      CHECK(cantdo::testing::SampleValue(m, R"(cantdo_db_pool_connection_errors_total{kind="connect"})") == 0);
      CHECK(cantdo::testing::SampleValue(m, "process_resident_memory_bytes").value_or(0) > 0);
      CHECK(cantdo::testing::SampleValue(m, "process_start_time_seconds").value_or(0) > 0);
      for (const auto& line : own.at(c.name)) {
        INFO(line);
        CHECK(m.find("\n" + line + "\n") != std::string::npos);
      }
      cantdo::testing::CheckPromtoolClean(m);
      r.child->Signal(SIGTERM);
      CHECK(r.child->Wait(absl::Seconds(15)) == std::optional<int>(0));
    }
  }
}

TEST_CASE("a service refuses --metrics-listen that is not host:port, and starts without metrics when it is empty",
          "[integration][services][metrics]") {
  cantdo::testing::TempDir dir;
  ChildProcess child({cantdo::testing::BuildDir() + "/services/authority/cantdo-authority", "--metrics-listen=9464"},
                     {}, dir.path() + "/log");
  REQUIRE(child.Wait(absl::Seconds(30)) == std::optional<int>(2));
  CHECK(child.Log().find("--metrics-listen must be host:port") != std::string::npos);

  TestDatabase db(TestDatabase::kMigrated);
  cantdo::testing::TestPki pki;
  Running r(pki, Cases()[1], db.Dsn());
  INFO(r.child->Log());
  CHECK(r.metrics_port == 0);
  CHECK(r.child->Log().find("metrics listening") == std::string::npos);
}
