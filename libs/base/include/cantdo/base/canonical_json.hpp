#pragma once
// JSON Canonicalization Scheme (RFC 8785), the one encoding this project
// hashes: action parameters (parameters_hash) and ledger entries.
//
//  - object members sorted by their names' UTF-16 code units;
//  - no whitespace;
//  - strings: only '"', '\\' and control characters escaped (\b \f \n \r \t,
//    others as \u00xx lowercase), everything else as UTF-8;
//  - numbers as ECMAScript's Number.prototype.toString: integers without a
//    fraction, otherwise the shortest round-trip form, exponent for
//    magnitudes >= 1e21 or < 1e-6. NaN and infinities are not JSON.
//
// Amounts should travel as integers (minor units): JSON numbers are
// doubles, and an integer above 2^53 cannot be represented exactly.

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cantdo {

// Arrays and objects nested deeper than this are refused: the writer
// recurses once per level, and a document read back from storage (a ledger
// entry's detail) must not be able to exhaust the stack (a fuzz finding:
// fuzz/findings/base_canonical_json/).
inline constexpr int kMaxCanonicalJsonDepth = 512;

// INVALID_ARGUMENT for values JSON cannot carry (NaN, infinity, binary) and
// for nesting deeper than kMaxCanonicalJsonDepth.
absl::StatusOr<std::string> CanonicalJson(const nlohmann::json& value);

// Lowercase hex SHA-256 of CanonicalJson(value).
absl::StatusOr<std::string> CanonicalJsonSha256(const nlohmann::json& value);

}  // namespace cantdo
