#pragma once
// An absolute https URL split into what a client needs to connect. Only
// https is accepted: there is no plaintext mode anywhere in cantdo.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::http {

struct Url {
  std::string host;  // DNS name or IP literal, without brackets
  int port = 443;
  std::string target;  // path and query, at least "/"

  // "https://host[:port]/path?query". INVALID_ARGUMENT for anything else
  // (another scheme, user info, a fragment, a bad port, control characters).
  static absl::StatusOr<Url> Parse(absl::string_view text);

  // host[:port] as an HTTP Host header (port omitted when 443).
  std::string Authority() const;
  // The URL again, "https://" + Authority() + target.
  std::string ToString() const;
};

}  // namespace cantdo::http
