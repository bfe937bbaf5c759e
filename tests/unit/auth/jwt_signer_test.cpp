// JwtSigner: client assertions for private_key_jwt (RFC 7523), signed with
// RS256, PS256 or ES256, verifiable with the public key, refused for keys
// that do not fit.
#include <catch2/catch.hpp>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "cantdo/auth/jwt_signer.hpp"
#include "cantdo/base/status.hpp"

using cantdo::auth::JwtSigner;

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string Pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string Unb64(absl::string_view s) {
  std::string out;
  REQUIRE(absl::WebSafeBase64Unescape(s, &out));
  return out;
}

// Verifies `jws` with `key` as `alg` says (ES256: r||s turned into DER).
bool Verifies(const std::string& jws, EVP_PKEY* key, const std::string& alg) {
  std::vector<std::string> parts = absl::StrSplit(jws, '.');
  REQUIRE(parts.size() == 3);
  const std::string input = parts[0] + "." + parts[1];
  std::string sig = Unb64(parts[2]);
  if (alg == "ES256") {
    REQUIRE(sig.size() == 64);
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(es, &der);
    sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  REQUIRE(EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, key) == 1);
  if (alg == "PS256") {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  const int ok = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                  reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  return ok == 1;
}

}  // namespace

TEST_CASE("client assertions are signed RS256, PS256 or ES256 and verify with the public key", "[unit][auth]") {
  Pkey rsa(EVP_RSA_gen(2048));
  Pkey ec(EVP_EC_gen("P-256"));
  REQUIRE(rsa);
  REQUIRE(ec);
  const nlohmann::json claims = {{"iss", "cantdo-ciba-bridge"},
                                 {"sub", "cantdo-ciba-bridge"},
                                 {"aud", "https://idp.test"},
                                 {"jti", "j1"},
                                 {"iat", 1},
                                 {"exp", 61}};
  struct Case {
    EVP_PKEY* key;
    std::string alg, want;
  };
  for (const Case& c : {Case{rsa.get(), "", "RS256"}, Case{rsa.get(), "PS256", "PS256"}, Case{ec.get(), "", "ES256"}}) {
    INFO(c.want);
    auto signer = JwtSigner::FromPem(Pem(c.key), c.alg, "bridge-key-1");
    REQUIRE(signer.ok());
    CHECK((*signer)->alg() == c.want);
    auto jws = (*signer)->Sign(claims);
    REQUIRE(jws.ok());
    std::vector<std::string> parts = absl::StrSplit(*jws, '.');
    auto header = nlohmann::json::parse(Unb64(parts[0]));
    CHECK(header["alg"] == c.want);
    CHECK(header["kid"] == "bridge-key-1");
    CHECK(nlohmann::json::parse(Unb64(parts[1])) == claims);
    CHECK(Verifies(*jws, c.key, c.want));
    // A changed payload does not verify.
    std::string forged = parts[0] + "." + parts[1] + "x." + parts[2];
    CHECK_FALSE(Verifies(forged, c.key, c.want));
  }
}

TEST_CASE("a key that does not fit the algorithm, or no key, is a clear configuration error", "[unit][auth]") {
  Pkey rsa(EVP_RSA_gen(2048));
  Pkey ec(EVP_EC_gen("P-256"));
  CHECK(JwtSigner::FromPem(Pem(rsa.get()), "ES256", "").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(JwtSigner::FromPem(Pem(ec.get()), "RS256", "").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(JwtSigner::FromPem("not a key", "", "").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(JwtSigner::FromPemFile("/nonexistent/key.pem", "", "").status().code() == absl::StatusCode::kInvalidArgument);
  Pkey small(EVP_RSA_gen(1024));
  CHECK(JwtSigner::FromPem(Pem(small.get()), "", "").status().code() == absl::StatusCode::kInvalidArgument);
}
