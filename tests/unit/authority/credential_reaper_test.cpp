#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "authority/credential_reaper.hpp"
#include "cantdo/base/trace_context.hpp"
#include "support/wait.hpp"

using cantdo::authority::CredentialReaper;
using cantdo::testing::WaitUntil;

namespace {

cantdo::common::v1::Grant GrantNamed(const std::string& id) {
  cantdo::common::v1::Grant g;
  g.set_grant_id(id);
  return g;
}

// A destruction that counts its calls and blocks until released.
struct BlockingDestroy {
  absl::Notification release;
  std::atomic<int> calls{0};
  std::atomic<int> returned{0};
  CredentialReaper::Destroy Fn() {
    return [this](const cantdo::common::v1::Grant&, const std::string&) {
      ++calls;
      release.WaitForNotification();
      ++returned;
      return absl::OkStatus();
    };
  }
};

}  // namespace

TEST_CASE(
    "CredentialReaper destroys every queued credential once, a failure included, off the caller's thread, "
    "under the enqueuer's trace",
    "[unit][authority]") {
  std::mutex mu;
  std::multiset<std::string> destroyed;
  CredentialReaper reaper(
      [&](const cantdo::common::v1::Grant& g, const std::string& handle) {
        std::lock_guard<std::mutex> lock(mu);
        destroyed.insert(g.grant_id() + "/" + handle + "@" + cantdo::trace::CurrentTraceId());
        return handle == "fails" ? absl::UnavailableError("target down") : absl::OkStatus();
      },
      16);
  CHECK(reaper.Enqueue(GrantNamed("g1"), "role1"));
  {
    cantdo::trace::ScopedTrace traced("00-5a1e0f7c2b9d4e8fa6c3d1b0e9f87654-00f067aa0ba902b7-01");
    CHECK(reaper.Enqueue(GrantNamed("g2"), "fails"));
  }
  CHECK(reaper.Enqueue(GrantNamed("g3"), "role3"));
  REQUIRE(WaitUntil([&] { return reaper.Pending() == 0; }, absl::Seconds(10), absl::Milliseconds(5)));
  std::lock_guard<std::mutex> lock(mu);
  CHECK(destroyed == std::multiset<std::string>{"g1/role1@", "g2/fails@5a1e0f7c2b9d4e8fa6c3d1b0e9f87654", "g3/role3@"});
}

TEST_CASE("CredentialReaper refuses work beyond its capacity (the sweeper's) and stops with work still queued",
          "[unit][authority]") {
  BlockingDestroy destroy;
  auto& calls = destroy.calls;
  {
    CredentialReaper reaper(destroy.Fn(), 2);
    REQUIRE(reaper.Enqueue(GrantNamed("busy"), "r0"));
    REQUIRE(WaitUntil([&] { return calls.load() == 1; }, absl::Seconds(10), absl::Milliseconds(5)));
    // r0 is in hand; two fit in the queue, the third does not.
    CHECK(reaper.Enqueue(GrantNamed("a"), "r1"));
    CHECK(reaper.Enqueue(GrantNamed("b"), "r2"));
    CHECK_FALSE(reaper.Enqueue(GrantNamed("c"), "r3"));
    CHECK(reaper.Pending() == 3);
    destroy.release.Notify();
    // Destruction returns; whatever was still queued is left undone.
  }
  CHECK(calls >= 1);
  CHECK(calls <= 3);
}

TEST_CASE("CredentialReaper holds a credential from its queueing until its destruction returns, once per handle",
          "[unit][authority]") {
  BlockingDestroy destroy;
  auto& calls = destroy.calls;
  CredentialReaper reaper(destroy.Fn(), 4);
  CHECK_FALSE(reaper.Holds("r0"));
  REQUIRE(reaper.Enqueue(GrantNamed("g0"), "r0"));
  REQUIRE(WaitUntil([&] { return calls.load() == 1; }, absl::Seconds(10), absl::Milliseconds(5)));
  CHECK(reaper.Holds("r0"));  // in hand
  REQUIRE(reaper.Enqueue(GrantNamed("g1"), "r1"));
  CHECK(reaper.Holds("r1"));                      // queued
  CHECK(reaper.Enqueue(GrantNamed("g1"), "r1"));  // already held: not queued twice
  CHECK(reaper.Pending() == 2);
  destroy.release.Notify();
  REQUIRE(WaitUntil([&] { return reaper.Pending() == 0; }, absl::Seconds(10), absl::Milliseconds(5)));
  CHECK_FALSE(reaper.Holds("r0"));
  CHECK_FALSE(reaper.Holds("r1"));
  CHECK(calls == 2);
}

TEST_CASE("CredentialReaper::Stop returns only after the destruction in hand has, and refuses work from then on",
          "[unit][authority]") {
  BlockingDestroy destroy;
  CredentialReaper reaper(destroy.Fn(), 4);
  REQUIRE(reaper.Enqueue(GrantNamed("g0"), "r0"));
  REQUIRE(WaitUntil([&] { return destroy.calls.load() == 1; }, absl::Seconds(10), absl::Milliseconds(5)));
  REQUIRE(reaper.Enqueue(GrantNamed("g1"), "r1"));
  std::thread releaser([&] { destroy.release.Notify(); });
  reaper.Stop();  // the authority's shutdown, before the pool goes
  releaser.join();
  CHECK(destroy.returned.load() == destroy.calls.load());  // nothing still running
  CHECK_FALSE(reaper.Enqueue(GrantNamed("g2"), "r2"));
  reaper.Stop();  // idempotent
}
