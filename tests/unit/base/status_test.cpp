#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"

using namespace cantdo;

TEST_CASE("a reason and metadata travel with a status", "[unit][base]") {
  absl::Status st = WithMetadata(PermissionDenied("GRANT_ALREADY_CONSUMED", "grant g1 was consumed"), "grant_id", "g1");
  CHECK(st.code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(st) == std::optional<std::string>("GRANT_ALREADY_CONSUMED"));
  CHECK(GetMetadata(st) == std::map<std::string, std::string>{{"grant_id", "g1"}});
}

TEST_CASE("an OK status never carries a reason", "[unit][base]") {
  CHECK_FALSE(GetReason(WithReason(absl::OkStatus(), "X")).has_value());
}

TEST_CASE("InvalidArgument names the field", "[unit][base]") {
  absl::Status st = InvalidArgument("workflow_type", "must not be empty");
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(st) == std::optional<std::string>("INVALID_FIELD"));
  CHECK(GetMetadata(st).at("field") == "workflow_type");
  CHECK(st.message() == "workflow_type: must not be empty");
}

namespace {
absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}
absl::StatusOr<int> Quarter(int x) {
  CANTDO_ASSIGN_OR_RETURN(int h, Half(x));
  CANTDO_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}
}  // namespace

TEST_CASE("CANTDO_ASSIGN_OR_RETURN propagates the first error", "[unit][base]") {
  CHECK(*Quarter(8) == 2);
  CHECK(Quarter(6).status().message() == "odd");
}
