#include "authority/credential_reaper.hpp"

#include <utility>

#include "cantdo/base/log.hpp"
#include "cantdo/base/trace_context.hpp"

namespace cantdo::authority {

CredentialReaper::CredentialReaper(Destroy destroy, std::size_t capacity)
    : destroy_(std::move(destroy)), capacity_(capacity), thread_([this] { Run(); }) {}

CredentialReaper::~CredentialReaper() { Stop(); }

void CredentialReaper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool CredentialReaper::Enqueue(common::v1::Grant grant, std::string handle) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= capacity_) return false;
  if (!held_.insert(handle).second) return true;
  queue_.push_back({std::move(grant), std::move(handle), trace::CurrentTraceparent()});
  return true;
}

std::size_t CredentialReaper::Pending() {
  absl::MutexLock lock(&mu_);
  return held_.size();
}

bool CredentialReaper::Holds(const std::string& handle) {
  absl::MutexLock lock(&mu_);
  return held_.contains(handle);
}

bool CredentialReaper::HasWorkOrStopping() const { return stopping_ || !queue_.empty(); }

void CredentialReaper::Run() {
  for (;;) {
    Work work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &CredentialReaper::HasWorkOrStopping));
      if (stopping_) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    trace::ScopedTrace traced(work.traceparent);
    if (absl::Status st = destroy_(work.grant, work.handle); !st.ok()) {
      log::Warn("disabled credential not destroyed; the sweeper retries",
                {{"grant_id", work.grant.grant_id()}, {"error", std::string(st.message())}});
    }
    absl::MutexLock lock(&mu_);
    held_.erase(work.handle);
  }
}

}  // namespace cantdo::authority
