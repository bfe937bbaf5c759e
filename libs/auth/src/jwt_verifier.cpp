#include "cantdo/auth/jwt_verifier.hpp"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cantdo/base/status.hpp"

namespace cantdo::auth {
namespace {

absl::Status Malformed(absl::string_view why) {
  return PermissionDenied("ID_TOKEN_MALFORMED", absl::StrCat("ID token malformed: ", why));
}

// Strict base64url: the unpadded alphabet only.
bool DecodePart(absl::string_view part, std::string* out) {
  for (char c : part) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return absl::WebSafeBase64Unescape(part, out);
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

// JWS ES256 signatures are r||s (32 bytes each); OpenSSL wants DER.
bool EcdsaRawToDer(const std::string& raw, std::string* der) {
  if (raw.size() != 64) return false;
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return false;
  der->resize(static_cast<std::size_t>(len));
  unsigned char* p = reinterpret_cast<unsigned char*>(der->data());
  return i2d_ECDSA_SIG(sig.get(), &p) == len;
}

bool VerifySignature(EVP_PKEY* key, const std::string& alg, absl::string_view signing_input,
                     const std::string& signature) {
  std::string sig = signature;
  if (alg == "ES256" && !EcdsaRawToDer(signature, &sig)) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
}

bool NumericDate(const nlohmann::json& claims, const char* name, absl::Time* out) {
  if (!claims.contains(name) || !claims[name].is_number()) return false;
  *out = absl::FromUnixSeconds(static_cast<int64_t>(claims[name].get<double>()));
  return true;
}

}  // namespace

JwtVerifier::JwtVerifier(KeySource& keys, Clock& clock, VerifyOptions options)
    : keys_(keys), clock_(clock), options_(std::move(options)) {}

absl::StatusOr<VerifiedToken> JwtVerifier::Verify(absl::string_view compact) const {
  if (compact.size() > options_.max_token_bytes) return Malformed("too large");
  std::vector<absl::string_view> parts = absl::StrSplit(compact, '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) {
    return Malformed("expected three dot-separated parts (JWS compact serialization)");
  }
  std::string header_json, claims_json, signature;
  if (!DecodePart(parts[0], &header_json) || !DecodePart(parts[1], &claims_json) || !DecodePart(parts[2], &signature)) {
    return Malformed("a part is not base64url");
  }
  VerifiedToken t;
  t.header = nlohmann::json::parse(header_json, nullptr, false);
  if (t.header.is_discarded() || !t.header.is_object()) return Malformed("header is not a JSON object");
  if (t.header.contains("crit")) return Malformed("critical header extensions are not supported");
  if (!t.header.contains("alg") || !t.header["alg"].is_string()) return Malformed("no alg");

  const std::string alg = t.header["alg"].get<std::string>();
  if (std::find(options_.algorithms.begin(), options_.algorithms.end(), alg) == options_.algorithms.end()) {
    return PermissionDenied("ID_TOKEN_ALG_NOT_ALLOWED", absl::StrCat("ID token algorithm '", alg, "' is not allowed"));
  }
  const std::string kid =
      t.header.contains("kid") && t.header["kid"].is_string() ? t.header["kid"].get<std::string>() : "";
  CANTDO_ASSIGN_OR_RETURN(Jwk jwk, keys_.Find(kid, alg));
  const absl::string_view signing_input(parts[0].data(), parts[0].size() + 1 + parts[1].size());
  if (signature.empty() || !VerifySignature(jwk.key.get(), alg, signing_input, signature)) {
    return PermissionDenied("ID_TOKEN_BAD_SIGNATURE", "ID token signature does not verify");
  }

  // Only now is anything in the payload believed.
  t.claims = nlohmann::json::parse(claims_json, nullptr, false);
  if (t.claims.is_discarded() || !t.claims.is_object()) return Malformed("claims are not a JSON object");
  if (!t.claims.contains("iss") || !t.claims["iss"].is_string() ||
      t.claims["iss"].get<std::string>() != options_.issuer) {
    return PermissionDenied("ID_TOKEN_ISSUER_MISMATCH", absl::StrCat("ID token issuer is not '", options_.issuer, "'"));
  }
  t.issuer = options_.issuer;

  std::vector<std::string> aud;
  if (t.claims.contains("aud") && t.claims["aud"].is_string()) {
    aud.push_back(t.claims["aud"].get<std::string>());
  } else if (t.claims.contains("aud") && t.claims["aud"].is_array()) {
    for (const auto& a : t.claims["aud"]) {
      if (a.is_string()) aud.push_back(a.get<std::string>());
    }
  }
  auto ours = [&](const std::string& a) {
    return std::find(options_.audiences.begin(), options_.audiences.end(), a) != options_.audiences.end();
  };
  bool aud_ok = std::any_of(aud.begin(), aud.end(), ours);
  if (aud_ok && aud.size() > 1 && t.claims.contains("azp")) {
    aud_ok = t.claims["azp"].is_string() && ours(t.claims["azp"].get<std::string>());
  }
  if (!aud_ok) return PermissionDenied("ID_TOKEN_AUDIENCE_MISMATCH", "ID token is not meant for us (aud)");

  if (!t.claims.contains("sub") || !t.claims["sub"].is_string() || t.claims["sub"].get<std::string>().empty()) {
    return Malformed("no sub");
  }
  t.subject = t.claims["sub"].get<std::string>();
  if (!NumericDate(t.claims, "exp", &t.expires)) return Malformed("no exp");
  if (!NumericDate(t.claims, "iat", &t.issued)) return Malformed("no iat");
  const absl::Time now = clock_.Now();
  if (now > t.expires + options_.clock_skew) {
    return PermissionDenied("ID_TOKEN_EXPIRED", "ID token has expired");
  }
  absl::Time nbf;
  if (t.issued > now + options_.clock_skew || (NumericDate(t.claims, "nbf", &nbf) && nbf > now + options_.clock_skew)) {
    return PermissionDenied("ID_TOKEN_NOT_YET_VALID", "ID token is not valid yet (iat/nbf in the future)");
  }
  return t;
}

}  // namespace cantdo::auth
