// Static secrets for HTTP targets: AES-256-GCM at rest, bound to their name
// and version, released only through the issuer.
#include <catch2/catch.hpp>

#include "authority/credentials.hpp"
#include "cantdo/base/status.hpp"
#include "support/test_database.hpp"

using cantdo::authority::OpenAesGcm;
using cantdo::authority::SealAesGcm;
using cantdo::authority::StaticSecretIssuer;
using cantdo::testing::TestDatabase;

namespace {
const std::string kKey(32, 'k');
}  // namespace

TEST_CASE("AES-GCM refuses a wrong key, tampering and a moved ciphertext", "[unit][authority]") {
  auto sealed = SealAesGcm(kKey, "api-token-123", "stripe#1");
  REQUIRE(sealed.ok());
  CHECK(sealed->find("api-token-123") == std::string::npos);
  CHECK(*OpenAesGcm(kKey, *sealed, "stripe#1") == "api-token-123");
  CHECK_FALSE(OpenAesGcm(std::string(32, 'x'), *sealed, "stripe#1").ok());
  CHECK_FALSE(OpenAesGcm(kKey, *sealed, "stripe#2").ok());  // another name/version
  std::string tampered = *sealed;
  tampered[15] ^= 1;
  CHECK_FALSE(OpenAesGcm(kKey, tampered, "stripe#1").ok());
}

TEST_CASE("a stored secret is encrypted at rest and released by the issuer", "[integration][authority]") {
  TestDatabase db(TestDatabase::kMigrated);
  auto conn = db.Connect();
  REQUIRE(StaticSecretIssuer::Put(*conn, kKey, "stripe", "sk_live_v1").ok());
  REQUIRE(StaticSecretIssuer::Put(*conn, kKey, "stripe", "sk_live_v2").ok());
  auto raw =
      conn->Exec("SELECT count(*) FROM cantdo.secrets WHERE position('sk_live' in encode(ciphertext, 'escape')) > 0");
  CHECK(*raw->GetInt64(0, 0) == 0);

  auto pool = cantdo::pg::Pool::Create({.dsn = db.Dsn(), .max_size = 2});
  REQUIRE(pool.ok());
  StaticSecretIssuer issuer(**pool, kKey);
  cantdo::common::v1::Grant g;
  g.set_grant_id("g-1");
  const cantdo::common::v1::ActionRef approved;  // a static secret is as broad as its target: nothing to scope
  auto cred = issuer.Issue(g, "", "stripe", absl::Now() + absl::Minutes(1), approved);
  REQUIRE(cred.ok());
  CHECK(cred->credential.static_secret().value() == "sk_live_v2");
  CHECK(cred->credential.static_secret().version() == 2);
  CHECK(cantdo::GetReason(issuer.Issue(g, "", "nope", absl::Now(), approved).status()) ==
        std::optional<std::string>("CREDENTIAL_UNAVAILABLE"));
  StaticSecretIssuer wrong_key(**pool, std::string(32, 'z'));
  CHECK_FALSE(wrong_key.Issue(g, "", "stripe", absl::Now(), approved).ok());
}
