#pragma once
// Signs ID tokens with the test's own keys, the way an identity provider
// would, and publishes the matching JWKS. Also forges the classic attacks
// (alg none, HS256 keyed with the RSA public key, tampered payloads) so
// tests can show each is refused.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace cantdo::testing {

class TokenSigner {
 public:
  enum class Alg { kRS256, kES256 };
  TokenSigner(std::string kid, Alg alg);
  ~TokenSigner();

  const std::string& kid() const { return kid_; }
  // This key as a JWK (public part) and as a JWKS of one key.
  nlohmann::json PublicJwk() const;
  std::string Jwks() const;
  // The public key as PEM (what an HS256 forger would use as the secret).
  std::string PublicPem() const;

  // header: {"alg","kid","typ":"JWT"} plus `extra_header`.
  std::string Sign(const nlohmann::json& claims, const nlohmann::json& extra_header = nlohmann::json::object()) const;

  // Forgeries.
  static std::string Unsigned(const nlohmann::json& claims);  // alg none
  std::string HmacWithPublicKey(const nlohmann::json& claims) const;
  // A validly signed token with its payload swapped for `claims` afterwards.
  std::string Tampered(const nlohmann::json& signed_claims, const nlohmann::json& claims) const;

  static std::string JwksOf(const TokenSigner& a, const TokenSigner& b);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string kid_;
  Alg alg_;
};

std::string Base64Url(const std::string& bytes);

}  // namespace cantdo::testing
