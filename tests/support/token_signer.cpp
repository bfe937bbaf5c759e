#include "support/token_signer.hpp"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdexcept>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"

namespace cantdo::testing {
namespace {

std::string Bn(const EVP_PKEY* key, const char* name, std::size_t pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error("get bn");
  std::size_t len = std::max(pad, static_cast<std::size_t>(BN_num_bytes(bn)));
  std::string out(len, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(len));
  BN_free(bn);
  return out;
}

}  // namespace

std::string Base64Url(const std::string& bytes) { return absl::WebSafeBase64Escape(bytes); }

struct TokenSigner::Impl {
  EVP_PKEY* key = nullptr;
  ~Impl() { EVP_PKEY_free(key); }
};

TokenSigner::TokenSigner(std::string kid, Alg alg) : impl_(std::make_unique<Impl>()), kid_(std::move(kid)), alg_(alg) {
  impl_->key = alg == Alg::kRS256 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (!impl_->key) throw std::runtime_error("keygen");
}

TokenSigner::~TokenSigner() = default;

nlohmann::json TokenSigner::PublicJwk() const {
  if (alg_ == Alg::kRS256) {
    return {{"kty", "RSA"},
            {"kid", kid_},
            {"use", "sig"},
            {"alg", "RS256"},
            {"n", Base64Url(Bn(impl_->key, OSSL_PKEY_PARAM_RSA_N))},
            {"e", Base64Url(Bn(impl_->key, OSSL_PKEY_PARAM_RSA_E))}};
  }
  return {{"kty", "EC"},
          {"kid", kid_},
          {"use", "sig"},
          {"alg", "ES256"},
          {"crv", "P-256"},
          {"x", Base64Url(Bn(impl_->key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", Base64Url(Bn(impl_->key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

std::string TokenSigner::Jwks() const { return nlohmann::json{{"keys", {PublicJwk()}}}.dump(); }

std::string TokenSigner::JwksOf(const TokenSigner& a, const TokenSigner& b) {
  return nlohmann::json{{"keys", {a.PublicJwk(), b.PublicJwk()}}}.dump();
}

std::string TokenSigner::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, impl_->key);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string TokenSigner::Sign(const nlohmann::json& claims, const nlohmann::json& extra_header) const {
  nlohmann::json header = {{"alg", alg_ == Alg::kRS256 ? "RS256" : "ES256"}, {"kid", kid_}, {"typ", "JWT"}};
  for (const auto& [k, v] : extra_header.items()) header[k] = v;
  const std::string input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, impl_->key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg_ == Alg::kES256) {  // DER -> JWS r||s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return input + "." + Base64Url(sig);
}

std::string TokenSigner::Unsigned(const nlohmann::json& claims) {
  return Base64Url(nlohmann::json{{"alg", "none"}, {"typ", "JWT"}}.dump()) + "." + Base64Url(claims.dump()) + ".";
}

std::string TokenSigner::HmacWithPublicKey(const nlohmann::json& claims) const {
  const std::string input = Base64Url(nlohmann::json{{"alg", "HS256"}, {"kid", kid_}, {"typ", "JWT"}}.dump()) + "." +
                            Base64Url(claims.dump());
  const std::string secret = PublicPem();
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  return input + "." + Base64Url(std::string(reinterpret_cast<char*>(mac), mac_len));
}

std::string TokenSigner::Tampered(const nlohmann::json& signed_claims, const nlohmann::json& claims) const {
  std::vector<std::string> parts = absl::StrSplit(Sign(signed_claims), '.');
  return parts[0] + "." + Base64Url(claims.dump()) + "." + parts[2];
}

}  // namespace cantdo::testing
