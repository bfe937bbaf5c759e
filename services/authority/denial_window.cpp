#include "authority/denial_window.hpp"

#include <algorithm>

namespace cantdo::authority {

DenialWindow::DenialWindow(Clock& clock, absl::Duration window, size_t max_principals, size_t max_per_principal)
    : clock_(clock),
      window_(window),
      max_principals_(std::max<size_t>(1, max_principals)),
      max_per_principal_(std::max<size_t>(1, max_per_principal)) {}

void DenialWindow::Prune(std::deque<absl::Time>& times, absl::Time now) const {
  while (!times.empty() && times.front() <= now - window_) times.pop_front();
}

void DenialWindow::Record(const std::string& principal) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = denials_.find(principal);
  if (it == denials_.end()) {
    if (denials_.size() >= max_principals_) {
      // Forget the principals with nothing left in the window; if that is
      // not enough, the one refused least recently.
      for (auto e = denials_.begin(); e != denials_.end();) {
        Prune(e->second, now);
        e = e->second.empty() ? denials_.erase(e) : std::next(e);
      }
      if (denials_.size() >= max_principals_) {
        auto oldest = std::min_element(denials_.begin(), denials_.end(),
                                       [](const auto& a, const auto& b) { return a.second.back() < b.second.back(); });
        denials_.erase(oldest);
      }
    }
    it = denials_.emplace(principal, std::deque<absl::Time>()).first;
  }
  std::deque<absl::Time>& times = it->second;
  Prune(times, now);
  times.push_back(now);
  if (times.size() > max_per_principal_) times.pop_front();
}

DenialWindow::Peak DenialWindow::Read() {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  Peak peak;
  for (auto e = denials_.begin(); e != denials_.end();) {
    Prune(e->second, now);
    if (e->second.empty()) {
      e = denials_.erase(e);
      continue;
    }
    peak.max_per_principal = std::max<int64_t>(peak.max_per_principal, static_cast<int64_t>(e->second.size()));
    ++peak.principals;
    ++e;
  }
  return peak;
}

}  // namespace cantdo::authority
