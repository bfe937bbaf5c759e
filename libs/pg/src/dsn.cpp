#include "cantdo/pg/dsn.hpp"

#include <libpq-fe.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace cantdo::pg {
namespace {

struct OptionsDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using OptionsPtr = std::unique_ptr<PQconninfoOption, OptionsDeleter>;

absl::StatusOr<OptionsPtr> Parse(absl::string_view dsn) {
  std::string copy(dsn);
  char* error = nullptr;
  OptionsPtr options(PQconninfoParse(copy.c_str(), &error));
  if (!options) {
    std::string message = error ? std::string(absl::StripTrailingAsciiWhitespace(error)) : "out of memory";
    if (error) PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat("invalid postgres DSN: ", message));
  }
  return options;
}

// Quotes a value for the key=value form: single quotes, with \ and ' escaped.
std::string QuoteValue(absl::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReplaceDatabase(absl::string_view dsn, absl::string_view dbname) {
  auto options = Parse(dsn);
  if (!options.ok()) return options.status();
  std::string out;
  for (PQconninfoOption* o = options->get(); o->keyword != nullptr; ++o) {
    if (absl::string_view(o->keyword) == "dbname" || o->val == nullptr) continue;
    absl::StrAppend(&out, o->keyword, "=", QuoteValue(o->val), " ");
  }
  absl::StrAppend(&out, "dbname=", QuoteValue(dbname));
  return out;
}

absl::StatusOr<std::string> DsnSetting(absl::string_view dsn, absl::string_view keyword) {
  auto options = Parse(dsn);
  if (!options.ok()) return options.status();
  for (PQconninfoOption* o = options->get(); o->keyword != nullptr; ++o) {
    if (absl::string_view(o->keyword) == keyword) return o->val == nullptr ? std::string() : std::string(o->val);
  }
  return std::string();
}

std::string RedactDsn(absl::string_view dsn) {
  auto options = Parse(dsn);
  if (!options.ok()) return "<unparseable DSN>";
  std::string out;
  for (PQconninfoOption* o = options->get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    bool secret = absl::string_view(o->keyword) == "password";
    absl::StrAppend(&out, out.empty() ? "" : " ", o->keyword, "=", secret ? "***" : QuoteValue(o->val));
  }
  return out;
}

}  // namespace cantdo::pg
