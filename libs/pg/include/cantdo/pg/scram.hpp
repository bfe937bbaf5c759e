#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::pg {

// The SCRAM-SHA-256 secret PostgreSQL stores for a password (RFC 5802,
// RFC 7677; PostgreSQL's "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:
// <ServerKey>", all base64), computed here so that `CREATE ROLE ...
// PASSWORD '<secret>'` never sends the password itself: it is not in the
// server's statement log or pg_stat_activity, and the server does not
// spend the key derivation. `password` must be printable ASCII (SASLprep
// leaves it unchanged); `salt` is the raw salt (16 random bytes is usual).
//
// `iterations` is the cost of PBKDF2 for whoever later logs in with the
// password (the client of a SCRAM exchange derives the key each time) and
// for an attacker who guesses passwords against a stolen secret. Stretching
// protects guessable passwords; a password of 128 random bits or more
// cannot be guessed at any cost, so a low count loses nothing there.
absl::StatusOr<std::string> ScramSha256Secret(absl::string_view password, absl::string_view salt, int iterations);

}  // namespace cantdo::pg
