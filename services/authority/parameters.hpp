#pragma once
// An action's parameters as the authority binds them: their RFC 8785
// canonical JSON and its SHA-256 (docs/security.md, "Decisions"). The rule is
// libs/fields' (the gateway validates with the same one): INVALID_FIELD
// (field action.parameters) for NaN, infinities, a value without a kind,
// nesting beyond 32 levels or more than 64 KiB of canonical JSON, never a
// hash of what JSON cannot carry.

#include "cantdo/fields/parameters.hpp"

namespace cantdo::authority {

using fields::CanonicaliseParameters;
using fields::CanonicalParameters;

}  // namespace cantdo::authority
