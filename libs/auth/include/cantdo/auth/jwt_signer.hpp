#pragma once
// JwtSigner: signs compact JWS with a private key read from a PEM file (a
// mounted Kubernetes Secret, say). The ciba-bridge uses it for its
// private_key_jwt client assertions (RFC 7523 section 2.2, OpenID Connect
// Core 9). RS256, PS256 (RSA keys) and ES256 (P-256 keys). Thread-safe once
// created; the key never leaves the object and nothing here logs.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cantdo::auth {

class JwtSigner {
 public:
  // `alg` "" picks RS256 for an RSA key, ES256 for a P-256 key.
  // INVALID_ARGUMENT when the file is unreadable, not a private key, or
  // the key does not fit `alg`. `kid` (may be empty) goes in the header.
  static absl::StatusOr<std::unique_ptr<JwtSigner>> FromPemFile(const std::string& path, std::string alg,
                                                                std::string kid);
  static absl::StatusOr<std::unique_ptr<JwtSigner>> FromPem(const std::string& pem, std::string alg, std::string kid);
  ~JwtSigner();

  const std::string& alg() const { return alg_; }
  // header.payload.signature with header {"alg","typ":"JWT"[,"kid"]}.
  absl::StatusOr<std::string> Sign(const nlohmann::json& claims) const;

 private:
  struct Key;
  JwtSigner(std::unique_ptr<Key> key, std::string alg, std::string kid);
  std::unique_ptr<Key> key_;
  std::string alg_, kid_;
};

}  // namespace cantdo::auth
