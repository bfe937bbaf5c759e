// The Worker's lifecycle and public API: Create checks the options, Start
// opens the LISTEN connection and the threads, Stop drains them and hands
// back activity leases that were never started. The work itself is in the
// files worker_impl.hpp lists.

#include "cantdo/workflow/worker.hpp"

#include <algorithm>
#include <utility>

#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/transaction.hpp"
#include "store.hpp"
#include "worker_impl.hpp"

namespace cantdo::workflow {

Worker::Impl::Impl(pg::Pool& pool, const Registry& registry, Clock& clock, WorkerOptions options)
    : pool_(pool),
      registry_(registry),
      clock_(clock),
      options_(std::move(options)),
      cache_(options_.sticky_cache ? options_.sticky_cache_size : 0),
      queues_param_(internal::PgTextArray(options_.task_queues)) {}

absl::Status Worker::Impl::Start() {
  std::string dsn = options_.dsn.empty() ? pool_.options().dsn : options_.dsn;
  CANTDO_ASSIGN_OR_RETURN(listener_, pg::Listener::Create(dsn));
  CANTDO_RETURN_IF_ERROR(listener_->Listen(internal::kTasksChannel));
  listener_thread_ = std::thread([this] { ListenLoop(); });
  for (int i = 0; i < options_.concurrency; ++i) threads_.emplace_back([this] { WorkLoop(); });
  return absl::OkStatus();
}

void Worker::Impl::Stop() {
  if (stopping_.exchange(true)) return;
  Wake();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (listener_thread_.joinable()) listener_thread_.join();
  // Activities leased to us but never started go back to the queue now.
  std::deque<ActivityLease> left;
  {
    absl::MutexLock l(&mu_);
    left.swap(eager_);
  }
  for (const auto& a : left) {
    absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
      CANTDO_RETURN_IF_ERROR(
          internal::ReleaseActivityLease(conn, a.run_id, a.scheduled_event_id, a.lease_id, clock_.Now()));
      return internal::NotifyTaskQueue(conn, a.task_queue);
    });
    if (!s.ok()) log::Warn("releasing activity lease failed", {{"error", s.ToString()}});
  }
}

void Worker::Impl::Wake() {
  absl::MutexLock l(&mu_);
  ++wake_generation_;
  wake_tokens_ += options_.concurrency;
}

WorkerStats Worker::Impl::Stats() const {
  absl::MutexLock l(&stats_mu_);
  return stats_;
}

void Worker::Impl::Count(int64_t WorkerStats::*field, int64_t n) {
  absl::MutexLock l(&stats_mu_);
  stats_.*field += n;
}

bool Worker::Impl::HandlesQueue(const std::string& queue) const {
  return std::find(options_.task_queues.begin(), options_.task_queues.end(), queue) != options_.task_queues.end();
}

bool Worker::Impl::Eager() const { return options_.eager_activities && !stopping_.load(); }

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(pg::Pool& pool, const Registry& registry, Clock& clock,
                                                       WorkerOptions options) {
  if (options.task_queues.empty()) return InvalidArgument("task_queues", "at least one task queue is required");
  if (options.concurrency < 1) return InvalidArgument("concurrency", "concurrency must be >= 1");
  return std::unique_ptr<Worker>(new Worker(std::make_unique<Impl>(pool, registry, clock, std::move(options))));
}

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Worker::~Worker() { impl_->Stop(); }
absl::Status Worker::Start() { return impl_->Start(); }
void Worker::Stop() { impl_->Stop(); }
void Worker::Wake() { impl_->Wake(); }
absl::StatusOr<bool> Worker::RunOnce() { return impl_->RunOnce(); }
WorkerStats Worker::Stats() const { return impl_->Stats(); }

}  // namespace cantdo::workflow
