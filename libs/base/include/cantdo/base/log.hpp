#pragma once
// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-28T18:00:00.123Z","level":"info","service":"authority",
//    "msg":"grant claimed","request_id":"...","grant_id":"...",
//    "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
// `trace_id` is the thread's current trace (cantdo/base/trace_context.hpp)
// unless the fields name one.
// Never log secrets, tokens or credentials: pass identifiers only.

#include <string_view>

#include <nlohmann/json.hpp>

namespace cantdo::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// Sets the service name stamped on every line and the minimum level.
// Safe to call more than once (tests do); thread-safe afterwards.
void Init(std::string_view service, Level min_level = Level::kInfo);

// Parses "debug", "info", "warn" or "error".
bool ParseLevel(std::string_view text, Level* out);

// Whether a line at `level` would be written (callers skip building the
// fields of a line nobody reads).
bool Enabled(Level level);

void Write(Level level, std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

inline void Debug(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kDebug, msg, f);
}
inline void Info(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kInfo, msg, f);
}
inline void Warn(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kWarn, msg, f);
}
inline void Error(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kError, msg, f);
}

}  // namespace cantdo::log
