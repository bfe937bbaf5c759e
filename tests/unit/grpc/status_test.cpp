#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

using namespace cantdo;
namespace cg = cantdo::grpc;

TEST_CASE("a denial becomes a gRPC status with a standard ErrorInfo detail", "[unit][grpc]") {
  absl::Status st =
      WithMetadata(PermissionDenied("GRANT_ACTION_MISMATCH", "grant is for refund.issue"), "grant_id", "g-1");
  ::grpc::Status g = cg::ToGrpcStatus(st);
  CHECK(g.error_code() == ::grpc::StatusCode::PERMISSION_DENIED);
  CHECK(g.error_message() == "grant is for refund.issue");

  google::rpc::Status details;
  REQUIRE(details.ParseFromString(g.error_details()));
  CHECK(details.code() == 7);
  REQUIRE(details.details_size() == 1);
  google::rpc::ErrorInfo info;
  REQUIRE(details.details(0).UnpackTo(&info));
  CHECK(details.details(0).type_url() == "type.googleapis.com/google.rpc.ErrorInfo");
  CHECK(info.reason() == "GRANT_ACTION_MISMATCH");
  CHECK(info.domain() == "cantdo.dev");
  CHECK(info.metadata().at("grant_id") == "g-1");
}

TEST_CASE("status survives the round trip through gRPC", "[unit][grpc]") {
  absl::Status st = InvalidArgument("parameters.amount", "must be positive");
  absl::Status back = cg::FromGrpcStatus(cg::ToGrpcStatus(st));
  CHECK(back.code() == absl::StatusCode::kInvalidArgument);
  CHECK(back.message() == st.message());
  CHECK(GetReason(back) == std::optional<std::string>("INVALID_FIELD"));
  CHECK(GetMetadata(back).at("field") == "parameters.amount");
}

TEST_CASE("every absl code maps to the same gRPC code", "[unit][grpc]") {
  for (int c = 1; c <= 16; ++c) {
    absl::Status st(static_cast<absl::StatusCode>(c), "x");
    CHECK(static_cast<int>(cg::ToGrpcStatus(st).error_code()) == c);
  }
  CHECK(cg::ToGrpcStatus(absl::OkStatus()).ok());
}
