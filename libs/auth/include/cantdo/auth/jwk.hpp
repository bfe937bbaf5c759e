#pragma once
// JSON Web Keys (RFC 7517) for signature verification: RSA (RS256) and
// EC P-256 (ES256) public keys, as an identity provider's JWKS publishes
// them. Keys of other types, curves, or RSA keys under 2048 bits are
// skipped when parsing a set (a provider may publish keys we never accept).

#include <map>
#include <memory>
#include <string>

#include <openssl/evp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::auth {

struct Jwk {
  std::string kid;
  std::string kty;  // "RSA" or "EC"
  std::string alg;  // as published; may be empty
  std::shared_ptr<EVP_PKEY> key;

  // Whether this key may verify a signature made with `alg`: the key type
  // must fit the algorithm (so an RSA public key can never be used as an
  // HMAC secret), and a published "alg" must equal it.
  bool Accepts(absl::string_view alg) const;
};

// kid -> key. A set with keys lacking "kid" keeps them under "".
class JwkSet {
 public:
  // Parses a JWKS document {"keys":[...]}. INVALID_ARGUMENT if it is not one.
  static absl::StatusOr<JwkSet> Parse(absl::string_view json);

  const Jwk* Find(const std::string& kid) const;
  std::size_t size() const { return keys_.size(); }

 private:
  std::map<std::string, Jwk> keys_;
};

}  // namespace cantdo::auth
