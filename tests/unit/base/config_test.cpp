#include <catch2/catch.hpp>

#include <map>

#include "cantdo/base/config.hpp"

using namespace cantdo;

namespace {
struct Env {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> fn() {
    return [this](const char* n) -> const char* {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};
}  // namespace

TEST_CASE("options come from flags, then environment, then defaults", "[unit][base]") {
  std::string dsn, listen = "0.0.0.0:1";
  int pool = 8;
  absl::Duration grace = absl::Seconds(20);
  Options o("svc", "test");
  o.String("db-dsn", &dsn, "dsn", true)
      .String("listen", &listen, "addr")
      .Int("db-pool-size", &pool, "n")
      .Duration("shutdown-grace", &grace, "grace");
  Env env{{{"CANTDO_DB_DSN", "from-env"}, {"CANTDO_DB_POOL_SIZE", "3"}, {"CANTDO_LISTEN", "env:2"}}};
  const char* argv[] = {"svc", "--listen=flag:3", "--shutdown-grace=90s"};
  auto r = o.Parse(3, argv, env.fn());
  REQUIRE(r.ok());
  CHECK(*r);
  CHECK(dsn == "from-env");
  CHECK(listen == "flag:3");  // the flag wins over the environment
  CHECK(pool == 3);
  CHECK(grace == absl::Seconds(90));
}

TEST_CASE("every configuration problem is reported at once", "[unit][base]") {
  std::string dsn;
  absl::Duration grace = absl::Seconds(1);
  int n = 1;
  Options o("svc", "test");
  o.String("db-dsn", &dsn, "dsn", true).Duration("shutdown-grace", &grace, "grace").Int("n", &n, "n").Check([&] {
    return n > 0 ? "" : "--n must be positive";
  });
  const char* argv[] = {"svc", "--shutdown-grace=soon", "--n=0"};
  Env env;
  auto r = o.Parse(3, argv, env.fn());
  REQUIRE_FALSE(r.ok());
  const std::string msg(r.status().message());
  CHECK(msg.find("--db-dsn (or CANTDO_DB_DSN) is required") != std::string::npos);
  CHECK(msg.find("'soon' is not a duration") != std::string::npos);
  CHECK(msg.find("--n must be positive") != std::string::npos);
}

TEST_CASE("unknown flags are refused", "[unit][base]") {
  Options o("svc", "test");
  const char* argv[] = {"svc", "--no-such-flag=1"};
  Env env;
  CHECK_FALSE(o.Parse(2, argv, env.fn()).ok());
}

TEST_CASE("a double option takes '--name value' or '--name=value', and refuses what is not a number", "[unit][base]") {
  double rate = 500, seconds = 10;
  Options o("bench", "test");
  o.Double("rate", &rate, "rate").Double("duration", &seconds, "seconds");
  const char* argv[] = {"bench", "--rate", "2.5", "--duration=0.25"};
  Env env;
  auto r = o.Parse(4, argv, env.fn());
  REQUIRE(r.ok());
  CHECK(rate == 2.5);
  CHECK(seconds == 0.25);

  Options bad("bench", "test");
  bad.Double("rate", &rate, "rate");
  const char* bad_argv[] = {"bench", "--rate", "fast"};
  auto refused = bad.Parse(3, bad_argv, env.fn());
  REQUIRE_FALSE(refused.ok());
  CHECK(std::string(refused.status().message()).find("rate") != std::string::npos);
}
