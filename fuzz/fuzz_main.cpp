// One libFuzzer binary per target: CANTDO_FUZZ_TARGET names it (targets.cpp).
//
// With CANTDO_FUZZ_ENCODE_SEEDS=<seed dir>:<corpus dir> in the environment
// the binary instead writes each seed file, encoded for its target
// (EncodeSeed), into the corpus directory and exits: scripts/fuzz starts
// every run from the committed seeds that way.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "targets.hpp"

namespace {

const cantdo::fuzz::Target& ThisTarget() {
  static const cantdo::fuzz::Target* target = cantdo::fuzz::FindTarget(CANTDO_FUZZ_TARGET);
  if (target == nullptr) cantdo::fuzz::Fail("no such fuzz target: " CANTDO_FUZZ_TARGET);
  return *target;
}

int EncodeSeeds(const std::string& spec) {
  namespace fs = std::filesystem;
  const std::size_t colon = spec.find(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "CANTDO_FUZZ_ENCODE_SEEDS must be <seed dir>:<corpus dir>\n");
    return 2;
  }
  const fs::path from(spec.substr(0, colon)), to(spec.substr(colon + 1));
  fs::create_directories(to);
  int written = 0;
  for (const auto& entry : fs::directory_iterator(from)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::string> bytes = cantdo::fuzz::EncodeSeed(ThisTarget(), text.str());
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s: %s\n", entry.path().c_str(), bytes.status().ToString().c_str());
      return 1;
    }
    std::ofstream(to / ("seed-" + entry.path().filename().string()), std::ios::binary) << *bytes;
    ++written;
  }
  std::fprintf(stderr, "%s: %d seeds\n", CANTDO_FUZZ_TARGET, written);
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* spec = std::getenv("CANTDO_FUZZ_ENCODE_SEEDS")) std::exit(EncodeSeeds(spec));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ThisTarget().run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
