// Issue 18, part 5: an execution credential (a PostgreSQL login on the
// target database) exists only while a committed claim owns it. Two ways it
// used to outlive its claim: a claim transaction that was retried forgot
// the credential its first attempt had made, and an authority killed
// between creating the login and committing the claim left the login
// behind, referenced by nothing, for good.
#include <regex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "integration/authority/authority_harness.hpp"
#include "support/dev_idp.hpp"
#include "support/login_role.hpp"
#include "support/service_process.hpp"
#include "support/wait.hpp"

using namespace cantdo::testing;

namespace {

// Login roles the authority made for `grant_id` (credentials.cpp names them
// cantdo_x_<first 8 characters of the grant id>_<random>).
int64_t RolesOf(const TestDatabase& db, const std::string& grant_id) {
  auto conn = db.Connect();
  auto r = conn->Exec("SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
                      {absl::StrCat("cantdo\\_x\\_", grant_id.substr(0, 8), "\\_%")});
  REQUIRE(r.ok());
  return *r->GetInt64(0, 0);
}

// The real authority binary's environment, on the harness's database,
// bridge, identity provider and target database, sweeping every 200 ms.
std::map<std::string, std::string> AuthorityEnv(AuthorityHarness& h) {
  std::smatch m;
  const std::string admin_dsn = TestDatabase::AdminDsn();
  REQUIRE(std::regex_search(admin_dsn, m, std::regex("@([^:/]+):([0-9]+)/")));
  return {{"CANTDO_POLICY_FILE", h.dir.path() + "/policy.json"},
          {"CANTDO_OIDC_ISSUER", kIssuer},
          {"CANTDO_OIDC_AUDIENCE", kAudience},
          {"CANTDO_OIDC_JWKS_URI", h.dir.path() + "/jwks.json"},
          {"CANTDO_BRIDGE_ADDRESS", "127.0.0.1:" + std::to_string(h.bridge_port)},
          {"CANTDO_TARGET_DB_ADMIN_DSN", h.db.Dsn()},
          {"CANTDO_TARGET_DB_HOST", m[1]},
          {"CANTDO_TARGET_DB_PORT", m[2]},
          {"CANTDO_TARGET_DB_NAME", h.db.Name()},
          {"CANTDO_BACKGROUND_INTERVAL", "200ms"},
          {"CANTDO_CREDENTIAL_ORPHAN_GRACE", "1s"}};
}

std::unique_ptr<av1::AuthorityService::Stub> StubAs(AuthorityHarness& h, const std::string& address,
                                                    const std::string& client) {
  return av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(address, h.pki.Issue(client)));
}

// A refund grant approved by the CFO, requested of and completed at the
// authority at `address` (retried until it is up).
cantdo::common::v1::Grant ApprovedRefund(AuthorityHarness& h, const std::string& address) {
  av1::RequestApprovalResponse requested;
  REQUIRE(WaitUntil(
      [&] {
        ::grpc::ClientContext ctx;
        return StubAs(h, address, "worker")
            ->RequestApproval(AuthorityHarness::Ctx(&ctx), AuthorityHarness::RefundRequest("refund"), &requested)
            .ok();
      },
      absl::Seconds(15)));
  const std::string approval_id = requested.approval().approval_id();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  av1::CompleteApprovalRequest complete;
  complete.set_approval_id(approval_id);
  complete.set_auth_req_id("areq-" + approval_id);
  complete.set_outcome(av1::CIBA_OUTCOME_APPROVED);
  complete.set_id_token(h.idp.Sign({{"iss", kIssuer},
                                    {"aud", kAudience},
                                    {"sub", "cfo1"},
                                    {"iat", now},
                                    {"exp", now + 300},
                                    {"https://cantdo.dev/roles", {"cfo"}},
                                    {"urn:openid:params:jwt:claim:auth_req_id", "areq-" + approval_id}}));
  av1::CompleteApprovalResponse completed;
  REQUIRE(WaitUntil(
      [&] {
        ::grpc::ClientContext ctx;
        return StubAs(h, address, "ciba-bridge")
            ->CompleteApproval(AuthorityHarness::Ctx(&ctx), complete, &completed)
            .ok();
      },
      absl::Seconds(15)));
  REQUIRE(!completed.grant().grant_id().empty());
  return completed.grant();
}

}  // namespace

TEST_CASE("security: a claim transaction that is retried leaves no credential of its first attempt behind",
          "[security][grant_lifecycle]") {
  AuthorityHarness h;
  auto g = h.Grant("refund");
  {
    // The first write of a credential handle fails as a serialization
    // failure would, once: the claim transaction runs again.
    auto conn = h.db.Connect();
    REQUIRE(conn->Exec("CREATE SEQUENCE public.fail_once").ok());
    REQUIRE(conn->Exec(R"sql(
      CREATE FUNCTION public.fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.credential_handle IS NOT NULL AND nextval('public.fail_once') = 1 THEN
          RAISE EXCEPTION 'forced retry' USING ERRCODE = '40001';
        END IF;
        RETURN NEW;
      END $$)sql")
                .ok());
    REQUIRE(conn->Exec("CREATE TRIGGER fail_once BEFORE UPDATE OF credential_handle ON cantdo.grants "
                       "FOR EACH ROW EXECUTE FUNCTION public.fail_once()")
                .ok());
    REQUIRE(conn->Exec("GRANT USAGE ON SEQUENCE public.fail_once TO cantdo_authority").ok());
    REQUIRE(conn->Exec("GRANT USAGE ON SCHEMA public TO cantdo_authority").ok());
  }
  auto claimed = h.Claim(AuthorityHarness::ClaimFor(g, "refund"));
  INFO(claimed.status().ToString());
  REQUIRE(claimed.ok());
  {
    auto conn = h.db.Connect();
    REQUIRE(*conn->Exec("SELECT last_value FROM public.fail_once")->GetInt64(0, 0) >= 2);  // it did retry
  }
  // Only the credential of the attempt that committed exists.
  CHECK(RolesOf(h.db, g.grant_id()) == 1);
  REQUIRE(h.Consume(g.grant_id()).ok());
  CHECK(WaitUntil([&] { return RolesOf(h.db, g.grant_id()) == 0; }, absl::Seconds(30)));
}

TEST_CASE("security: an authority killed between creating a claim's login and committing the claim leaves no login",
          "[security][grant_lifecycle]") {
  AuthorityHarness h;
  // A second authority, the real binary, on the same database, bridge and
  // identity provider: the one that will crash.
  LoginRole login(h.db, "cantdo_authority");
  ServiceProcess authority(h.pki, h.dir.path(), "authority", login.dsn(), AuthorityEnv(h));
  authority.Start({{"CANTDO_FAILPOINT", "authority.claim.after_credential_created"}});
  auto stub = [&] { return StubAs(h, authority.address(), "worker"); };

  // A refund approved by the CFO, through the crashing authority.
  const cantdo::common::v1::Grant grant = ApprovedRefund(h, authority.address());
  const std::string grant_id = grant.grant_id();

  // The claim: the login is created, then the authority dies.
  {
    ::grpc::ClientContext ctx;
    av1::ClaimGrantResponse resp;
    auto st = stub()->ClaimGrant(AuthorityHarness::Ctx(&ctx), AuthorityHarness::ClaimFor(grant, "refund"), &resp);
    CHECK_FALSE(st.ok());
  }
  REQUIRE(authority.WaitExit(absl::Seconds(10)).has_value());
  REQUIRE(RolesOf(h.db, grant_id) == 1);  // the orphan the crash left

  // Back up (no fail point): the orphan is found and dropped; the grant,
  // never claimed, is still usable once.
  authority.Start();
  CHECK(WaitUntil([&] { return RolesOf(h.db, grant_id) == 0; }, absl::Seconds(30)));
  ::grpc::ClientContext ctx;
  av1::ClaimGrantResponse claimed;
  auto st = stub()->ClaimGrant(AuthorityHarness::Ctx(&ctx), AuthorityHarness::ClaimFor(grant, "refund"), &claimed);
  INFO(st.error_message());
  REQUIRE(st.ok());
  CHECK(RolesOf(h.db, grant_id) == 1);
}

TEST_CASE("security: more concurrent claims than the authority has database connections all get their credential",
          "[security][grant_lifecycle]") {
  // Each claim records its credential's intent on a connection of its own
  // while its transaction holds one. From the same pool, two claims on a
  // pool of two held both connections and waited for a third: both failed
  // POOL_EXHAUSTED after ten seconds, and so would every claim in
  // production once as many arrive together as the pool has connections.
  constexpr int kPool = 2;
  constexpr int kClaims = 6;
  AuthorityHarness h(/*require_auth_req_id_claim=*/true, kPool);
  std::vector<cantdo::common::v1::Grant> grants;
  for (int i = 0; i < kClaims; ++i) grants.push_back(h.Grant(absl::StrCat("refund-", i)));
  std::vector<absl::Status> claimed(kClaims);
  {
    std::vector<std::thread> claimers;
    for (int i = 0; i < kClaims; ++i) {
      claimers.emplace_back(
          [&, i] { claimed[i] = h.Claim(AuthorityHarness::ClaimFor(grants[i], absl::StrCat("refund-", i))).status(); });
    }
    for (auto& t : claimers) t.join();
  }
  for (int i = 0; i < kClaims; ++i) {
    INFO("claim " << i << ": " << claimed[i].ToString());
    CHECK(claimed[i].ok());
  }
  for (const auto& g : grants) {
    if (RolesOf(h.db, g.grant_id()) > 0) CHECK(h.Consume(g.grant_id()).ok());
    CHECK(WaitUntil([&] { return RolesOf(h.db, g.grant_id()) == 0; }, absl::Seconds(30)));
  }
}

TEST_CASE(
    "security: an authority killed right after a consume leaves a login that can do nothing, and it is dropped "
    "once an authority is back",
    "[security][grant_lifecycle]") {
  // A consume answers once its grant's login is disabled (scope gone,
  // NOLOGIN, sessions told to end) and drops the login off the caller's
  // path. If the authority dies in between, the login must already be
  // powerless, and the sweeper must drop it. The harness's own authority
  // does not sweep here: only the real binary below may drop the login.
  AuthorityHarness h(/*require_auth_req_id_claim=*/true, /*db_pool_size=*/70, absl::Hours(1));
  LoginRole login(h.db, "cantdo_authority");
  ServiceProcess authority(h.pki, h.dir.path(), "authority", login.dsn(), AuthorityEnv(h));
  authority.Start({{"CANTDO_FAILPOINT", "authority.consume.after_credential_disabled"}});
  const cantdo::common::v1::Grant grant = ApprovedRefund(h, authority.address());

  av1::ClaimGrantResponse claimed;
  {
    ::grpc::ClientContext ctx;
    auto st = StubAs(h, authority.address(), "worker")
                  ->ClaimGrant(AuthorityHarness::Ctx(&ctx), AuthorityHarness::ClaimFor(grant, "refund"), &claimed);
    INFO(st.error_message());
    REQUIRE(st.ok());
  }
  const auto& released = claimed.credential().postgres_login();
  const std::string as_login = h.db.Dsn() + " user=" + released.user() + " password=" + released.password();
  auto open = cantdo::pg::Connection::Connect(as_login, absl::Seconds(5));
  INFO(open.status().ToString());
  REQUIRE(open.ok());
  REQUIRE((*open)->Exec("SELECT 1").ok());

  // The consume commits, the login is disabled, then the authority dies.
  {
    ::grpc::ClientContext ctx;
    av1::ConsumeGrantRequest consume;
    consume.set_grant_id(grant.grant_id());
    consume.set_outcome_digest(std::string(64, 'a'));
    av1::ConsumeGrantResponse resp;
    auto st = StubAs(h, authority.address(), "worker")->ConsumeGrant(AuthorityHarness::Ctx(&ctx), consume, &resp);
    INFO(st.error_message());
    CHECK(st.error_code() == ::grpc::StatusCode::UNAVAILABLE);  // the crash, not a refusal
  }
  REQUIRE(authority.WaitExit(absl::Seconds(10)).has_value());
  auto conn = h.db.Connect();
  CHECK(*conn->Exec("SELECT count(*) FROM cantdo.grants WHERE grant_id = $1::uuid AND state = 'CONSUMED'",
                    {grant.grant_id()})
             ->GetInt64(0, 0) == 1);
  REQUIRE(RolesOf(h.db, grant.grant_id()) == 1);  // not dropped: the crash came first
  // Yet it can do nothing: no new session, and the open one is ended.
  auto again = cantdo::pg::Connection::Connect(as_login, absl::Seconds(5));
  CHECK_FALSE(again.ok());
  CHECK(WaitUntil([&] { return !(*open)->Exec("SELECT 1").ok(); }, absl::Seconds(10)));
  CHECK_FALSE((*open)->Exec("INSERT INTO public.refunds (customer_id, amount_cents) VALUES ('cust-42', 1)").ok());
  CHECK(*conn->Exec("SELECT count(*) FROM public.refunds")->GetInt64(0, 0) == 0);

  // Back up (no fail point): the sweeper drops it and records it once.
  authority.Start();
  CHECK(WaitUntil([&] { return RolesOf(h.db, grant.grant_id()) == 0; }, absl::Seconds(30)));
  CHECK(WaitUntil([&] { return h.LedgerCount("CREDENTIAL_DESTROYED") == 1; }, absl::Seconds(30)));
}
