#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the
// `traceparent` header that lets one agent action be followed through every
// service, its log lines and its ledger entries.
//
//   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//                ^^ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ ^^^^^^^^^^^^^^^^ ^^
//           version trace-id (16 bytes)     parent-id (8 bytes)  flags
//
// Parsing follows the specification's rules for a receiver: lowercase hex
// only, neither id all zeros, version ff invalid; a future version (01..fe)
// is read as version 00's four fields when at least that long, and
// anything after them must start with '-'. A header that breaks a rule is
// not an error: the receiver ignores it and starts a new trace.
//
// The current context is per thread: a gRPC server interceptor sets it for
// the handler's thread (sync server: one call per thread at a time), and
// background loops set it per unit of work (a workflow task, an activity,
// an approval dispatch) from the traceparent stored with that work. The
// logger stamps `trace_id` on every line written under a context, and the
// gRPC channels send it on every outgoing call.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cantdo/base/ids.hpp"

namespace cantdo::trace {

struct TraceContext {
  std::string trace_id;    // 32 lowercase hex digits, not all zeros
  std::string parent_id;   // 16 lowercase hex digits, not all zeros
  std::uint8_t flags = 0;  // bit 0: sampled

  bool operator==(const TraceContext&) const = default;
};

inline constexpr std::string_view kTraceparentHeader = "traceparent";

// The context carried by `header`, or nullopt if it breaks a rule above.
std::optional<TraceContext> ParseTraceparent(std::string_view header);

// Version 00 text of `ctx` (whatever version it was received in; only the
// sampled flag, the one version 00 defines, is kept).
std::string FormatTraceparent(const TraceContext& ctx);

// A new trace: random trace id and parent id, sampled.
TraceContext NewTrace(RandomSource& random = SecureRandom());

// The same trace with a new random parent id: what a caller sends on an
// outgoing call (the call is a new span of the trace).
TraceContext ChildOf(const TraceContext& ctx, RandomSource& random = SecureRandom());

// The context of the work this thread is doing, or null.
const TraceContext* Current();

// Makes `ctx` the thread's current context until destroyed, then restores
// the previous one. Create and destroy on the same thread.
class ScopedTrace {
 public:
  explicit ScopedTrace(TraceContext ctx);
  // From a stored traceparent; a malformed or empty one leaves the thread's
  // context as it is.
  explicit ScopedTrace(std::string_view traceparent);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  std::optional<TraceContext> previous_;
  bool active_ = false;
};

// Replaces the thread's current context, returning the previous one: for
// code whose begin and end are not one C++ scope (a gRPC interceptor's
// hooks). Prefer ScopedTrace.
std::optional<TraceContext> ExchangeCurrent(std::optional<TraceContext> ctx);

// FormatTraceparent(*Current()), or "" outside a trace: what to store with
// work that continues later (a workflow run, an approval, a CIBA request).
std::string CurrentTraceparent();

// Current()->trace_id, or "".
std::string CurrentTraceId();

}  // namespace cantdo::trace
