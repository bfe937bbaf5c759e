#pragma once
// application/x-www-form-urlencoded encoding (WHATWG URL "urlencoded
// serializer"), as OAuth 2.0 token and backchannel endpoints expect.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace cantdo::http {

// Encodes one name or value: A-Za-z0-9 and *-._ stay, space becomes '+',
// every other byte becomes %XX. RFC 6749 2.3.1 requires client ids and
// secrets to go through this before HTTP Basic.
std::string FormUrlEncode(absl::string_view text);

// name=value&name=value, each side encoded.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

// Standard base64 (with padding), for HTTP Basic credentials.
std::string Base64(absl::string_view bytes);

// "Basic base64(urlencode(id):urlencode(secret))" (RFC 6749 2.3.1).
std::string BasicAuthorization(absl::string_view client_id, absl::string_view client_secret);

}  // namespace cantdo::http
