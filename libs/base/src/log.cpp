#include "cantdo/base/log.hpp"

#include <memory>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cantdo/base/trace_context.hpp"

namespace cantdo::log {
namespace {

struct State {
  absl::Mutex mu;
  std::string service ABSL_GUARDED_BY(mu) = "cantdo";
  Level min_level ABSL_GUARDED_BY(mu) = Level::kInfo;
  std::shared_ptr<spdlog::logger> logger;
};

State& GetState() {
  static State* state = [] {
    auto* s = new State();
    s->logger = std::make_shared<spdlog::logger>("cantdo", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    s->logger->set_pattern("%v");
    s->logger->set_level(spdlog::level::trace);
    s->logger->flush_on(spdlog::level::trace);
    return s;
  }();
  return *state;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void Init(std::string_view service, Level min_level) {
  State& s = GetState();
  absl::MutexLock lock(&s.mu);
  s.service = std::string(service);
  s.min_level = min_level;
}

bool ParseLevel(std::string_view text, Level* out) {
  if (text == "debug")
    *out = Level::kDebug;
  else if (text == "info")
    *out = Level::kInfo;
  else if (text == "warn")
    *out = Level::kWarn;
  else if (text == "error")
    *out = Level::kError;
  else
    return false;
  return true;
}

bool Enabled(Level level) {
  State& s = GetState();
  absl::MutexLock lock(&s.mu);
  return level >= s.min_level;
}

void Write(Level level, std::string_view msg, const nlohmann::json& fields) {
  State& s = GetState();
  nlohmann::json line = nlohmann::json::object();
  {
    absl::MutexLock lock(&s.mu);
    if (level < s.min_level) return;
    line["service"] = s.service;
  }
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  line["msg"] = std::string(msg);
  if (fields.is_object()) {
    for (const auto& [k, v] : fields.items()) line[k] = v;
  }
  if (!line.contains("trace_id")) {
    if (const trace::TraceContext* t = trace::Current()) line["trace_id"] = t->trace_id;
  }
  // replace invalid UTF-8 rather than throwing from dump()
  s.logger->info(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace cantdo::log
