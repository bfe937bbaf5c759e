#pragma once
// StickyCache: a bounded LRU of live runs' Replayers, so that a run's next
// workflow task continues from memory instead of replaying its history.
// Not part of the engine's API (internal/): the Worker's, and its tests'.
//
// Contract: Take() removes the entry, so a Replayer is in use by one thread
// at a time; the caller puts it back (Put) only after the transaction that
// recorded its task committed, so a cached Replayer never holds state the
// database lacks. A stale entry (history grew elsewhere) is the caller's to
// detect (Replayer::last_event_id); correctness never depends on a hit.
// Capacity 0 caches nothing. Thread-safe.

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cantdo/workflow/replayer.hpp"

namespace cantdo::workflow::internal {

class StickyCache {
 public:
  explicit StickyCache(size_t capacity) : capacity_(capacity) {}

  // The run's Replayer, removed from the cache; null if none.
  std::unique_ptr<Replayer> Take(const std::string& run_id);

  // Caches `replayer` as the run's most recent entry (replacing any), and
  // evicts the least recently used beyond capacity.
  void Put(const std::string& run_id, std::unique_ptr<Replayer> replayer);

  size_t size() const;

 private:
  using Entry = std::pair<std::string, std::unique_ptr<Replayer>>;

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cantdo::workflow::internal
