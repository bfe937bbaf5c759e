#include "cantdo/runtime/database_collector.hpp"

#include <atomic>
#include <memory>

#include "absl/time/clock.h"
#include "cantdo/base/log.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::runtime {

void AddDatabaseCollector(metrics::Registry& registry, pg::Pool& pool, std::string name, DatabaseCollect collect,
                          absl::Duration timeout) {
  auto failing = std::make_shared<std::atomic<bool>>(false);
  registry.AddCollector([&pool, name = std::move(name), collect = std::move(collect), timeout,
                         failing](std::vector<metrics::CollectedFamily>& out) {
    std::vector<metrics::CollectedFamily> read;
    pg::TxOptions options;
    options.read_only = true;
    options.max_attempts = 1;
    options.deadline = absl::Now() + timeout;
    const absl::Status st = pg::RunInTransaction(pool, options, [&](pg::Connection& tx) {
      read.clear();
      return collect(tx, read);
    });
    if (!st.ok()) {
      if (!failing->exchange(true)) {
        log::Warn("metrics from the database left out of the scrape",
                  {{"collector", name}, {"error", std::string(st.message())}});
      }
      return;
    }
    failing->store(false);
    for (auto& f : read) out.push_back(std::move(f));
  });
}

}  // namespace cantdo::runtime
