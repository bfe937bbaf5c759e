#include <catch2/catch.hpp>

#include "cantdo/base/canonical_json.hpp"

using cantdo::CanonicalJson;

namespace {
std::string C(const std::string& json) { return *CanonicalJson(nlohmann::json::parse(json)); }
}  // namespace

TEST_CASE("RFC 8785: members sorted, no whitespace", "[unit][base]") {
  CHECK(C(R"({"b": 1, "a": {"d": [1, 2], "c": null}})") == R"({"a":{"c":null,"d":[1,2]},"b":1})");
}

TEST_CASE("RFC 8785 section 3.2.3: sorting by UTF-16 code units", "[unit][base]") {
  // The RFC's own example: keys "\u20ac", "\r", "\ufb33", "1", "\ud83d\ude00", "\u0080", "\u00f6".
  std::string in =
      "{\"\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\","
      "\"1\":\"One\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O "
      "With Diaeresis\"}";
  std::string want =
      "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With "
      "Diaeresis\","
      "\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With "
      "Dagesh\"}";
  CHECK(C(in) == want);
}

TEST_CASE("RFC 8785: numbers as ECMAScript prints them", "[unit][base]") {
  CHECK(C("[0, -0, 1, -1, 10, 1.5, 0.1, 100000000000000000000, 1e21, 1e-6, 1e-7, 123.456, 4.5e-8, 1e300]") ==
        "[0,0,1,-1,10,1.5,0.1,100000000000000000000,1e+21,0.000001,1e-7,123.456,4.5e-8,1e+300]");
  CHECK(C("[333333333.33333329, 9007199254740992]") == "[333333333.3333333,9007199254740992]");
}

TEST_CASE("RFC 8785: integers print as their digits up to 2^53 and round as doubles beyond", "[unit][base]") {
  CHECK(C("[9007199254740992, -9007199254740992, 9007199254740993, -9007199254740993, 18446744073709551615]") ==
        "[9007199254740992,-9007199254740992,9007199254740992,-9007199254740992,18446744073709552000]");
  CHECK(C("[-9223372036854775808, 1796283986939000]") == "[-9223372036854776000,1796283986939000]");
}

TEST_CASE("RFC 8785: ASCII names sort by code unit, in nested objects and beside non-ASCII ones", "[unit][base]") {
  CHECK(C(R"({"b":1,"B":2,"_":3,"a":{"z":1,"Z":[{"y":0,"Y":0}]},"1":4})") ==
        R"({"1":4,"B":2,"_":3,"a":{"Z":[{"Y":0,"y":0}],"z":1},"b":1})");
  CHECK(C("{\"\u00e9\":1,\"z\":{\"b\":1,\"a\":2}}") == "{\"z\":{\"a\":2,\"b\":1},\"\u00e9\":1}");
}

TEST_CASE("RFC 8785: strings escape only what JSON requires", "[unit][base]") {
  CHECK(C(R"(["a\"b\\c\n\u0001/é"])") == "[\"a\\\"b\\\\c\\n\\u0001/\u00e9\"]");
}

TEST_CASE("the same data in another order hashes the same", "[unit][base]") {
  auto a = cantdo::CanonicalJsonSha256(nlohmann::json::parse(R"({"amount_cents": 1200, "customer_id": "c-1"})"));
  auto b = cantdo::CanonicalJsonSha256(nlohmann::json::parse(R"({"customer_id":"c-1","amount_cents":1200.0})"));
  CHECK(*a == *b);
  auto c = cantdo::CanonicalJsonSha256(nlohmann::json::parse(R"({"customer_id":"c-1","amount_cents":1201})"));
  CHECK(*a != *c);
}

TEST_CASE("nesting beyond the limit is refused, not a stack overflow (fuzz finding)", "[unit][base]") {
  // fuzz/findings/base_canonical_json/deep_array.json: 100,000 nested arrays
  // overflowed the stack of the recursive writer. Objects too.
  auto nested = [](const std::string& open, const std::string& close, int levels) {
    std::string s;
    for (int i = 0; i < levels; ++i) s += open;
    s += "1";
    for (int i = 0; i < levels; ++i) s += close;
    return nlohmann::json::parse(s);
  };
  for (const auto& [open, close] : {std::pair<std::string, std::string>{"[", "]"}, {"{\"a\":", "}"}}) {
    INFO(open);
    CHECK(cantdo::CanonicalJson(nested(open, close, cantdo::kMaxCanonicalJsonDepth)).ok());
    auto deep = cantdo::CanonicalJson(nested(open, close, 100000));
    CHECK(deep.status().code() == absl::StatusCode::kInvalidArgument);
  }
}
