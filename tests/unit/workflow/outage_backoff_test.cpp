// OutageBackoff: how a worker thread waits out an unreachable database
// (capped exponential backoff with jitter, reset by an answer) and which
// failures it logs. Pure policy: delays are computed, never slept.

#include <vector>

#include <catch2/catch.hpp>

#include "absl/status/status.h"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/sql_state.hpp"
#include "cantdo/workflow/internal/outage_backoff.hpp"

namespace {

using cantdo::workflow::internal::IsDatabaseUnavailable;
using cantdo::workflow::internal::OutageBackoff;
using cantdo::workflow::internal::OutageBackoffOptions;
using cantdo::workflow::internal::OutageLog;

OutageBackoffOptions Options() {
  OutageBackoffOptions o;
  o.initial = absl::Milliseconds(100);
  o.max = absl::Milliseconds(1600);
  o.multiplier = 2.0;
  o.log_every_at_max = 3;
  return o;
}

}  // namespace

TEST_CASE("OutageBackoff: the ceiling doubles per failure up to the cap", "[unit][workflow]") {
  OutageBackoff b(Options());
  std::vector<absl::Duration> ceilings;
  for (int i = 0; i < 7; ++i) {
    ceilings.push_back(b.next_ceiling());
    b.Failed(0.0);
  }
  CHECK(ceilings == std::vector<absl::Duration>{absl::Milliseconds(100), absl::Milliseconds(200),
                                                absl::Milliseconds(400), absl::Milliseconds(800),
                                                absl::Milliseconds(1600), absl::Milliseconds(1600),
                                                absl::Milliseconds(1600)});
  CHECK(b.failures() == 7);
}

TEST_CASE("OutageBackoff: jitter picks the delay between half the ceiling and the ceiling", "[unit][workflow]") {
  for (double jitter : {0.0, 0.25, 0.5, 0.999999, 1.0, -3.0, 7.0}) {
    OutageBackoff b(Options());
    for (int i = 0; i < 4; ++i) b.Failed(0.0);  // ceiling now 1600 ms
    const absl::Duration delay = b.Failed(jitter).delay;
    INFO("jitter " << jitter << " delay " << absl::FormatDuration(delay));
    CHECK(delay >= absl::Milliseconds(800));
    CHECK(delay < absl::Milliseconds(1600));
  }
  OutageBackoff lo(Options()), hi(Options());
  CHECK(lo.Failed(0.0).delay == absl::Milliseconds(50));
  CHECK(hi.Failed(0.5).delay == absl::Milliseconds(75));
}

TEST_CASE("OutageBackoff: an answer from the database starts the next outage over", "[unit][workflow]") {
  OutageBackoff b(Options());
  CHECK_FALSE(b.Succeeded());  // no outage to end
  for (int i = 0; i < 6; ++i) b.Failed(0.0);
  CHECK(b.Succeeded());  // ended one
  CHECK(b.failures() == 0);
  CHECK(b.next_ceiling() == absl::Milliseconds(100));
  const OutageBackoff::Step first = b.Failed(0.0);
  CHECK(first.failures == 1);
  CHECK(first.log);  // a new outage's first failure is logged again
}

TEST_CASE("OutageBackoff: one log line a backoff step, not one a retry", "[unit][workflow]") {
  OutageBackoff b(Options());
  std::vector<int> logged;
  for (int i = 1; i <= 12; ++i) {
    if (b.Failed(0.5).log) logged.push_back(i);
  }
  // 100, 200, 400, 800 ms, the first at the 1600 ms cap, then every third
  // failure at the cap.
  CHECK(logged == std::vector<int>{1, 2, 3, 4, 5, 8, 11});
}

TEST_CASE("OutageLog: a Worker logs each rung once, whichever thread reaches it", "[unit][workflow]") {
  OutageLog log;
  OutageBackoff a(Options()), b(Options());
  int lines = 0;
  // Two threads failing in turn, 12 failures each: the rungs of one ladder.
  for (int i = 0; i < 12; ++i) {
    if (log.ShouldLog(a.Failed(0.5))) ++lines;
    if (log.ShouldLog(b.Failed(0.5))) ++lines;
  }
  CHECK(lines == 7);  // as one thread alone (see above), not 14
  CHECK(log.Recovered());
  CHECK_FALSE(log.Recovered());  // said once, by the first thread back
  a.Succeeded();
  CHECK(log.ShouldLog(a.Failed(0.5)));  // the next outage is logged again
}

TEST_CASE("OutageBackoff: a long outage logs a bounded share of its retries", "[unit][workflow]") {
  OutageBackoff b;  // the worker's defaults
  int lines = 0;
  absl::Duration waited;
  int retries = 0;
  // Stand-in for the outage that logged 1,367 lines in 35 s: fixed 100 ms
  // retries on 4 threads were 350 a thread.
  while (waited < absl::Seconds(35)) {
    const OutageBackoff::Step step = b.Failed(0.5);
    waited += step.delay;
    ++retries;
    if (step.log) ++lines;
  }
  INFO("retries " << retries << ", lines " << lines);
  CHECK(retries < 20);
  CHECK(lines < 10);
}

TEST_CASE("IsDatabaseUnavailable: connection loss yes, a busy lock or other errors no", "[unit][workflow]") {
  CHECK(IsDatabaseUnavailable(absl::UnavailableError("cannot connect to postgres: connection refused")));
  CHECK(IsDatabaseUnavailable(
      cantdo::pg::SqlStateToStatus("57P01", "terminating connection due to administrator command")));
  CHECK(IsDatabaseUnavailable(cantdo::pg::SqlStateToStatus("08006", "connection failure")));
  CHECK_FALSE(IsDatabaseUnavailable(cantdo::pg::SqlStateToStatus("55P03", "could not obtain lock")));
  CHECK_FALSE(IsDatabaseUnavailable(absl::InternalError("boom")));
  CHECK_FALSE(IsDatabaseUnavailable(absl::DeadlineExceededError("slow")));
  CHECK_FALSE(IsDatabaseUnavailable(absl::OkStatus()));
}
