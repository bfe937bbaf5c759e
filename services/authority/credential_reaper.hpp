#pragma once
// CredentialReaper: finishes, off the caller's path, the destruction of
// credentials that are already disabled (CredentialIssuer::Disable). A
// consume answers once its grant's credential can do nothing; ending the
// login's sessions, dropping it and recording CREDENTIAL_DESTROYED happen
// here, one credential at a time on a thread of its own, within moments.
//
// Nothing is lost if this falls behind or the process stops: the grant still
// names its credential until the destruction is recorded, and the sweeper
// destroys any credential whose grant is no longer CLAIMED
// (GrantStore::WithStaleCredentials). A full queue drops the newest work for
// the sweeper to do.

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cantdo/common/v1/authorization.pb.h"

namespace cantdo::authority {

class CredentialReaper {
 public:
  // Destroys the credential `handle` of `grant` and records it (for the
  // authority: Grants::ForgetCredential). An error is logged and left to
  // the sweeper.
  using Destroy = std::function<absl::Status(const common::v1::Grant& grant, const std::string& handle)>;

  CredentialReaper(Destroy destroy, std::size_t capacity);
  ~CredentialReaper();  // Stop()
  // Waits for the destruction in hand, if any, and stops the thread;
  // credentials still queued are the sweeper's, and Enqueue refuses from
  // then on. Call it before what Destroy uses (the pool, the issuer) goes.
  // Idempotent.
  void Stop();
  CredentialReaper(const CredentialReaper&) = delete;
  CredentialReaper& operator=(const CredentialReaper&) = delete;

  // Queues the destruction, to run under the caller's current trace
  // context (its log lines and ledger entry carry the same trace id); false
  // if the queue is full (the sweeper will do it). A handle already held
  // is not queued twice.
  bool Enqueue(common::v1::Grant grant, std::string handle);
  // Credentials queued or being destroyed now.
  std::size_t Pending();
  // Whether credential `handle` is queued or being destroyed here: this
  // replica's sweeper leaves it alone instead of racing the reaper.
  bool Holds(const std::string& handle);

 private:
  struct Work {
    common::v1::Grant grant;
    std::string handle;
    std::string traceparent;  // the enqueuer's, or ""
  };
  void Run();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Destroy destroy_;
  const std::size_t capacity_;
  absl::Mutex mu_;
  std::deque<Work> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> held_ ABSL_GUARDED_BY(mu_);  // queued or in hand
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace cantdo::authority
