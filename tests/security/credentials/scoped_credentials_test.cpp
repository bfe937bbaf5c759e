// Issue 17, part 2: "Execution credentials are broader than the approval".
// A refund of 29,973 cents to cus_000042 was approved and claimed; the
// two-minute login released at claim then refunded 9,999,999 cents to
// cus_000043 and refunded again and again; an erasure login could erase
// every customer. Each attack below is replayed with the login a real claim
// released (credential_attack.hpp); it must fail, and the customer database
// must show that it did.

#include "credential_attack.hpp"
#include "support/wait.hpp"

namespace cantdo::testing {
namespace {

constexpr int64_t kApprovedCents = 29'973;
constexpr int64_t kAttackCents = 9'999'999;

std::string Approved() { return demo::CustomerId(42); }
std::string Victim() { return demo::CustomerId(43); }

// A refund or an erasure login for the approved customer, claimed, with a
// session open on it.
struct Released {
  av1::ClaimGrantResponse claimed;
  std::unique_ptr<pg::Connection> open;
  int64_t users = 0;  // the approved customer's, at the claim
};

Released ClaimAndOpen(CredentialAttack& a, bool refund) {
  Released r;
  r.claimed = refund ? a.ApproveAndClaim(a.Refund(Approved(), kApprovedCents), "cfo1", "cfo")
                     : a.ApproveAndClaim(a.Erasure(Approved()), "dpo1", "dpo");
  auto open = CredentialAttack::LogIn(r.claimed.credential().postgres_login());
  INFO(open.status().ToString());
  REQUIRE(open.ok());
  r.open = *std::move(open);
  r.users = a.Users(Approved());
  return r;
}

// As soon as the consume has answered, the login is refused and the session
// opened with it changes nothing; the login is dropped moments later.
void CheckPowerless(CredentialAttack& a, Released& r, bool refund) {
  const auto& login = r.claimed.credential().postgres_login();
  CHECK_FALSE(CredentialAttack::LogIn(login).ok());
  const absl::Status late =
      refund ? CredentialAttack::TryRefund(*r.open, Approved(), kApprovedCents, a.Currency(Approved()), "late")
             : CredentialAttack::TryErase(*r.open, Approved(), "late");
  INFO(late.ToString());
  CHECK_FALSE(late.ok());
  CHECK(WaitUntil([&] { return !a.RoleExists(login.user()); }, absl::Seconds(30)));
  CHECK(a.RefundRows(Approved()) == 0);
  CHECK(a.Users(Approved()) == r.users);
}

}  // namespace

TEST_CASE("credentials: a refund login refunds the approved customer once, at most the approved amount, nothing else",
          "[security][credentials]") {
  CredentialAttack a;
  const std::string currency = a.Currency(Approved());
  auto claimed = a.ApproveAndClaim(a.Refund(Approved(), kApprovedCents), "cfo1", "cfo");
  auto login = CredentialAttack::LogIn(claimed.credential().postgres_login());
  INFO(login.status().ToString());
  REQUIRE(login.ok());
  pg::Connection& as = **login;

  SECTION("another customer, the issue's 9,999,999 cents and the approved amount") {
    for (int64_t cents : {kAttackCents, kApprovedCents}) {
      auto st = CredentialAttack::TryRefund(as, Victim(), cents, a.Currency(Victim()),
                                            "attack-other-" + std::to_string(cents));
      INFO(st.ToString());
      CHECK_FALSE(st.ok());
      CHECK(pg::SqlStateOf(st) == "42501");
    }
    CHECK(a.RefundRows(Victim()) == 0);
  }
  SECTION("more than approved") {
    for (int64_t cents : {kApprovedCents + 1, kAttackCents}) {
      auto st = CredentialAttack::TryRefund(as, Approved(), cents, currency, "attack-more-" + std::to_string(cents));
      INFO(st.ToString());
      CHECK_FALSE(st.ok());
      CHECK(pg::SqlStateOf(st) == "42501");
    }
    CHECK(a.RefundRows(Approved()) == 0);
  }
  SECTION("twice: the approved refund once, then ten more") {
    auto first = CredentialAttack::TryRefund(as, Approved(), kApprovedCents, currency, "refund-1");
    INFO(first.ToString());
    REQUIRE(first.ok());
    for (int i = 2; i <= 11; ++i) {
      auto again = CredentialAttack::TryRefund(as, Approved(), 1, currency, "refund-" + std::to_string(i));
      INFO(again.ToString());
      CHECK_FALSE(again.ok());
    }
    CHECK(a.RefundRows(Approved()) == 1);
    CHECK(a.h.Count("SELECT coalesce(sum(amount_cents), 0) FROM platform.refunds WHERE customer_id = $1",
                    {Approved()}) == kApprovedCents);
  }
  SECTION("erase the customer it refunds, or any other") {
    for (const std::string& customer : {Approved(), Victim()}) {
      const int64_t users = a.Users(customer);
      REQUIRE(users > 0);
      auto st = CredentialAttack::TryErase(as, customer, "attack-erase");
      INFO(st.ToString());
      CHECK_FALSE(st.ok());
      CHECK(a.Users(customer) == users);
    }
  }
  SECTION("a second session of the same login refunds nothing once the first has") {
    auto other = CredentialAttack::LogIn(claimed.credential().postgres_login());
    REQUIRE(other.ok());
    REQUIRE(CredentialAttack::TryRefund(as, Approved(), kApprovedCents, currency, "refund-1").ok());
    CHECK_FALSE(CredentialAttack::TryRefund(**other, Approved(), kApprovedCents, currency, "refund-2").ok());
    CHECK(a.RefundRows(Approved()) == 1);
  }
}

TEST_CASE("credentials: an erasure login erases its approved customer and no other", "[security][credentials]") {
  CredentialAttack a;
  auto claimed = a.ApproveAndClaim(a.Erasure(Approved()), "dpo1", "dpo");
  auto login = CredentialAttack::LogIn(claimed.credential().postgres_login());
  INFO(login.status().ToString());
  REQUIRE(login.ok());
  pg::Connection& as = **login;
  const std::string currency = a.Currency(Victim());

  const int64_t victim_users = a.Users(Victim());
  const int64_t all_users = a.h.Count("SELECT count(*) FROM platform.users");
  REQUIRE(victim_users > 0);
  auto other = CredentialAttack::TryErase(as, Victim(), "attack-erase-other");
  INFO(other.ToString());
  CHECK_FALSE(other.ok());
  CHECK(pg::SqlStateOf(other) == "42501");
  // Everyone at once, and the personal columns of the others.
  for (const char* sql :
       {"DELETE FROM platform.users", "DELETE FROM platform.sessions",
        "UPDATE platform.customers SET contact_email = NULL", "UPDATE platform.invoices SET billing_name = NULL"}) {
    auto st = as.Exec(sql);
    INFO(sql << ": " << st.status().ToString());
    CHECK(pg::SqlStateOf(st.status()) == "42501");
  }
  CHECK(a.Users(Victim()) == victim_users);
  CHECK(a.h.Count("SELECT count(*) FROM platform.customers WHERE contact_email IS NULL") == 0);
  // Nor can it refund.
  CHECK_FALSE(CredentialAttack::TryRefund(as, Victim(), 100, currency, "attack-refund").ok());
  CHECK(a.RefundRows(Victim()) == 0);

  // What was approved, it can do.
  const int64_t own_users = a.Users(Approved());
  auto erased = CredentialAttack::TryErase(as, Approved(), "erase-1");
  INFO(erased.ToString());
  REQUIRE(erased.ok());
  CHECK(a.Users(Approved()) == 0);
  CHECK(a.h.Count("SELECT count(*) FROM platform.users") == all_users - own_users);
}

TEST_CASE("credentials: after consume the login cannot log in, and its open session can do nothing",
          "[security][credentials]") {
  const bool refund = GENERATE(true, false);
  INFO((refund ? "refund" : "erasure"));
  CredentialAttack a;
  Released r = ClaimAndOpen(a, refund);
  REQUIRE(a.Consume(r.claimed.grant().grant_id()).ok());
  CheckPowerless(a, r, refund);
}

TEST_CASE("credentials: after the grant expires the login cannot log in, and its open session can do nothing",
          "[security][credentials]") {
  const bool refund = GENERATE(true, false);
  INFO((refund ? "refund" : "erasure"));
  CredentialAttack a;
  Released r = ClaimAndOpen(a, refund);
  // Past the grant's expiry (deploy/policy.json: grant_ttl 15m); the
  // authority's sweeper expires it and destroys its credential.
  a.h.clock.Advance(absl::Minutes(16));
  const std::string user = r.claimed.credential().postgres_login().user();
  REQUIRE(WaitUntil([&] { return !a.RoleExists(user); }, absl::Seconds(30)));
  CheckPowerless(a, r, refund);
}

TEST_CASE(
    "credentials: once the credential's own lifetime is over the login can do nothing, the grant still "
    "claimed",
    "[security][credentials]") {
  CredentialAttack a;
  // The authority's clock five minutes behind the database's: the
  // two-minute credential it releases ended three minutes ago, as if the
  // claimer had sat on it that long.
  a.h.clock.Set(absl::Now() - absl::Minutes(5));
  auto claimed = a.ApproveAndClaim(a.Refund(Approved(), kApprovedCents), "cfo1", "cfo");
  CHECK(claimed.grant().state() == cv1::GRANT_STATE_CLAIMED);
  // Where PostgreSQL checks passwords it refuses the login (VALID UNTIL).
  // It checks VALID UNTIL only then: a session opened in time outlives it,
  // and a server that trusts the connection (as the test cluster trusts
  // loopback) never checks it; so the database must refuse the refund too.
  auto login = CredentialAttack::LogIn(claimed.credential().postgres_login());
  if (login.ok()) {
    auto st = CredentialAttack::TryRefund(**login, Approved(), kApprovedCents, a.Currency(Approved()), "late");
    INFO(st.ToString());
    CHECK_FALSE(st.ok());
  }
  CHECK(a.RefundRows(Approved()) == 0);
}

}  // namespace cantdo::testing
