// authority_claim_consume: claim+consume pairs against a real authority.
//
// Starts the authority in-process exactly as the service binary wires it
// (runtime::StartService: gRPC over mutual TLS on loopback, a pg::Pool of
// --pool-size connections) against its own freshly migrated database, then
// for each client count runs claim+consume pairs over gRPC for a fixed
// duration, --runs times. Each client is a thread with its own channel (its
// own HTTP/2 connection, as separate workers would have) and its own
// certificate for spiffe://cantdo/worker.
//
// Setup is NOT measured and does not go through the CIBA path: before each
// run the grants the run may use are inserted with SQL (an APPROVED approval
// and an ISSUED grant each, no ledger entry for the issue). Two kinds:
// - plain: `customer_data.delete` grants that release no execution
//   credential, so a claim creates no PostgreSQL role; what is measured is
//   the grant state machine and its ledger entries, the shape pgbench is
//   compared with;
// - scoped: `refund.issue` grants whose claim releases a scoped PostgreSQL
//   login on the demo customer platform (a second database of the same
//   server, migrated with db/demo/migrations, which include the
//   scoped-credentials template): each claim creates the role and records
//   its scope in one transaction there, each consume deletes the scope and
//   drops the role (docs/scoped-credentials.md). The login is never used.
//
// Ledger checkpoints (docs/security.md, "Checkpoints"), measured in the same
// run: the plain pairs also against a second authority, identical but for
// signed checkpoints on (a key, a directory, --ledger-checkpoint-interval
// 1s), on its own database, interleaved run by run with the first; the
// Merkle tree is maintained by both (it is part of chaining).
//
// Metrics (docs/operations.md, "Metrics"), measured in the same run: the
// plain pairs also against a third authority, identical but for
// --metrics-listen (loopback HTTP), so its gRPC calls go through the metrics
// interceptor, scraped every second while its runs go on (GET /metrics, as
// Prometheus does, which also runs its database collectors), on its own
// database, interleaved run by run with the first (which serves no metrics:
// no interceptor), the two taking turns going first. Grant transitions are counted by both (one atomic add).
//
// The transport floor, measured in the same run: the same client loop
// against the authority's API served by the same server bootstrap
// (cantdo::grpc::Server: mutual TLS, the access-log interceptor, the same
// request threads), whose ClaimGrant and ConsumeGrant check the caller and
// answer from memory. Its pairs/s is the most any authority on this
// transport could do on this machine with a database that cost nothing.
//
// Output: one JSON document on stdout (every run, plus the median of each
// figure per client count); progress on stderr. bench/run merges it with
// the pgbench baseline.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "authority/authority_app.hpp"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/demo/demo_platform.hpp"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/server.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/pg/connection.hpp"
#include "support/bench_support.hpp"
#include "support/scrape.hpp"
#include "support/test_pki.hpp"

namespace {

using cantdo::bench::AddRunOptions;
using cantdo::bench::Check;
using cantdo::bench::Connect;
using cantdo::bench::Die;
using cantdo::bench::FreshDatabase;
using cantdo::bench::FreshMigratedDatabase;
using cantdo::bench::ParseCounts;
using cantdo::bench::ParseOrExit;

namespace av1 = cantdo::authority::v1;
using Clock = std::chrono::steady_clock;

constexpr char kDatabase[] = "cantdo_bench_authority";
constexpr char kPlatformDatabase[] = "cantdo_bench_platform";
constexpr char kCheckpointedDatabase[] = "cantdo_bench_authority_checkpointed";
constexpr char kMetricsDatabase[] = "cantdo_bench_authority_metrics";
constexpr char kWorker[] = "spiffe://cantdo/worker";
constexpr char kAction[] = "customer_data.delete";
constexpr char kScopedAction[] = "refund.issue";
// deploy/policy.json's credential target for refunds.
constexpr char kScopedGroup[] = "may_issue_refunds";
// What a refund's approval binds, in canonical JSON (RFC 8785: sorted
// names, no spaces), as the authority hashes it.
constexpr char kScopedParameters[] = R"({"amount_cents":29973,"currency":"EUR","customer_id":"cus_000042"})";

struct Options : cantdo::bench::RunOptions {
  std::vector<int> clients = {1, 8, 32};
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  std::string clients = "1,8,32";
  cantdo::Options flags("authority_claim_consume", "claim+consume pairs through a real authority, against pgbench");
  AddRunOptions(flags, &o);
  flags.String("clients", &clients, "concurrent clients per configuration, e.g. 1,8,32").Check([&] {
    return ParseCounts(clients, "clients", &o.clients);
  });
  ParseOrExit(flags, argc, argv);
  return o;
}

// What a run's grants are for.
enum class Kind { kPlain, kScoped, kFloor, kCheckpointed, kMetricsOn };

// Where a kind's pairs go: the authority's gRPC address and its database.
struct Endpoint {
  std::string target;
  std::string dsn;
};

struct GrantShape {
  std::string action;
  std::string parameters;  // canonical JSON, as approved
  std::string role;        // the approver's
  std::string credential_kind;
  std::string credential_target;
};

GrantShape ShapeOf(Kind kind) {
  if (kind == Kind::kScoped) return {kScopedAction, kScopedParameters, "cfo", "POSTGRES_ROLE", kScopedGroup};
  return {kAction, "{}", "dpo", "", ""};
}

// Ids are md5(workflow "/" step): without the separator, wf-bench-1 step 10
// and wf-bench-11 step 0 collided.
// Inserts `n` ISSUED grants (with their APPROVED approvals) for the worker,
// in workflow `workflow`, steps s-0..s-(n-1); returns their ids in order.
std::vector<std::string> MintGrants(cantdo::pg::Connection& conn, const std::string& workflow, int n,
                                    const GrantShape& shape) {
  const std::string count = std::to_string(n);
  Check(conn.Exec("INSERT INTO cantdo.approvals (approval_id, principal, requester, workflow_id, run_id, step, action, "
                  "resource, parameters, parameters_hash, state, required_role, approver_subject, binding_message, "
                  "policy_version, policy_hash, create_time, decide_time, expire_time, grant_id) "
                  "SELECT md5('a' || $1 || '/' || i)::uuid, $2, 'ops1', $1, 'run-1', 's-' || i, $3, '', $5::text, "
                  "encode(sha256(convert_to($5::text, 'UTF8')), 'hex'), 'APPROVED', $6, $6 || '1', 'Bench', 'bench-1', "
                  "'bench', now(), now(), now() + interval '1 hour', md5('g' || $1 || '/' || i)::uuid "
                  "FROM generate_series(0, $4::int - 1) AS i",
                  {workflow, kWorker, shape.action, count, shape.parameters, shape.role})
            .status(),
        "insert approvals");
  Check(
      conn.Exec(
              "INSERT INTO cantdo.grants (grant_id, approval_id, state, workflow_id, run_id, step, action, "
              "resource, parameters_hash, approver_subjects, policy_version, policy_hash, principal, issue_time, "
              "expire_time, credential_kind, credential_target) "
              "SELECT md5('g' || $1 || '/' || i)::uuid, md5('a' || $1 || '/' || i)::uuid, 'ISSUED', $1, 'run-1', 's-' "
              "|| i, "
              "$3, '', encode(sha256(convert_to($5::text, 'UTF8')), 'hex'), ARRAY[$6 || '1'], 'bench-1', 'bench', $2, "
              "now(), now() + interval '1 hour', $7, $8 FROM generate_series(0, $4::int - 1) AS i",
              {workflow, kWorker, shape.action, count, shape.parameters, shape.role, shape.credential_kind,
               shape.credential_target})
          .status(),
      "insert grants");
  Check(conn.Exec("ANALYZE cantdo.grants").status(), "analyze");
  // The same derivation as above, in step order.
  auto r =
      conn.Exec("SELECT md5('g' || $1 || '/' || i)::uuid::text FROM generate_series(0, $2::int - 1) AS i ORDER BY i",
                {workflow, count});
  Check(r.status(), "grant ids");
  std::vector<std::string> ids;
  ids.reserve(n);
  for (int i = 0; i < r->Rows(); ++i) ids.push_back(*r->GetString(i, 0));
  return ids;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The authority's claim and consume with no database behind them: the
// caller check the real service does, then a grant as the real responses
// carry it (its bindings and times), built in memory.
class NoDatabaseAuthority final : public av1::AuthorityService::Service {
 public:
  ::grpc::Status ClaimGrant(::grpc::ServerContext* ctx, const av1::ClaimGrantRequest* req,
                            av1::ClaimGrantResponse* resp) override {
    if (auto st = cantdo::grpc::RequirePeer(*ctx, {kWorker}); !st.ok()) return cantdo::grpc::ToGrpcStatus(st);
    Fill(req->grant_id(), cantdo::common::v1::GRANT_STATE_CLAIMED, resp->mutable_grant());
    return ::grpc::Status::OK;
  }
  ::grpc::Status ConsumeGrant(::grpc::ServerContext* ctx, const av1::ConsumeGrantRequest* req,
                              av1::ConsumeGrantResponse* resp) override {
    if (auto st = cantdo::grpc::RequirePeer(*ctx, {kWorker}); !st.ok()) return cantdo::grpc::ToGrpcStatus(st);
    Fill(req->grant_id(), cantdo::common::v1::GRANT_STATE_CONSUMED, resp->mutable_grant());
    resp->mutable_grant()->set_outcome_digest(req->outcome_digest());
    return ::grpc::Status::OK;
  }

 private:
  // Fields as the real grant of this benchmark has them (approval and
  // policy hash as long as real ones).
  static void Fill(const std::string& id, const cantdo::common::v1::GrantState state, cantdo::common::v1::Grant* g) {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    g->set_grant_id(id);
    g->set_state(state);
    g->set_approval_id(id);
    g->set_workflow_id("wf-bench-0");
    g->set_run_id("run-1");
    g->set_step("s-0");
    g->set_action(kAction);
    g->set_parameters_hash(std::string(64, '0'));
    g->add_approver_subjects("dpo1");
    g->set_policy_version("bench-1");
    g->set_policy_hash(std::string(64, '0'));
    g->set_principal(kWorker);
    g->mutable_issue_time()->set_seconds(now);
    g->mutable_expire_time()->set_seconds(now + 3600);
    g->mutable_claim_time()->set_seconds(now);
    if (state == cantdo::common::v1::GRANT_STATE_CONSUMED) g->mutable_consume_time()->set_seconds(now);
  }
};

struct RunResult {
  int clients = 0;
  double seconds = 0;
  int64_t pairs = 0;
  int64_t errors = 0;
  bool exhausted = false;
  double pairs_per_s = 0;
  double claim_p50_ms = 0, claim_p99_ms = 0, consume_p50_ms = 0, consume_p99_ms = 0, pair_p50_ms = 0, pair_p99_ms = 0;
  // Scoped: seconds from the run's end until every login it released was
  // dropped (the consume answers once a login is disabled; the authority's
  // reaper drops it right after). The next run starts only then.
  double drain_s = 0;
  std::string first_error;
};

class Bench {
 public:
  // `endpoints`: one per kind (kScoped shares kPlain's); kFloor's has no
  // database. `platform_dsn`: the scoped logins' target database.
  Bench(std::map<Kind, Endpoint> endpoints, cantdo::testing::TestPki& pki, std::string platform_dsn)
      : endpoints_(std::move(endpoints)), pki_(pki), platform_dsn_(std::move(platform_dsn)) {}

  // Runs `clients` claim+consume loops for `seconds` (after `warmup`
  // seconds whose pairs are not counted). `budget` grants of `kind` are
  // minted first; running out ends the run early and is reported.
  // Kind::kFloor: the same loop against the no-database server, with
  // made-up grant ids.
  RunResult Run(int clients, double warmup, double seconds, int budget, Kind kind) {
    const bool floor = kind == Kind::kFloor;
    const std::string workflow = absl::StrCat("wf-bench-", batch_++);
    const GrantShape shape = ShapeOf(kind);
    google::protobuf::Struct parameters;
    if (!google::protobuf::util::JsonStringToMessage(shape.parameters, &parameters).ok()) Die("bad parameters");
    std::vector<std::string> grants;
    if (floor) {
      grants.reserve(budget);
      for (int i = 0; i < budget; ++i) grants.push_back(absl::StrCat("00000000-0000-4000-8000-", 100000000000LL + i));
    } else {
      auto conn = Connect(endpoints_.at(kind).dsn);
      grants = MintGrants(*conn, workflow, budget, shape);
    }
    const std::string& target = endpoints_.at(kind).target;
    std::atomic<int> next{0};
    std::atomic<bool> measuring{false}, stop{false}, exhausted{false};
    std::atomic<int64_t> errors{0};
    std::mutex mu;
    std::string first_error;
    std::vector<double> claim_ms, consume_ms, pair_ms;

    std::vector<std::unique_ptr<av1::AuthorityService::Stub>> stubs;
    for (int c = 0; c < clients; ++c) {
      stubs.push_back(av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(target, pki_.Issue("worker"))));
    }
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        std::vector<double> my_claim, my_consume, my_pair;
        auto fail = [&](const ::grpc::Status& st) {
          ++errors;
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) first_error = st.error_message();
        };
        while (!stop.load(std::memory_order_relaxed)) {
          const int i = next.fetch_add(1);
          if (i >= static_cast<int>(grants.size())) {
            exhausted = true;
            break;
          }
          av1::ClaimGrantRequest claim;
          claim.set_grant_id(grants[i]);
          claim.mutable_action()->set_action(shape.action);
          *claim.mutable_action()->mutable_parameters() = parameters;
          claim.mutable_action()->set_workflow_id(workflow);
          claim.mutable_action()->set_run_id("run-1");
          claim.mutable_action()->set_step(absl::StrCat("s-", i));
          claim.set_idempotency_key(absl::StrCat("key-", i));
          av1::ClaimGrantResponse claimed;
          const bool counted = measuring.load(std::memory_order_relaxed);
          const auto t0 = Clock::now();
          ::grpc::ClientContext claim_ctx;
          claim_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          ::grpc::Status st = stubs[c]->ClaimGrant(&claim_ctx, claim, &claimed);
          const auto t1 = Clock::now();
          if (!st.ok()) {
            fail(st);
            continue;
          }
          av1::ConsumeGrantRequest consume;
          consume.set_grant_id(grants[i]);
          consume.set_outcome_digest(std::string(64, 'a'));
          av1::ConsumeGrantResponse consumed;
          ::grpc::ClientContext consume_ctx;
          consume_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          st = stubs[c]->ConsumeGrant(&consume_ctx, consume, &consumed);
          const auto t2 = Clock::now();
          if (!st.ok()) {
            fail(st);
            continue;
          }
          // A pair counts if it started inside the window; the window's end
          // stops new pairs, so in-flight ones finish and are counted.
          if (counted) {
            my_claim.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            my_consume.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
            my_pair.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        claim_ms.insert(claim_ms.end(), my_claim.begin(), my_claim.end());
        consume_ms.insert(consume_ms.end(), my_consume.begin(), my_consume.end());
        pair_ms.insert(pair_ms.end(), my_pair.begin(), my_pair.end());
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
    const auto start = Clock::now();
    measuring = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    measuring = false;
    const auto end = Clock::now();
    stop = true;
    for (auto& t : threads) t.join();

    RunResult r;
    r.clients = clients;
    r.seconds = std::chrono::duration<double>(end - start).count();
    r.pairs = static_cast<int64_t>(pair_ms.size());
    r.errors = errors.load();
    r.exhausted = exhausted.load();
    r.first_error = first_error;
    r.pairs_per_s = static_cast<double>(r.pairs) / r.seconds;
    r.claim_p50_ms = Percentile(claim_ms, 0.50);
    r.claim_p99_ms = Percentile(claim_ms, 0.99);
    r.consume_p50_ms = Percentile(consume_ms, 0.50);
    r.consume_p99_ms = Percentile(consume_ms, 0.99);
    r.pair_p50_ms = Percentile(pair_ms, 0.50);
    r.pair_p99_ms = Percentile(pair_ms, 0.99);
    if (kind == Kind::kScoped) r.drain_s = WaitForScopedLoginsDropped(end);
    return r;
  }

 private:
  std::map<Kind, Endpoint> endpoints_;
  cantdo::testing::TestPki& pki_;
  std::string platform_dsn_;
  int batch_ = 0;

  // Waits (up to two minutes) until no released login is left on the
  // target; returns the seconds since `since`.
  double WaitForScopedLoginsDropped(Clock::time_point since) {
    auto platform = Connect(platform_dsn_);
    const auto deadline = Clock::now() + std::chrono::minutes(2);
    for (;;) {
      auto left = platform->Exec("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'cantdo\\_x\\_%'");
      Check(left.status(), "scoped logins left");
      if (*left->GetInt64(0, 0) == 0 || Clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::chrono::duration<double>(Clock::now() - since).count();
  }
};

// GET /metrics from 127.0.0.1:`port` every second while started, as
// Prometheus scrapes; counts the scrapes and how long they took.
class Scraper {
 public:
  explicit Scraper(int port) : port_(port) {}
  ~Scraper() { Stop(); }

  void Start() {
    Stop();
    stop_ = false;
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        const auto t0 = Clock::now();
        auto got = cantdo::testing::PlainHttp(port_, "GET", "/metrics");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        {
          std::lock_guard<std::mutex> lock(mu_);
          // A scrape that did not return the grant counters is a failure.
          if (got.ok() && got->status == 200 &&
              got->body.find("cantdo_authority_grant_transitions_total") != std::string::npos) {
            ++scrapes_;
            bytes_ = got->body.size();
            max_ms_ = std::max(max_ms_, ms);
          } else {
            ++failures_;
          }
        }
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_.load(); });
      }
    });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  nlohmann::json Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    return {{"scrapes", scrapes_}, {"failures", failures_}, {"bytes", bytes_}, {"max_ms", max_ms_}};
  }

 private:
  const int port_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{true};
  std::thread thread_;
  int64_t scrapes_ = 0, failures_ = 0;
  size_t bytes_ = 0;
  double max_ms_ = 0;
};

nlohmann::json ToJson(const RunResult& r) {
  nlohmann::json j = {{"clients", r.clients},
                      {"seconds", r.seconds},
                      {"pairs", r.pairs},
                      {"errors", r.errors},
                      {"grants_exhausted", r.exhausted},
                      {"pairs_per_s", r.pairs_per_s},
                      {"claim_p50_ms", r.claim_p50_ms},
                      {"claim_p99_ms", r.claim_p99_ms},
                      {"consume_p50_ms", r.consume_p50_ms},
                      {"consume_p99_ms", r.consume_p99_ms},
                      {"pair_p50_ms", r.pair_p50_ms},
                      {"pair_p99_ms", r.pair_p99_ms},
                      {"drain_s", r.drain_s}};
  if (!r.first_error.empty()) j["first_error"] = r.first_error;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  const std::string db_dsn = FreshMigratedDatabase(options.admin_dsn, kDatabase);
  const std::string checkpointed_dsn = FreshMigratedDatabase(options.admin_dsn, kCheckpointedDatabase);
  const std::string metrics_dsn = FreshMigratedDatabase(options.admin_dsn, kMetricsDatabase);
  // The target of the scoped credentials: the demo platform's schema (no
  // customers needed; the logins are never used).
  const std::string platform_dsn = FreshDatabase(options.admin_dsn, kPlatformDatabase);
  Check(cantdo::demo::Migrate(*Connect(platform_dsn)).status(), "migrate " + std::string(kPlatformDatabase));

  cantdo::testing::TempDir dir;
  cantdo::testing::TestPki pki;
  nlohmann::json policy = {{"version", "bench-1"},
                           {"role_claim", "https://cantdo.dev/roles"},
                           {"approvers", {{"dpo", {"dpo1"}}, {"cfo", {"cfo1"}}}},
                           {"rules",
                            {{{"action", kAction}, {"decision", "REQUIRE_APPROVAL"}, {"required_role", "dpo"}},
                             {{"action", kScopedAction},
                              {"decision", "REQUIRE_APPROVAL"},
                              {"required_role", "cfo"},
                              {"credential", {{"kind", "POSTGRES_ROLE"}, {"target", kScopedGroup}}}}}}};
  std::ofstream(dir.path() + "/policy.json") << policy.dump(2);
  std::ofstream(dir.path() + "/jwks.json") << R"({"keys":[]})";
  auto files = pki.WriteFiles(dir.path(), "authority");

  cantdo::authority::AuthorityApp app;
  auto& c = app.config();
  c.policy_file = dir.path() + "/policy.json";
  c.oidc_issuer = "https://idp.bench/";
  c.oidc_audience = "cantdo-authority";
  c.oidc_jwks_uri = dir.path() + "/jwks.json";
  // The released logins' host and port are never used here.
  c.target_db_admin_dsn = platform_dsn;
  c.target_db_name = kPlatformDatabase;
  cantdo::runtime::CommonConfig common;
  common.listen = "127.0.0.1:0";
  common.tls_cert = files.cert;
  common.tls_key = files.key;
  common.tls_ca = files.ca;
  common.db_dsn = db_dsn;
  common.db_pool_size = options.pool_size;
  common.shutdown_grace = absl::Seconds(2);
  common.log_level = "warn";  // as --log-level warn: no per-call access log
  cantdo::log::Init("bench", cantdo::log::Level::kWarn);
  auto started = cantdo::runtime::StartService(app, common, cantdo::SystemClock());
  Check(started.status(), "start authority");
  std::unique_ptr<cantdo::runtime::RunningService> service = *std::move(started);
  const std::string target = "127.0.0.1:" + std::to_string(service->port());

  // The same authority with ledger checkpoints on, on its own database.
  cantdo::authority::AuthorityApp checkpointed_app;
  checkpointed_app.config() = c;
  auto ledger_key = cantdo::tlog::NoteSigner::Generate("cantdo.bench/ledger");
  Check(ledger_key.status(), "ledger key");
  checkpointed_app.config().ledger_signing_key = ledger_key->SignerKey();
  checkpointed_app.config().ledger_checkpoint_dir = dir.path() + "/checkpoints";
  checkpointed_app.config().ledger_checkpoint_interval = absl::Seconds(1);
  cantdo::runtime::CommonConfig checkpointed_common = common;
  checkpointed_common.db_dsn = checkpointed_dsn;
  auto checkpointed_started =
      cantdo::runtime::StartService(checkpointed_app, checkpointed_common, cantdo::SystemClock());
  Check(checkpointed_started.status(), "start the checkpointing authority");
  std::unique_ptr<cantdo::runtime::RunningService> checkpointed = *std::move(checkpointed_started);
  const std::string checkpointed_target = "127.0.0.1:" + std::to_string(checkpointed->port());

  // The same authority serving its metrics, on its own database.
  cantdo::authority::AuthorityApp metrics_app;
  metrics_app.config() = c;
  cantdo::runtime::CommonConfig metrics_common = common;
  metrics_common.db_dsn = metrics_dsn;
  metrics_common.metrics_listen = "127.0.0.1:0";  // plain HTTP: loopback
  auto metrics_started = cantdo::runtime::StartService(metrics_app, metrics_common, cantdo::SystemClock());
  Check(metrics_started.status(), "start the authority serving metrics");
  std::unique_ptr<cantdo::runtime::RunningService> with_metrics = *std::move(metrics_started);
  const std::string metrics_target = "127.0.0.1:" + std::to_string(with_metrics->port());
  Scraper scraper(with_metrics->metrics_port());

  // The transport floor: the same bootstrap, no database.
  NoDatabaseAuthority no_database;
  cantdo::grpc::ServerConfig floor_config;
  floor_config.service_name = "authority-floor";
  floor_config.listen_address = "127.0.0.1:0";
  floor_config.tls = pki.Issue("authority");
  floor_config.shutdown_grace = absl::Seconds(2);
  auto floor_server = cantdo::grpc::Server::Start(floor_config, {&no_database}, [] { return absl::OkStatus(); });
  Check(floor_server.status(), "start the no-database server");
  const std::string floor_target = "127.0.0.1:" + std::to_string((*floor_server)->port());

  Bench bench({{Kind::kPlain, {target, db_dsn}},
               {Kind::kScoped, {target, db_dsn}},
               {Kind::kCheckpointed, {checkpointed_target, checkpointed_dsn}},
               {Kind::kMetricsOn, {metrics_target, metrics_dsn}},
               {Kind::kFloor, {floor_target, ""}}},
              pki, platform_dsn);
  nlohmann::json out = {
      {"benchmark", "authority_claim_consume"}, {"pool_size", options.pool_size}, {"duration_s", options.duration_s},
      {"warmup_s", options.warmup_s},           {"runs", options.runs},           {"results", nlohmann::json::array()}};
  // pairs/s of each kind; raised to what each run measured
  std::map<Kind, double> last_rate = {
      {Kind::kPlain, 2000}, {Kind::kScoped, 2000}, {Kind::kCheckpointed, 2000}, {Kind::kMetricsOn, 2000}};
  for (int clients : options.clients) {
    std::map<Kind, std::vector<RunResult>> runs;
    for (int i = 0; i < options.runs; ++i) {
      // Metrics on and off take turns going first, so a machine getting
      // busier or quieter during a run does not favour one side.
      const std::vector<Kind> order =
          i % 2 == 0 ? std::vector<Kind>{Kind::kPlain, Kind::kMetricsOn, Kind::kCheckpointed, Kind::kScoped}
                     : std::vector<Kind>{Kind::kMetricsOn, Kind::kPlain, Kind::kCheckpointed, Kind::kScoped};
      for (Kind kind : order) {
        const char* name = kind == Kind::kScoped         ? "scoped credentials "
                           : kind == Kind::kCheckpointed ? "checkpoints on "
                           : kind == Kind::kMetricsOn    ? "metrics on "
                                                         : "";
        // Enough grants for the run at four times the last observed rate
        // (more clients may be much faster; running out would cut the run
        // short).
        const int budget =
            static_cast<int>(std::max(2000.0, 4.0 * last_rate[kind] * (options.duration_s + options.warmup_s + 1)));
        if (kind == Kind::kMetricsOn) scraper.Start();
        RunResult r = bench.Run(clients, options.warmup_s, options.duration_s, budget, kind);
        if (kind == Kind::kMetricsOn) scraper.Stop();
        std::cerr << "authority_claim_consume: " << name << "clients=" << clients << " run=" << i + 1
                  << " pairs/s=" << r.pairs_per_s << " claim p99=" << r.claim_p99_ms
                  << "ms consume p99=" << r.consume_p99_ms << "ms pair p50=" << r.pair_p50_ms
                  << "ms p99=" << r.pair_p99_ms << "ms errors=" << r.errors
                  << (kind == Kind::kScoped ? absl::StrCat(" drained in ", r.drain_s, "s") : std::string())
                  << (r.exhausted ? " (grants exhausted)" : "") << "\n";
        if (r.pairs_per_s > 0) last_rate[kind] = r.pairs_per_s;
        runs[kind].push_back(std::move(r));
      }
      // Ids enough for 20,000 pairs/s, beyond what two calls per pair can do here.
      const int ids = static_cast<int>(20000 * (options.duration_s + options.warmup_s + 1));
      RunResult f = bench.Run(clients, options.warmup_s, options.duration_s, ids, Kind::kFloor);
      std::cerr << "authority_claim_consume: no-database floor clients=" << clients << " run=" << i + 1
                << " pairs/s=" << f.pairs_per_s << " pair p50=" << f.pair_p50_ms << "ms p99=" << f.pair_p99_ms
                << "ms errors=" << f.errors << (f.exhausted ? " (ids exhausted)" : "") << "\n";
      runs[Kind::kFloor].push_back(std::move(f));
    }
    int64_t errors = 0;
    bool exhausted = false;
    // The medians of one kind's runs, and the runs.
    auto summary = [&](const std::vector<RunResult>& of) {
      auto median = [&](double RunResult::*f) {
        std::vector<double> v;
        for (const auto& r : of) v.push_back(r.*f);
        return Median(v);
      };
      nlohmann::json each = nlohmann::json::array();
      for (const auto& r : of) {
        each.push_back(ToJson(r));
        errors += r.errors;
        exhausted = exhausted || r.exhausted;
      }
      return nlohmann::json{{"pairs_per_s", median(&RunResult::pairs_per_s)},
                            {"claim_p50_ms", median(&RunResult::claim_p50_ms)},
                            {"claim_p99_ms", median(&RunResult::claim_p99_ms)},
                            {"consume_p50_ms", median(&RunResult::consume_p50_ms)},
                            {"consume_p99_ms", median(&RunResult::consume_p99_ms)},
                            {"pair_p50_ms", median(&RunResult::pair_p50_ms)},
                            {"pair_p99_ms", median(&RunResult::pair_p99_ms)},
                            {"drain_s", median(&RunResult::drain_s)},
                            {"runs", each}};
    };
    nlohmann::json row = summary(runs[Kind::kPlain]);
    row["clients"] = clients;
    row["scoped"] = summary(runs[Kind::kScoped]);
    row["checkpoints_on"] = summary(runs[Kind::kCheckpointed]);
    row["metrics_on"] = summary(runs[Kind::kMetricsOn]);
    row["floor"] = summary(runs[Kind::kFloor]);
    row["errors"] = errors;
    row["grants_exhausted"] = exhausted;
    out["results"].push_back(std::move(row));
  }
  {
    auto conn = Connect(db_dsn);
    auto r = conn->Exec("SELECT (SELECT count(*) FROM cantdo.grants), (SELECT count(*) FROM cantdo.ledger)");
    Check(r.status(), "counts");
    out["grants_rows_at_end"] = *r->GetInt64(0, 0);
    out["ledger_rows_at_end"] = *r->GetInt64(0, 1);
    // Every scoped login consumed is gone, with its scope.
    auto platform = Connect(platform_dsn);
    auto left = platform->Exec(
        "SELECT (SELECT count(*) FROM cantdo_scope.credentials), (SELECT count(*) FROM pg_roles WHERE rolname LIKE "
        "'cantdo\\_x\\_%')");
    Check(left.status(), "scoped credentials left");
    out["scoped_credentials_left"] = *left->GetInt64(0, 0);
    out["scoped_roles_left"] = *left->GetInt64(0, 1);
  }
  {
    // The checkpointing authority signed its ledger as it grew.
    auto conn = Connect(checkpointed_dsn);
    auto r = conn->Exec("SELECT (SELECT count(*) FROM cantdo.ledger), (SELECT count(*) FROM cantdo.ledger_tree)");
    Check(r.status(), "checkpointed counts");
    out["checkpointed_ledger_rows_at_end"] = *r->GetInt64(0, 0);
    out["checkpointed_tree_rows_at_end"] = *r->GetInt64(0, 1);
    out["checkpoint_size_at_end"] = checkpointed_app.checkpointer()->Latest().size;
  }
  // The scrapes taken while the metrics-on runs went on (all of them).
  out["metrics_scrapes"] = scraper.Summary();
  (*floor_server)->Shutdown();
  with_metrics->Shutdown();
  checkpointed->Shutdown();
  service->Shutdown();
  std::cout << out.dump(2) << std::endl;
  return 0;
}
