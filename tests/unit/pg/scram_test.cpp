#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"
#include "cantdo/pg/scram.hpp"

namespace {

std::string Unbase64(absl::string_view b64) {
  std::string out;
  REQUIRE(absl::Base64Unescape(b64, &out));
  return out;
}

}  // namespace

TEST_CASE("ScramSha256Secret derives the keys of RFC 7677's example exchange") {
  // RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
  // 4096 iterations. The RFC shows the exchange, not the stored keys; these
  // are the keys whose ServerKey signs its AuthMessage as its v=6rriTRBi...
  // and whose StoredKey its p=dHzbZapW... proves (checked independently
  // with Python's hashlib/hmac when this test was written).
  auto secret = cantdo::pg::ScramSha256Secret("pencil", Unbase64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  REQUIRE(secret.ok());
  CHECK(*secret ==
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
}

TEST_CASE("ScramSha256Secret refuses what PostgreSQL's SASLprep or format would not keep as given") {
  CHECK(cantdo::pg::ScramSha256Secret("pencil", "salt", 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(cantdo::pg::ScramSha256Secret("pencil", "", 1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(cantdo::pg::ScramSha256Secret("p\xc3\xa9ncil", "salt", 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(cantdo::pg::ScramSha256Secret("pen\ncil", "salt", 1).status().code() == absl::StatusCode::kInvalidArgument);
}
