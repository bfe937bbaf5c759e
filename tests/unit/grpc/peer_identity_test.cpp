#include <catch2/catch.hpp>

#include "cantdo/grpc/peer_identity.hpp"
#include "support/test_pki.hpp"

using namespace cantdo;
namespace cg = cantdo::grpc;

TEST_CASE("the SPIFFE id comes from the certificate's URI SAN", "[unit][grpc]") {
  testing::TestPki pki;
  auto id = cg::IdentityFromPem(pki.Issue("ciba-bridge").cert_pem);
  REQUIRE(id.ok());
  CHECK(id->spiffe_id == "spiffe://cantdo/ciba-bridge");
  CHECK(id->common_name == "ciba-bridge");
  CHECK(id->uri_sans.size() == 1);
}

TEST_CASE("a certificate without a URI SAN has no SPIFFE id", "[unit][grpc]") {
  testing::TestPki pki;
  auto id = cg::IdentityFromPem(pki.Issue("").cert_pem);
  REQUIRE(id.ok());
  CHECK(id->spiffe_id.empty());
}

TEST_CASE("garbage is not a certificate", "[unit][grpc]") {
  CHECK_FALSE(cg::IdentityFromPem("-----BEGIN CERTIFICATE-----\nnope\n").ok());
}
