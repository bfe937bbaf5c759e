#include "cantdo/base/trace_context.hpp"

#include <array>
#include <span>
#include <utility>

namespace cantdo::trace {
namespace {

constexpr size_t kTraceIdHex = 32;
constexpr size_t kParentIdHex = 16;
// "vv-" + trace id + "-" + parent id + "-" + "ff"
constexpr size_t kVersion00Size = 2 + 1 + kTraceIdHex + 1 + kParentIdHex + 1 + 2;

bool LowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZeros(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

std::string RandomHex(size_t bytes, RandomSource& random) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::array<std::uint8_t, 16> buf{};
  std::string out;
  for (;;) {
    random.Fill(std::span<std::uint8_t>(buf.data(), bytes));
    out.clear();
    for (size_t i = 0; i < bytes; ++i) {
      out += kDigits[buf[i] >> 4];
      out += kDigits[buf[i] & 0xf];
    }
    if (!AllZeros(out)) return out;  // all zeros is invalid; 2^-64 at worst
  }
}

thread_local std::optional<TraceContext> current;

}  // namespace

std::optional<TraceContext> ParseTraceparent(std::string_view h) {
  if (h.size() < kVersion00Size) return std::nullopt;
  const std::string_view version = h.substr(0, 2);
  if (!LowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00") {
    if (h.size() != kVersion00Size) return std::nullopt;
  } else if (h.size() > kVersion00Size && h[kVersion00Size] != '-') {
    // A later version may add fields, each after a '-'.
    return std::nullopt;
  }
  if (h[2] != '-' || h[3 + kTraceIdHex] != '-' || h[4 + kTraceIdHex + kParentIdHex] != '-') return std::nullopt;
  TraceContext ctx;
  const std::string_view trace_id = h.substr(3, kTraceIdHex);
  const std::string_view parent_id = h.substr(4 + kTraceIdHex, kParentIdHex);
  const std::string_view flags = h.substr(5 + kTraceIdHex + kParentIdHex, 2);
  if (!LowerHex(trace_id) || !LowerHex(parent_id) || !LowerHex(flags)) return std::nullopt;
  if (AllZeros(trace_id) || AllZeros(parent_id)) return std::nullopt;
  ctx.trace_id = std::string(trace_id);
  ctx.parent_id = std::string(parent_id);
  ctx.flags = static_cast<std::uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]));
  return ctx;
}

std::string FormatTraceparent(const TraceContext& ctx) {
  std::string out = "00-";
  out += ctx.trace_id;
  out += '-';
  out += ctx.parent_id;
  out += (ctx.flags & 0x01) != 0 ? "-01" : "-00";
  return out;
}

TraceContext NewTrace(RandomSource& random) {
  TraceContext ctx;
  ctx.trace_id = RandomHex(kTraceIdHex / 2, random);
  ctx.parent_id = RandomHex(kParentIdHex / 2, random);
  ctx.flags = 0x01;
  return ctx;
}

TraceContext ChildOf(const TraceContext& parent, RandomSource& random) {
  TraceContext ctx = parent;
  ctx.parent_id = RandomHex(kParentIdHex / 2, random);
  return ctx;
}

const TraceContext* Current() { return current.has_value() ? &*current : nullptr; }

ScopedTrace::ScopedTrace(TraceContext ctx) : previous_(std::move(current)), active_(true) { current = std::move(ctx); }

ScopedTrace::ScopedTrace(std::string_view traceparent) {
  std::optional<TraceContext> ctx = ParseTraceparent(traceparent);
  if (!ctx) return;
  previous_ = std::move(current);
  current = std::move(ctx);
  active_ = true;
}

ScopedTrace::~ScopedTrace() {
  if (active_) current = std::move(previous_);
}

std::optional<TraceContext> ExchangeCurrent(std::optional<TraceContext> ctx) {
  return std::exchange(current, std::move(ctx));
}

std::string CurrentTraceparent() { return current ? FormatTraceparent(*current) : std::string(); }

std::string CurrentTraceId() { return current ? current->trace_id : std::string(); }

}  // namespace cantdo::trace
