#include "cantdo/auth/jwt_signer.hpp"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::auth {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

std::string B64(const std::string& bytes) {
  std::string out;
  absl::WebSafeBase64Escape(bytes, &out);
  return out;
}

absl::Status BadKey(absl::string_view why) { return InvalidArgument("client_key", why); }

// OpenSSL's DER ECDSA signature as JWS's r||s, 32 bytes each (RFC 7518 3.4).
absl::StatusOr<std::string> DerToRaw(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return absl::InternalError("ECDSA signature does not parse");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(64, '\0');
  if (BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32) != 32 ||
      BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) != 32) {
    return absl::InternalError("ECDSA signature of the wrong size");
  }
  return raw;
}

}  // namespace

struct JwtSigner::Key {
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey;
};

JwtSigner::JwtSigner(std::unique_ptr<Key> key, std::string alg, std::string kid)
    : key_(std::move(key)), alg_(std::move(alg)), kid_(std::move(kid)) {}
JwtSigner::~JwtSigner() = default;

absl::StatusOr<std::unique_ptr<JwtSigner>> JwtSigner::FromPemFile(const std::string& path, std::string alg,
                                                                  std::string kid) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return BadKey(absl::StrCat("cannot read the private key file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return FromPem(ss.str(), std::move(alg), std::move(kid));
}

absl::StatusOr<std::unique_ptr<JwtSigner>> JwtSigner::FromPem(const std::string& pem, std::string alg,
                                                              std::string kid) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  auto key = std::make_unique<Key>();
  key->pkey.reset(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key->pkey) return BadKey("not a PEM private key (PKCS#8, PKCS#1 or SEC 1, unencrypted)");
  const int type = EVP_PKEY_base_id(key->pkey.get());
  if (type == EVP_PKEY_RSA) {
    if (alg.empty()) alg = "RS256";
    if (alg != "RS256" && alg != "PS256") return BadKey(absl::StrCat("an RSA key signs RS256 or PS256, not ", alg));
    if (EVP_PKEY_bits(key->pkey.get()) < 2048) return BadKey("RSA keys must have at least 2048 bits");
  } else if (type == EVP_PKEY_EC) {
    if (alg.empty()) alg = "ES256";
    if (alg != "ES256") return BadKey(absl::StrCat("an EC key signs ES256, not ", alg));
    if (EVP_PKEY_bits(key->pkey.get()) != 256) return BadKey("ES256 needs a P-256 key");
  } else {
    return BadKey("the key must be RSA or EC P-256");
  }
  return std::unique_ptr<JwtSigner>(new JwtSigner(std::move(key), std::move(alg), std::move(kid)));
}

absl::StatusOr<std::string> JwtSigner::Sign(const nlohmann::json& claims) const {
  nlohmann::json header = {{"alg", alg_}, {"typ", "JWT"}};
  if (!kid_.empty()) header["kid"] = kid_;
  const std::string input = absl::StrCat(B64(header.dump()), ".", B64(claims.dump()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key_->pkey.get()) != 1) {
    return absl::InternalError("cannot initialise signing");
  }
  if (alg_ == "PS256" && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return absl::InternalError("cannot set PSS padding");
  }
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) return absl::InternalError("signing failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1) {
    return absl::InternalError("signing failed");
  }
  sig.resize(len);
  if (alg_ == "ES256") {
    CANTDO_ASSIGN_OR_RETURN(sig, DerToRaw(sig));
  }
  return absl::StrCat(input, ".", B64(sig));
}

}  // namespace cantdo::auth
