#include <catch2/catch.hpp>

#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "cantdo/base/log.hpp"
#include "cantdo/base/trace_context.hpp"

using namespace cantdo;
using namespace cantdo::trace;

namespace {

// The specification's own example.
constexpr const char* kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class CountingRandom final : public RandomSource {
 public:
  void Fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = next_++;
  }

 private:
  std::uint8_t next_ = 0;
};

}  // namespace

TEST_CASE("traceparent: the specification's example parses and formats back unchanged", "[unit][base][trace]") {
  auto ctx = ParseTraceparent(kExample);
  REQUIRE(ctx.has_value());
  CHECK(ctx->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ctx->parent_id == "00f067aa0ba902b7");
  CHECK(ctx->flags == 0x01);
  CHECK(FormatTraceparent(*ctx) == kExample);

  auto unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(unsampled.has_value());
  CHECK(unsampled->flags == 0);
  CHECK(FormatTraceparent(*unsampled) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST_CASE("traceparent: malformed headers are refused", "[unit][base][trace]") {
  const char* bad[] = {
      "",
      "00",
      "garbage",
      // one character short / long
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
      // version 00 allows nothing after the flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      // wrong separators
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      // ids shifted by one
      "00-4bf92f3577b34da6a3ce929d0e0e47360-0f067aa0ba902b7-01",
  };
  for (const char* h : bad) {
    INFO(h);
    CHECK_FALSE(ParseTraceparent(h).has_value());
  }
}

TEST_CASE("traceparent: an all-zero trace id or parent id is invalid", "[unit][base][trace]") {
  CHECK_FALSE(ParseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").has_value());
  CHECK_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").has_value());
}

TEST_CASE("traceparent: uppercase hex is refused, as the specification's HEXDIGLC requires", "[unit][base][trace]") {
  CHECK_FALSE(ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").has_value());
  CHECK_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01").has_value());
  CHECK_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A").has_value());
  CHECK_FALSE(ParseTraceparent("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
}

TEST_CASE("traceparent: versions", "[unit][base][trace]") {
  SECTION("ff is invalid") {
    CHECK_FALSE(ParseTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
  }
  SECTION("a future version is read as version 00's fields and forwarded as version 00") {
    auto same_size = ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    REQUIRE(same_size.has_value());
    CHECK(FormatTraceparent(*same_size) == kExample);
    auto longer = ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
    REQUIRE(longer.has_value());
    CHECK(longer->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(FormatTraceparent(*longer) == kExample);
    // Unknown flag bits are not forwarded.
    auto flags = ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09");
    REQUIRE(flags.has_value());
    CHECK(FormatTraceparent(*flags) == kExample);
  }
  SECTION("a future version must still separate its extra fields with '-'") {
    CHECK_FALSE(ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what").has_value());
  }
  SECTION("a future version still obeys version 00's field rules") {
    CHECK_FALSE(ParseTraceparent("cc-00000000000000000000000000000000-00f067aa0ba902b7-01").has_value());
    CHECK_FALSE(ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b").has_value());
  }
}

TEST_CASE("traceparent: new traces and children are well-formed", "[unit][base][trace]") {
  const std::regex shape("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$");
  TraceContext a = NewTrace();
  TraceContext b = NewTrace();
  CHECK(std::regex_match(FormatTraceparent(a), shape));
  CHECK(a.trace_id != b.trace_id);
  CHECK(ParseTraceparent(FormatTraceparent(a)) == a);

  TraceContext child = ChildOf(a);
  CHECK(child.trace_id == a.trace_id);
  CHECK(child.parent_id != a.parent_id);
  CHECK(child.flags == a.flags);

  CountingRandom counting;
  TraceContext det = NewTrace(counting);
  CHECK(det.trace_id == "000102030405060708090a0b0c0d0e0f");
  CHECK(det.parent_id == "1011121314151617");  // the next eight bytes
}

TEST_CASE("trace scopes nest per thread and restore what was there", "[unit][base][trace]") {
  REQUIRE(Current() == nullptr);
  CHECK(CurrentTraceparent().empty());
  {
    ScopedTrace outer(*ParseTraceparent(kExample));
    REQUIRE(Current() != nullptr);
    CHECK(CurrentTraceId() == "4bf92f3577b34da6a3ce929d0e0e4736");
    {
      ScopedTrace malformed("00-nope");  // ignored: the outer trace stays
      CHECK(CurrentTraceId() == "4bf92f3577b34da6a3ce929d0e0e4736");
      ScopedTrace inner("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
      CHECK(CurrentTraceId() == "0af7651916cd43dd8448eb211c80319c");
      std::string other_thread = "unset";
      std::thread([&] { other_thread = CurrentTraceId(); }).join();
      CHECK(other_thread.empty());
    }
    CHECK(CurrentTraceparent() == kExample);
  }
  CHECK(Current() == nullptr);
}

TEST_CASE("log lines written under a trace carry its trace id", "[unit][base][trace]") {
  // Capture stderr, where the logger writes one JSON object per line.
  std::ostringstream captured;
  {
    std::FILE* tmp = std::tmpfile();
    REQUIRE(tmp != nullptr);
    std::fflush(stderr);
    const int saved = dup(fileno(stderr));
    dup2(fileno(tmp), fileno(stderr));
    log::Init("trace-test");
    log::Info("outside");
    {
      ScopedTrace scope(*ParseTraceparent(kExample));
      log::Info("inside");
      log::Info("explicit", {{"trace_id", "0af7651916cd43dd8448eb211c80319c"}});
    }
    std::fflush(stderr);
    dup2(saved, fileno(stderr));
    close(saved);
    std::rewind(tmp);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) captured.write(buf, static_cast<std::streamsize>(n));
    std::fclose(tmp);
  }
  std::istringstream lines(captured.str());
  std::string line;
  std::map<std::string, nlohmann::json> by_msg;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    by_msg[j["msg"].get<std::string>()] = j;
  }
  REQUIRE(by_msg.size() == 3);
  CHECK_FALSE(by_msg["outside"].contains("trace_id"));
  CHECK(by_msg["inside"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(by_msg["explicit"]["trace_id"] == "0af7651916cd43dd8448eb211c80319c");
}
