#pragma once
// The identity provider's signing keys, cached. An unknown `kid` triggers
// one refetch (key rotation), at most once per `min_refresh_interval`, so a
// flood of tokens with made-up kids cannot turn into a flood of fetches.
// While a refetch is held back an unknown kid is UNAVAILABLE
// (ID_TOKEN_KEY_NOT_YET_FETCHED, retryable), never a refusal: a key the
// provider rotated in after the last fetch is accepted by the first retry
// after the next permitted fetch. Only a kid missing from a fetch made for
// it is PERMISSION_DENIED. The whole set is also refetched after `max_age`.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cantdo/auth/jwk.hpp"
#include "cantdo/base/clock.hpp"

namespace cantdo::auth {

// Returns the JWKS document (e.g. an HTTPS GET of the provider's jwks_uri).
using JwksFetcher = std::function<absl::StatusOr<std::string>()>;

class KeySource {
 public:
  virtual ~KeySource() = default;
  // The key `kid` fit for `alg`: PERMISSION_DENIED ID_TOKEN_UNKNOWN_KID if
  // there is none; UNAVAILABLE DEPENDENCY_UNAVAILABLE if the keys cannot be
  // fetched at all, UNAVAILABLE ID_TOKEN_KEY_NOT_YET_FETCHED if they may not
  // be fetched again yet (JwksCache).
  virtual absl::StatusOr<Jwk> Find(const std::string& kid, const std::string& alg) = 0;
};

struct JwksCacheOptions {
  absl::Duration min_refresh_interval = absl::Seconds(30);
  absl::Duration max_age = absl::Hours(1);
};

class JwksCache final : public KeySource {
 public:
  JwksCache(JwksFetcher fetch, Clock& clock, JwksCacheOptions options = {});
  absl::StatusOr<Jwk> Find(const std::string& kid, const std::string& alg) override;
  int fetch_count() const;

 private:
  absl::Status RefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  JwksFetcher fetch_;
  Clock& clock_;
  JwksCacheOptions options_;
  mutable absl::Mutex mu_;
  std::unique_ptr<JwkSet> keys_ ABSL_GUARDED_BY(mu_);
  absl::Time fetched_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int fetch_count_ ABSL_GUARDED_BY(mu_) = 0;
};

// A fetcher that reads a file (for offline deployments and tests).
JwksFetcher FileJwksFetcher(std::string path);

}  // namespace cantdo::auth
