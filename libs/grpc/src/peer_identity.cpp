#include "cantdo/grpc/peer_identity.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cantdo/base/status.hpp"

namespace cantdo::grpc {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};

}  // namespace

std::string ServiceSpiffeId(const std::string& service) { return absl::StrCat("spiffe://cantdo/", service); }

absl::StatusOr<PeerIdentity> IdentityFromPem(const std::string& cert_pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  if (!bio) return absl::InternalError("BIO_new_mem_buf failed");
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return absl::InvalidArgumentError("peer certificate is not valid PEM");

  PeerIdentity id;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
      if (gn->type != GEN_URI) continue;
      const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
      std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<std::size_t>(ASN1_STRING_length(s)));
      if (id.spiffe_id.empty() && absl::StartsWith(uri, "spiffe://")) id.spiffe_id = uri;
      id.uri_sans.push_back(std::move(uri));
    }
  }
  if (X509_NAME* subject = X509_get_subject_name(cert.get())) {
    char cn[256] = {0};
    if (X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof(cn)) > 0) id.common_name = cn;
  }
  return id;
}

namespace {

// Parsing a certificate (OpenSSL 3's decoder framework) costs more than the
// call it authenticates, and a client presents the same certificate on
// every call of its connection. So identities are remembered by the exact
// certificate text they were parsed from: the same bytes give the same
// identity, so this changes no decision. Bounded: emptied when full.
class IdentityCache {
 public:
  std::optional<PeerIdentity> Get(const std::string& pem) {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(pem);
    if (it == cache_.end()) return std::nullopt;
    return it->second;
  }
  void Put(const std::string& pem, const PeerIdentity& id) {
    absl::MutexLock lock(&mu_);
    if (cache_.size() >= kCapacity) cache_.clear();
    cache_.emplace(pem, id);
  }

 private:
  static constexpr size_t kCapacity = 1024;
  absl::Mutex mu_;
  std::unordered_map<std::string, PeerIdentity> cache_ ABSL_GUARDED_BY(mu_);
};

IdentityCache& Identities() {
  static auto* cache = new IdentityCache();
  return *cache;
}

}  // namespace

std::optional<PeerIdentity> PeerFromContext(const ::grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return std::nullopt;
  auto pem = auth->FindPropertyValues("x509_pem_cert");
  if (pem.empty()) return std::nullopt;
  std::string text(pem.front().data(), pem.front().size());
  if (auto known = Identities().Get(text)) return known;
  auto id = IdentityFromPem(text);
  if (!id.ok()) return std::nullopt;
  Identities().Put(text, *id);
  return *std::move(id);
}

absl::Status RequirePeer(const ::grpc::ServerContextBase& ctx, const std::vector<std::string>& allowed) {
  auto peer = PeerFromContext(ctx);
  if (!peer) {
    return WithReason(absl::UnauthenticatedError("a client certificate is required for this call"),
                      "CALLER_UNAUTHENTICATED");
  }
  if (std::find(allowed.begin(), allowed.end(), peer->spiffe_id) == allowed.end()) {
    return PermissionDenied("CALLER_NOT_ALLOWED",
                            absl::StrCat("caller '", peer->spiffe_id.empty() ? peer->common_name : peer->spiffe_id,
                                         "' may not call this method; allowed: ", absl::StrJoin(allowed, ", ")));
  }
  return absl::OkStatus();
}

}  // namespace cantdo::grpc
