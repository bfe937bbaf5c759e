#pragma once
// An action's parameters as the authority binds them: their RFC 8785
// canonical JSON and its SHA-256 (docs/security.md, "Decisions").

#include <string>

#include <google/protobuf/struct.pb.h>

#include "absl/status/statusor.h"

namespace cantdo::authority {

struct CanonicalParameters {
  std::string json;    // RFC 8785 text
  std::string sha256;  // lowercase hex SHA-256 of `json`
};

// INVALID_FIELD (field action.parameters) if they cannot be canonicalised.
absl::StatusOr<CanonicalParameters> CanonicaliseParameters(const google::protobuf::Struct& parameters);

}  // namespace cantdo::authority
