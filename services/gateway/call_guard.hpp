#pragma once
// The checks every gateway RPC makes first, in this order: authenticate
// the caller (UNAUTHENTICATED), apply its rate limit (RESOURCE_EXHAUSTED),
// check its role (PERMISSION_DENIED). Rate limiting before the role check
// keeps a caller probing RPCs it may not call inside its budget too.

#include <vector>

#include <grpcpp/server_context.h>

#include "gateway/caller.hpp"
#include "gateway/rate_limiter.hpp"

namespace cantdo::gateway {

class CallGuard {
 public:
  // Both must outlive the guard.
  CallGuard(const CallerAuthenticator& authenticator, RateLimiter& limiter)
      : authenticator_(authenticator), limiter_(limiter) {}

  absl::StatusOr<Caller> Admit(const ::grpc::ServerContext& ctx, const std::vector<Role>& roles) const {
    absl::StatusOr<Caller> caller = authenticator_.Authenticate(ctx);
    if (!caller.ok()) return caller.status();
    if (absl::Status st = limiter_.Admit(caller->principal); !st.ok()) return st;
    if (absl::Status st = RequireRole(*caller, roles); !st.ok()) return st;
    return caller;
  }

 private:
  const CallerAuthenticator& authenticator_;
  RateLimiter& limiter_;
};

}  // namespace cantdo::gateway
