// Every fuzz target (fuzz/, docs/fuzzing.md) over its committed seeds and
// every input a fuzzer ever found (fuzz/findings/<target>/), with this
// build's sanitizers: a finding, once fixed, stays fixed.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "support/child_process.hpp"
#include "targets.hpp"

namespace fs = std::filesystem;
using cantdo::fuzz::AllTargets;

namespace {

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path FuzzDir() { return fs::path(cantdo::testing::SourceDir()) / "fuzz"; }

}  // namespace

TEST_CASE("every fuzz target has seeds, and every seed directory is a target", "[unit][fuzz]") {
  std::set<std::string> dirs;
  for (const auto& e : fs::directory_iterator(FuzzDir() / "seeds")) dirs.insert(e.path().filename().string());
  std::set<std::string> targets;
  for (const auto& t : AllTargets()) targets.insert(t.name);
  CHECK(dirs == targets);
  for (const auto& t : AllTargets()) {
    INFO(t.name);
    CHECK(!fs::is_empty(FuzzDir() / "seeds" / t.name));
  }
}

TEST_CASE("every fuzz target runs its seeds and past findings without a finding", "[unit][fuzz]") {
  int inputs = 0;
  for (const auto& t : AllTargets()) {
    for (const char* kind : {"seeds", "findings"}) {
      const fs::path dir = FuzzDir() / kind / t.name;
      if (!fs::exists(dir)) continue;
      for (const auto& e : fs::directory_iterator(dir)) {
        INFO(e.path().string());
        // Findings are stored as the bytes the fuzzer produced; seeds in
        // text format where the target takes a message.
        absl::StatusOr<std::string> input = std::string(kind) == "findings"
                                                ? absl::StatusOr<std::string>(Read(e.path()))
                                                : cantdo::fuzz::EncodeSeed(t, Read(e.path()));
        REQUIRE(input.ok());
        t.run(*input);  // aborts on a finding
        ++inputs;
      }
    }
  }
  CHECK(inputs >= static_cast<int>(AllTargets().size()));
}
