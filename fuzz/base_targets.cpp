// RFC 8785 canonical JSON (libs/base), the encoding every hash in the
// system is taken over: for any JSON document, canonicalising is
// deterministic and stable (canonicalising the canonical text again gives
// the same text), and what it refuses it refuses with INVALID_ARGUMENT.

#include <nlohmann/json.hpp>

#include "cantdo/base/canonical_json.hpp"
#include "targets.hpp"

namespace cantdo::fuzz {

void BaseCanonicalJson(std::string_view input) {
  const nlohmann::json doc = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return;
  absl::StatusOr<std::string> text = CanonicalJson(doc);
  if (!text.ok()) {
    if (text.status().code() != absl::StatusCode::kInvalidArgument) Fail("a canonical JSON refusal", text.status());
    return;
  }
  const nlohmann::json again = nlohmann::json::parse(*text, nullptr, false);
  if (again.is_discarded()) Fail("canonical JSON does not parse: " + *text);
  absl::StatusOr<std::string> twice = CanonicalJson(again);
  if (!twice.ok() || *twice != *text)
    Fail("canonical JSON is not stable: " + *text + " vs " + twice.value_or("(refused)"));
}

}  // namespace cantdo::fuzz
