#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "gateway/rate_limiter.hpp"

using cantdo::FakeClock;
using cantdo::GetMetadata;
using cantdo::GetReason;
using cantdo::gateway::RateLimiter;

TEST_CASE("A caller gets its burst at once, then the rate, over it RESOURCE_EXHAUSTED RATE_LIMITED",
          "[unit][gateway]") {
  FakeClock clock;
  RateLimiter limiter(clock, /*rate=*/2, /*burst=*/3);
  for (int i = 0; i < 3; ++i) CHECK(limiter.Admit("platform:a").ok());
  absl::Status refused = limiter.Admit("platform:a");
  CHECK(refused.code() == absl::StatusCode::kResourceExhausted);
  CHECK(GetReason(refused) == "RATE_LIMITED");
  CHECK(GetMetadata(refused)["caller"] == "platform:a");
  CHECK(GetMetadata(refused)["limit"] == "2");
  // Another caller has its own bucket.
  CHECK(limiter.Admit("platform:b").ok());
  // Half a second refills one token at 2/s, not more.
  clock.Advance(absl::Milliseconds(500));
  CHECK(limiter.Admit("platform:a").ok());
  CHECK_FALSE(limiter.Admit("platform:a").ok());
  // A long pause refills only up to the burst.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) CHECK(limiter.Admit("platform:a").ok());
  CHECK_FALSE(limiter.Admit("platform:a").ok());
}

TEST_CASE("Rate 0 disables limiting, the bucket table stays bounded", "[unit][gateway]") {
  FakeClock clock;
  RateLimiter off(clock, 0, 1);
  for (int i = 0; i < 1000; ++i) REQUIRE(off.Admit("x").ok());
  CHECK(off.callers() == 0);
  // A hundred callers, all active: the table never holds more than 4.
  RateLimiter small(clock, 1, 1, /*max_callers=*/4);
  for (int i = 0; i < 100; ++i) {
    CHECK(small.Admit("caller-" + std::to_string(i)).ok());
    CHECK(small.callers() <= 4);
  }
  // Callers idle long enough to be full again go first; an active caller's
  // bucket is kept (it is still limited).
  RateLimiter table(clock, 1, 1, /*max_callers=*/3);
  CHECK(table.Admit("idle-1").ok());
  CHECK(table.Admit("idle-2").ok());
  clock.Advance(absl::Seconds(1));  // both full again
  CHECK(table.Admit("active").ok());
  CHECK(table.Admit("new").ok());  // the table was full: the idle two are dropped
  CHECK(table.callers() == 2);
  CHECK_FALSE(table.Admit("active").ok());
}
