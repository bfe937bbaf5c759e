#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include "cantdo/base/ids.hpp"

using namespace cantdo;

TEST_CASE("UUIDs are version 4 and distinct", "[unit][base]") {
  std::set<std::string> seen;
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewUuid();
    CHECK(std::regex_match(id, v4));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("secrets carry the requested entropy", "[unit][base]") {
  CHECK(NewSecret(16).size() == 22);  // 128 bits, base64url without padding
  CHECK(NewSecret(32) != NewSecret(32));
}

TEST_CASE("SHA-256 matches the FIPS 180-2 vector", "[unit][base]") {
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("constant-time comparison is still a comparison", "[unit][base]") {
  CHECK(ConstantTimeEquals("token-a", "token-a"));
  CHECK_FALSE(ConstantTimeEquals("token-a", "token-b"));
  CHECK_FALSE(ConstantTimeEquals("token", "token-a"));
}
