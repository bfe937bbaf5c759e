// A worker whose database is unreachable: it backs off and says so a line a
// backoff step, not a line a retry (issue #25: 1,367 "worker task failed"
// lines in a 35 s outage). The pool points at a port nothing listens on;
// the listener has the real database, so only the work fails.

#include <unistd.h>

#include <cstdio>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "support/wait.hpp"
#include "workflow_env.hpp"

namespace {

using namespace cantdo::workflow;
using namespace cantdo::workflow::test;
namespace pg = cantdo::pg;

// Collects what this process writes to stderr (the log) until Finish().
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()), saved_(dup(STDERR_FILENO)) {
    REQUIRE(file_ != nullptr);
    REQUIRE(saved_ >= 0);
    std::fflush(stderr);
    REQUIRE(dup2(fileno(file_), STDERR_FILENO) >= 0);
  }
  ~StderrCapture() { Restore(); }

  std::string Finish() {
    Restore();
    std::string out;
    std::rewind(file_);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }

  std::FILE* file_;
  int saved_;
};

int CountLines(const std::string& log, absl::string_view msg) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) n += absl::StrContains(line, msg) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("A worker that cannot reach its database backs off and logs a line a backoff step, not one a retry",
          "[integration][workflow]") {
  Env env;
  pg::PoolOptions o;
  // Port 1: nothing listens there, so every connection is refused at once.
  o.dsn = "host=127.0.0.1 port=1 dbname=cantdo user=cantdo connect_timeout=2";
  o.validate_on_create = false;
  o.max_size = 4;
  auto unreachable = Ok(pg::Pool::Create(o));
  WorkerOptions wo;
  wo.dsn = env.db.Dsn();  // the listener connects
  wo.task_queues = {"q"};
  wo.concurrency = 4;
  auto worker = Ok(Worker::Create(*unreachable, env.registry, env.clock, wo));

  StderrCapture capture;
  Ok(worker->Start());
  // Each failed round of a thread is one refused connection. Wait for a
  // dozen (the deadline only bounds a broken build; nothing is timed).
  const bool failed_enough = cantdo::testing::WaitUntil([&] { return unreachable->Stats().connect_failures >= 12; },
                                                        absl::Seconds(60), absl::Milliseconds(20));
  worker->Stop();
  const std::string log = capture.Finish();
  const int64_t attempts = unreachable->Stats().connect_failures;
  const int backing_off = CountLines(log, "worker cannot reach the database");
  const int task_failed = CountLines(log, "worker task failed");

  INFO("log:\n" << log);
  INFO("attempts " << attempts << ", backoff lines " << backing_off << ", task failed lines " << task_failed);
  REQUIRE(failed_enough);
  CHECK(task_failed == 0);  // an outage is not a task failure a retry
  CHECK(backing_off >= 1);  // the first failure is logged
  // One line a rung of the ladder for the whole worker: four threads
  // climbing it together make at least twice as many attempts as lines
  // (before, every failed round was a line).
  CHECK((backing_off + task_failed) * 2 <= attempts);
}
