#pragma once
// Helpers for libpq connection strings.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::pg {

// Returns `dsn` (URI or key=value form) pointing at database `dbname`, in
// key=value form. INVALID_ARGUMENT if libpq cannot parse `dsn`.
absl::StatusOr<std::string> ReplaceDatabase(absl::string_view dsn, absl::string_view dbname);

// The value `dsn` gives `keyword` (e.g. "sslmode"), "" if it gives none.
// Environment defaults (PGSSLMODE, ...) are not consulted. INVALID_ARGUMENT
// if libpq cannot parse `dsn`.
absl::StatusOr<std::string> DsnSetting(absl::string_view dsn, absl::string_view keyword);

// `dsn` with any password replaced by "***", for logs and error messages.
std::string RedactDsn(absl::string_view dsn);

}  // namespace cantdo::pg
