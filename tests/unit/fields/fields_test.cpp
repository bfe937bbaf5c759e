// libs/fields: the rules every edge applies to the shared fields.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "cantdo/base/status.hpp"
#include "cantdo/fields/field_rules.hpp"
#include "cantdo/fields/parameters.hpp"
#include "cantdo/fields/principal.hpp"

using namespace cantdo::fields;
using cantdo::GetMetadata;
using cantdo::GetReason;

namespace {

std::string FieldOf(const absl::Status& s) {
  INFO(s.ToString());
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(GetReason(s) == "INVALID_FIELD");
  return GetMetadata(s)["field"];
}

google::protobuf::Struct Params(double amount) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["amount_cents"].set_number_value(amount);
  (*s.mutable_fields())["customer_id"].set_string_value("cust-42");
  return s;
}

}  // namespace

TEST_CASE("parameters canonicalise as RFC 8785 and refuse what JSON cannot carry", "[unit][fields]") {
  auto p = CanonicaliseParameters(Params(1200));
  REQUIRE(p.ok());
  CHECK(p->json == R"({"amount_cents":1200,"customer_id":"cust-42"})");
  CHECK(CanonicaliseParameters({})->json == "{}");
  for (double v : {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    auto refused = CanonicaliseParameters(Params(v));
    CHECK(FieldOf(refused.status()) == "action.parameters");
    CHECK(GetMetadata(refused.status())["parameter"] == "/amount_cents");
  }
  // The string "NaN" is a string, hashed as one.
  google::protobuf::Struct text;
  (*text.mutable_fields())["amount_cents"].set_string_value("NaN");
  CHECK(CanonicaliseParameters(text)->json == R"({"amount_cents":"NaN"})");
  // A value with no kind, and a pointer's escaping.
  google::protobuf::Struct empty;
  (*empty.mutable_fields())["a/b~c"];
  auto kindless = CanonicaliseParameters(empty, "parameters");
  CHECK(FieldOf(kindless.status()) == "parameters");
  CHECK(GetMetadata(kindless.status())["parameter"] == "/a~1b~0c");
}

TEST_CASE("parameters nest at most 32 levels and hold at most 64 KiB", "[unit][fields]") {
  auto nested = [](int depth) {
    google::protobuf::Struct top;
    google::protobuf::Struct* s = &top;
    for (int i = 1; i < depth; ++i) s = (*s->mutable_fields())["a"].mutable_struct_value();
    return top;
  };
  CHECK(CanonicaliseParameters(nested(kMaxParameterDepth)).ok());
  CHECK(FieldOf(CanonicaliseParameters(nested(kMaxParameterDepth + 1)).status()) == "action.parameters");
  google::protobuf::Struct big;
  (*big.mutable_fields())["blob"].set_string_value(std::string(kMaxParameterBytes, 'x'));
  CHECK(FieldOf(CanonicaliseParameters(big).status()) == "action.parameters");
}

TEST_CASE("external principals are the gateway's three forms and nothing else", "[unit][fields]") {
  CHECK(PlatformPrincipal("acme") == "platform:acme");
  CHECK(UserPrincipal("https://idp/", "alice") == "user:https://idp/#alice");
  CHECK(CertificatePrincipal("spiffe://cantdo/operator") == "cert:spiffe://cantdo/operator");
  for (const char* ok :
       {"platform:acme", "user:https://idp/#alice", "user:iss#sub#with#hashes", "cert:spiffe://cantdo/worker"}) {
    INFO(ok);
    CHECK(RequireExternalPrincipal(ok, "on_behalf_of").ok());
  }
  for (const char* refused : {"spiffe://cantdo/worker", "platform:", "user:iss", "user:#sub", "user:iss#",
                              "cert:", "cert:https://x", "cert:spiffe://", "platform:a\x01", "PLATFORM:acme", ""}) {
    INFO(refused);
    absl::Status st = RequireExternalPrincipal(refused, "on_behalf_of");
    CHECK(st.code() == absl::StatusCode::kPermissionDenied);
    CHECK(GetReason(st) == "PRINCIPAL_NOT_DELEGABLE");
  }
  CHECK_FALSE(RequireExternalPrincipal("platform:" + std::string(kMaxPrincipalLength, 'a'), "x").ok());
}

TEST_CASE("field rules name the field and say what is wrong", "[unit][fields]") {
  CHECK(RequireActionName("refund.issue", "a").ok());
  CHECK(RequireActionName("customer_data.delete_v2", "a").ok());
  for (const char* bad : {"refund", "Refund.issue", ".refund", "refund.", "refund..issue", "1x.y", "a.b c", "re"}) {
    INFO(bad);
    CHECK(FieldOf(RequireActionName(bad, "action.action")) == "action.action");
  }
  CHECK(FieldOf(RequireText(std::string("a\0b", 3), "reason", true, 10)) == "reason");
  CHECK(RequireText("line 1\nline 2\ttab", "reason", true, 100).ok());
  CHECK(FieldOf(RequireSingleLine("a\nb", "requester", true, 10)) == "requester");
  CHECK(RequireSingleLine("user:iss#sübject", "requester", true, 100).ok());
  CHECK(FieldOf(RequirePrintableAscii("é", "step", true, 10)) == "step");
  CHECK(FieldOf(RequireUuid("7d444840-9dc0-11d1-b245-5ffdce74fad", "grant_id", true)) == "grant_id");
  CHECK(RequireUuid("7d444840-9dc0-11d1-b245-5ffdce74fad2", "grant_id", true).ok());
  CHECK(FieldOf(RequireSha256Hex(std::string(64, 'A'), "outcome_digest")) == "outcome_digest");

  google::protobuf::Timestamp t;
  t.set_seconds(9200000000000000000);
  CHECK(FieldOf(RequireTimestamp(t, "filter.start_time")) == "filter.start_time");
  t.set_seconds(0);
  t.set_nanos(1000000000);
  CHECK(FieldOf(RequireTimestamp(t, "filter.start_time")) == "filter.start_time");
  google::protobuf::Duration d;
  d.set_seconds(1);
  d.set_nanos(-1);
  CHECK(FieldOf(RequireDurationWithin(d, "wait", absl::ZeroDuration(), absl::Seconds(60))) == "wait");
  d.set_seconds(61);
  d.set_nanos(0);
  CHECK(FieldOf(RequireDurationWithin(d, "wait", absl::ZeroDuration(), absl::Seconds(60))) == "wait");
}

TEST_CASE("ledger filters: known kinds, valid times in order, UUID ids", "[unit][fields]") {
  cantdo::common::v1::LedgerFilter f;
  f.add_kinds(cantdo::common::v1::LEDGER_EVENT_KIND_DECISION);
  f.mutable_start_time()->set_seconds(1700000000);
  f.mutable_end_time()->set_seconds(1800000000);
  CHECK(ValidateLedgerFilter(f, "filter").ok());
  f.add_kinds(static_cast<cantdo::common::v1::LedgerEventKind>(999));
  CHECK(FieldOf(ValidateLedgerFilter(f, "filter")) == "filter.kinds[1]");
  f.clear_kinds();
  f.mutable_end_time()->set_seconds(1600000000);
  CHECK(FieldOf(ValidateLedgerFilter(f, "filter")) == "filter.end_time");
  CHECK(FieldOf(ValidateLedgerRange(5, 2)) == "end_sequence");
  CHECK(ValidateLedgerRange(5, 0).ok());
  CHECK(FieldOf(ValidateLedgerQuery(0, -1, {})) == "start_sequence");
}
