#include "support/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace cantdo::testing {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("TestPki: ") + what);
}

Key NewKey() {
  Key key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  return key;
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  Check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

Cert MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, long serial) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 30);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  Check(static_cast<bool>(out), "write file");
}

}  // namespace

struct TestPki::Impl {
  Key ca_key;
  Cert ca;
  long next_serial = 2;
};

TestPki::TestPki() : impl_(std::make_unique<Impl>()) {
  impl_->ca_key = NewKey();
  impl_->ca = MakeCert(impl_->ca_key.get(), "cantdo test CA", nullptr, 1);
  AddExt(impl_->ca.get(), impl_->ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExt(impl_->ca.get(), impl_->ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExt(impl_->ca.get(), impl_->ca.get(), NID_subject_key_identifier, "hash");
  Check(X509_sign(impl_->ca.get(), impl_->ca_key.get(), EVP_sha256()) > 0, "sign CA");
  ca_pem_ = CertPem(impl_->ca.get());
}

TestPki::~TestPki() = default;

grpc::TlsMaterial TestPki::Issue(const std::string& identity) {
  Key key = NewKey();
  Cert cert = MakeCert(key.get(), identity.empty() ? "anonymous" : identity, impl_->ca.get(), impl_->next_serial++);
  std::string san = "DNS:localhost,IP:127.0.0.1";
  if (!identity.empty()) san = "URI:spiffe://cantdo/" + identity + "," + san;
  AddExt(cert.get(), impl_->ca.get(), NID_subject_alt_name, san);
  AddExt(cert.get(), impl_->ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExt(cert.get(), impl_->ca.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  AddExt(cert.get(), impl_->ca.get(), NID_authority_key_identifier, "keyid:always");
  Check(X509_sign(cert.get(), impl_->ca_key.get(), EVP_sha256()) > 0, "sign leaf");
  return grpc::TlsMaterial{CertPem(cert.get()), KeyPem(key.get()), ca_pem_};
}

TestPki::Files TestPki::WriteFiles(const std::string& dir, const std::string& identity) {
  grpc::TlsMaterial m = Issue(identity);
  std::string base = dir + "/" + (identity.empty() ? "anonymous" : identity);
  for (char& c : base)
    if (c == ':') c = '_';
  std::filesystem::create_directories(std::filesystem::path(base).parent_path());
  Files f{base + ".pem", base + ".key", dir + "/ca.pem"};
  WriteFile(f.cert, m.cert_pem);
  WriteFile(f.key, m.key_pem);
  WriteFile(f.ca, ca_pem_);
  return f;
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/cantdo-test-XXXXXX";
  Check(mkdtemp(templ.data()) != nullptr, "mkdtemp");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace cantdo::testing
