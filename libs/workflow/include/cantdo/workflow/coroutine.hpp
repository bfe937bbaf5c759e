#pragma once
// The coroutine vocabulary of workflow code: Task<T> (what a workflow or a
// helper coroutine returns) and Future (a durable result that history will
// deliver: an activity's outcome, a timer, a signal).
//
// Everything here is single-threaded by design: one workflow run is driven by
// one thread at a time (the Replayer), and a coroutine is resumed only from
// the run's ready queue, never re-entrantly from inside another resumption.
// That is what makes replay deterministic.

#include <coroutine>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <google/protobuf/any.pb.h>

#include "absl/status/statusor.h"

namespace cantdo::workflow {

// Every durable result is a payload or an error.
using Payload = google::protobuf::Any;
using Result = absl::StatusOr<Payload>;

namespace internal {

// A suspended coroutine waiting on one or more futures. `fired` makes sure a
// coroutine waiting on several futures (WaitAny) is resumed once.
struct Waiter {
  std::coroutine_handle<> handle;
  bool fired = false;
};

// The run's queue of coroutines ready to resume, drained by the Replayer
// after each history event it applies.
class ReadyQueue {
 public:
  void Push(std::shared_ptr<Waiter> w) {
    if (w->fired) return;
    w->fired = true;
    queue_.push_back(std::move(w));
  }
  // Resumes ready coroutines until none is left.
  void Drain() {
    while (!queue_.empty()) {
      std::shared_ptr<Waiter> w = std::move(queue_.front());
      queue_.pop_front();
      w->handle.resume();
    }
  }
  void Clear() { queue_.clear(); }

 private:
  std::deque<std::shared_ptr<Waiter>> queue_;
};

struct FutureState {
  ReadyQueue* ready = nullptr;
  std::optional<Result> result;
  std::vector<std::shared_ptr<Waiter>> waiters;

  void Resolve(Result r) {
    if (result.has_value()) return;  // first resolution wins (history order)
    result.emplace(std::move(r));
    for (auto& w : waiters) ready->Push(w);
    waiters.clear();
  }
};

}  // namespace internal

// A result that history delivers later. Copyable handle; `co_await future`
// yields the Result. Awaiting a future that is already resolved does not
// suspend.
class Future {
 public:
  Future() = default;
  explicit Future(std::shared_ptr<internal::FutureState> state) : state_(std::move(state)) {}

  bool ready() const { return state_ && state_->result.has_value(); }
  // REQUIRES: ready().
  const Result& result() const { return *state_->result; }

  bool await_ready() const noexcept { return ready(); }
  void await_suspend(std::coroutine_handle<> h) {
    state_->waiters.push_back(std::make_shared<internal::Waiter>(internal::Waiter{h, false}));
  }
  Result await_resume() const { return *state_->result; }

  // For WaitAny.
  const std::shared_ptr<internal::FutureState>& state() const { return state_; }

 private:
  std::shared_ptr<internal::FutureState> state_;
};

// `co_await WaitAny({a, b})` suspends until at least one of the futures is
// resolved and yields the index of the first resolved one (lowest index
// among those ready, so the choice is deterministic).
class WaitAny {
 public:
  explicit WaitAny(std::vector<Future> futures) : futures_(std::move(futures)) {}

  bool await_ready() const noexcept { return FirstReady() >= 0; }
  void await_suspend(std::coroutine_handle<> h) {
    auto waiter = std::make_shared<internal::Waiter>(internal::Waiter{h, false});
    for (auto& f : futures_) f.state()->waiters.push_back(waiter);
  }
  int await_resume() const { return FirstReady(); }

 private:
  int FirstReady() const {
    for (size_t i = 0; i < futures_.size(); ++i) {
      if (futures_[i].ready()) return static_cast<int>(i);
    }
    return -1;
  }
  std::vector<Future> futures_;
};

// A lazily started coroutine returning T. Awaiting it runs it; when it
// finishes, the awaiting coroutine continues (symmetric transfer, so deep
// chains do not grow the stack). An exception escaping workflow code is kept
// and rethrown to the awaiter; at the top the Replayer turns it into a
// WORKFLOW_PANIC task failure.
template <typename T>
class [[nodiscard]] Task {
 public:
  struct promise_type {
    std::optional<T> value;
    std::exception_ptr exception;
    std::coroutine_handle<> continuation;

    Task get_return_object() { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct FinalAwaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        auto c = h.promise().continuation;
        if (c) return c;
        return std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    template <typename U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
    void unhandled_exception() { exception = std::current_exception(); }
  };

  Task(Task&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) {
    h_.promise().continuation = awaiting;
    return h_;
  }
  T await_resume() {
    if (h_.promise().exception) std::rethrow_exception(h_.promise().exception);
    return std::move(*h_.promise().value);
  }

  // For the Replayer, which drives the top-level task.
  std::coroutine_handle<promise_type> handle() const { return h_; }
  bool done() const { return h_ && h_.done(); }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

}  // namespace cantdo::workflow
