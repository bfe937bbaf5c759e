#include "cantdo/workflow/internal/sticky_cache.hpp"

namespace cantdo::workflow::internal {

std::unique_ptr<Replayer> StickyCache::Take(const std::string& run_id) {
  absl::MutexLock l(&mu_);
  auto it = index_.find(run_id);
  if (it == index_.end()) return nullptr;
  std::unique_ptr<Replayer> replayer = std::move(it->second->second);
  lru_.erase(it->second);
  index_.erase(it);
  return replayer;
}

void StickyCache::Put(const std::string& run_id, std::unique_ptr<Replayer> replayer) {
  if (capacity_ == 0) return;
  absl::MutexLock l(&mu_);
  auto it = index_.find(run_id);
  if (it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.emplace_front(run_id, std::move(replayer));
  index_[run_id] = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

size_t StickyCache::size() const {
  absl::MutexLock l(&mu_);
  return lru_.size();
}

}  // namespace cantdo::workflow::internal
