#include "cantdo/auth/jwk.hpp"

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"

namespace cantdo::auth {
namespace {

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

bool B64(const nlohmann::json& j, const char* field, std::string* out) {
  if (!j.contains(field) || !j[field].is_string()) return false;
  return absl::WebSafeBase64Unescape(j[field].get<std::string>(), out) && !out->empty();
}

std::shared_ptr<EVP_PKEY> FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return nullptr;
  }
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

std::shared_ptr<EVP_PKEY> RsaKey(const nlohmann::json& j) {
  std::string n, e;
  if (!B64(j, "n", &n) || !B64(j, "e", &e)) return nullptr;
  if (n.size() * 8 < 2048) return nullptr;  // refuse weak keys
  std::unique_ptr<BIGNUM, BnFree> bn_n(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return nullptr;
  }
  return FromParams("RSA", bld.get());
}

std::shared_ptr<EVP_PKEY> EcKey(const nlohmann::json& j) {
  if (!j.contains("crv") || j["crv"] != "P-256") return nullptr;
  std::string x, y;
  if (!B64(j, "x", &x) || !B64(j, "y", &y) || x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    return nullptr;
  }
  return FromParams("EC", bld.get());
}

}  // namespace

bool Jwk::Accepts(absl::string_view want) const {
  if (!alg.empty() && alg != want) return false;
  if (want == "RS256") return kty == "RSA";
  if (want == "ES256") return kty == "EC";
  return false;
}

absl::StatusOr<JwkSet> JwkSet::Parse(absl::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return absl::InvalidArgumentError("not a JWKS document (expected {\"keys\": [...]})");
  }
  JwkSet set;
  for (const auto& k : doc["keys"]) {
    if (!k.is_object() || !k.contains("kty") || !k["kty"].is_string()) continue;
    if (k.contains("use") && k["use"] != "sig") continue;
    Jwk jwk;
    jwk.kty = k["kty"].get<std::string>();
    if (k.contains("kid") && k["kid"].is_string()) jwk.kid = k["kid"].get<std::string>();
    if (k.contains("alg") && k["alg"].is_string()) jwk.alg = k["alg"].get<std::string>();
    if (jwk.kty == "RSA")
      jwk.key = RsaKey(k);
    else if (jwk.kty == "EC")
      jwk.key = EcKey(k);
    if (!jwk.key) continue;
    set.keys_.emplace(jwk.kid, std::move(jwk));
  }
  return set;
}

const Jwk* JwkSet::Find(const std::string& kid) const {
  auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : &it->second;
}

}  // namespace cantdo::auth
