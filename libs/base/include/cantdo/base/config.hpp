#pragma once
// 12-factor configuration: every option is a flag `--name=value` and an
// environment variable `CANTDO_NAME` (upper case, '-' becomes '_'). A flag
// wins over the environment. Parse() validates everything at start and
// reports all problems in one clear message.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cantdo {

class Options {
 public:
  Options(std::string program, std::string summary);
  ~Options();
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;

  // Each registration binds an option to `out`, which must outlive Parse().
  // `out` holds the default on entry unless `required` is set.
  Options& String(const std::string& name, std::string* out, const std::string& help, bool required = false);
  Options& Int(const std::string& name, int* out, const std::string& help);
  Options& Double(const std::string& name, double* out, const std::string& help);
  Options& Bool(const std::string& name, bool* out, const std::string& help);
  // Durations in absl syntax: "250ms", "30s", "72h".
  Options& Duration(const std::string& name, absl::Duration* out, const std::string& help);
  // Runs after all values are read; returns an error message or "" if fine.
  Options& Check(std::function<std::string()> check);

  // Returns true to run, false when --help was asked (help is printed),
  // or INVALID_ARGUMENT naming every bad or missing option.
  absl::StatusOr<bool> Parse(int argc, const char* const* argv);
  absl::StatusOr<bool> Parse(int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv);

  std::string Help() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "CANTDO_" + upper-cased name with '-' -> '_'.
std::string EnvNameFor(const std::string& option_name);

}  // namespace cantdo
