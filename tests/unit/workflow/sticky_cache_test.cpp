// StickyCache: a bounded LRU of Replayers that hands each out to one taker
// at a time and evicts the least recently put back.

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "cantdo/base/ids.hpp"
#include "cantdo/workflow/internal/sticky_cache.hpp"
#include "cantdo/workflow/replayer.hpp"

namespace {

using namespace cantdo::workflow;
using cantdo::workflow::internal::StickyCache;

const WorkflowFunction kNoop = [](WorkflowContext&, const Payload& in) -> Task<Result> { co_return in; };

std::unique_ptr<Replayer> NewReplayer(const std::string& run_id) {
  return std::make_unique<Replayer>(RunInfo{"wf", run_id, "t", "q"}, kNoop, cantdo::SecureRandom());
}

}  // namespace

TEST_CASE("StickyCache: Take hands out the Replayer put back, once", "[unit][workflow]") {
  StickyCache cache(4);
  auto r = NewReplayer("a");
  Replayer* raw = r.get();
  cache.Put("a", std::move(r));
  CHECK(cache.size() == 1);
  auto taken = cache.Take("a");
  CHECK(taken.get() == raw);
  CHECK(cache.Take("a") == nullptr);  // in use: a second taker gets none
  CHECK(cache.size() == 0);
  CHECK(cache.Take("never-put") == nullptr);
}

TEST_CASE("StickyCache: beyond capacity the least recently put back is evicted", "[unit][workflow]") {
  StickyCache cache(2);
  cache.Put("a", NewReplayer("a"));
  cache.Put("b", NewReplayer("b"));
  // "a" is used again (taken and put back): "b" is now the oldest.
  cache.Put("a", cache.Take("a"));
  cache.Put("c", NewReplayer("c"));
  CHECK(cache.size() == 2);
  CHECK(cache.Take("b") == nullptr);
  CHECK(cache.Take("a") != nullptr);
  CHECK(cache.Take("c") != nullptr);
}

TEST_CASE("StickyCache: putting a run again replaces its entry", "[unit][workflow]") {
  StickyCache cache(2);
  cache.Put("a", NewReplayer("a"));
  auto newer = NewReplayer("a");
  Replayer* raw = newer.get();
  cache.Put("a", std::move(newer));
  CHECK(cache.size() == 1);
  CHECK(cache.Take("a").get() == raw);
}

TEST_CASE("StickyCache: capacity 0 caches nothing", "[unit][workflow]") {
  StickyCache cache(0);
  cache.Put("a", NewReplayer("a"));
  CHECK(cache.size() == 0);
  CHECK(cache.Take("a") == nullptr);
}
