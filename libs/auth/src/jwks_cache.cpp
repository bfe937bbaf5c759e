#include "cantdo/auth/jwks_cache.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::auth {

JwksCache::JwksCache(JwksFetcher fetch, Clock& clock, JwksCacheOptions options)
    : fetch_(std::move(fetch)), clock_(clock), options_(options) {}

int JwksCache::fetch_count() const {
  absl::MutexLock lock(&mu_);
  return fetch_count_;
}

absl::Status JwksCache::RefreshLocked() {
  ++fetch_count_;
  fetched_at_ = clock_.Now();  // also on failure: bounds the retry rate
  auto doc = fetch_();
  if (!doc.ok()) {
    return Unavailable("DEPENDENCY_UNAVAILABLE",
                       absl::StrCat("cannot fetch the identity provider's keys: ", doc.status().message()));
  }
  auto set = JwkSet::Parse(*doc);
  if (!set.ok()) {
    return Unavailable("DEPENDENCY_UNAVAILABLE",
                       absl::StrCat("identity provider's keys unusable: ", set.status().message()));
  }
  keys_ = std::make_unique<JwkSet>(*std::move(set));
  return absl::OkStatus();
}

absl::StatusOr<Jwk> JwksCache::Find(const std::string& kid, const std::string& alg) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  bool fresh = false;  // fetched by this call: its answer is final
  if (!keys_ || now - fetched_at_ >= options_.max_age) {
    absl::Status st = RefreshLocked();
    if (!st.ok() && !keys_) return st;  // stale keys beat no keys
    fresh = st.ok();
  }
  const Jwk* jwk = keys_->Find(kid);
  if (jwk == nullptr && !fresh && now - fetched_at_ < options_.min_refresh_interval) {
    // The provider may have rotated its key since the last fetch: the token
    // is not refused for a kid nobody has looked for yet. The caller retries
    // (the bridge redelivers) and the next permitted fetch decides.
    const absl::Duration wait = options_.min_refresh_interval - (now - fetched_at_);
    const int64_t retry_after = std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
    return WithMetadata(
        WithMetadata(Unavailable("ID_TOKEN_KEY_NOT_YET_FETCHED",
                                 absl::StrCat("no signing key with kid '", kid,
                                              "' among the identity provider's keys as last fetched; they are "
                                              "fetched again in ",
                                              retry_after, " s (retry)")),
                     "kid", kid),
        "retry_after_seconds", absl::StrCat(retry_after));
  }
  if (jwk == nullptr && !fresh) {
    CANTDO_RETURN_IF_ERROR(RefreshLocked());
    jwk = keys_->Find(kid);
  }
  if (jwk == nullptr) {
    return PermissionDenied("ID_TOKEN_UNKNOWN_KID",
                            absl::StrCat("no signing key with kid '", kid, "' at the identity provider"));
  }
  if (!jwk->Accepts(alg)) {
    return PermissionDenied("ID_TOKEN_ALG_NOT_ALLOWED",
                            absl::StrCat("key '", kid, "' (", jwk->kty, ") may not verify ", alg));
  }
  return *jwk;
}

JwksFetcher FileJwksFetcher(std::string path) {
  return [path]() -> absl::StatusOr<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
}

}  // namespace cantdo::auth
