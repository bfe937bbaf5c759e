#pragma once
// An action's parameters (a google.protobuf.Struct) as the JSON whose RFC
// 8785 canonical form is hashed into parameters_hash (docs/api.md,
// "Canonical parameters and hashes").
//
// A Struct can hold what JSON cannot: NaN and infinities as numbers, and
// values with no kind set. protobuf's JSON printer writes the former as the
// strings "NaN" / "Infinity" / "-Infinity", so {"x": NaN} and {"x": "NaN"}
// would hash alike; here they are refused instead.

#include <cstddef>
#include <string>

#include <google/protobuf/struct.pb.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::fields {

// Objects and arrays nested at most this deep (the Struct itself is 1).
inline constexpr int kMaxParameterDepth = 32;
// The canonical JSON at most this many bytes.
inline constexpr std::size_t kMaxParameterBytes = 64 * 1024;

// The Struct as JSON. INVALID_ARGUMENT (INVALID_FIELD, metadata field =
// `field`, parameter = the JSON pointer of the offending value, e.g.
// "/batches/1/amount") for a non-finite number, a value without a kind, or
// nesting deeper than kMaxParameterDepth.
absl::StatusOr<nlohmann::json> ParametersJson(const google::protobuf::Struct& parameters, absl::string_view field);

struct CanonicalParameters {
  std::string json;    // RFC 8785 text
  std::string sha256;  // lowercase hex SHA-256 of `json`
};

// ParametersJson, canonicalised and hashed; also INVALID_FIELD when the
// canonical text exceeds kMaxParameterBytes.
absl::StatusOr<CanonicalParameters> CanonicaliseParameters(const google::protobuf::Struct& parameters,
                                                           absl::string_view field = "action.parameters");

}  // namespace cantdo::fields
