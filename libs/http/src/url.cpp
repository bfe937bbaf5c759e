#include "cantdo/http/url.hpp"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "cantdo/base/status.hpp"

namespace cantdo::http {

absl::StatusOr<Url> Url::Parse(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return InvalidArgument("url", absl::StrCat("not an https URL (", why, ")"));
  };
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("control character or space");
  }
  constexpr absl::string_view kScheme = "https://";
  if (text.size() < kScheme.size() || !absl::EqualsIgnoreCase(text.substr(0, kScheme.size()), kScheme)) {
    return bad("scheme must be https");
  }
  text.remove_prefix(kScheme.size());
  if (text.find('#') != absl::string_view::npos) return bad("fragment");
  const size_t slash = text.find_first_of("/?");
  absl::string_view authority = text.substr(0, slash);
  Url url;
  url.target = slash == absl::string_view::npos ? "/" : std::string(text.substr(slash));
  if (url.target[0] == '?') url.target = "/" + url.target;
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != absl::string_view::npos) return bad("user info");
  absl::string_view port_text;
  if (authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unterminated IPv6 literal");
    url.host = std::string(authority.substr(1, close - 1));
    absl::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad("junk after IPv6 literal");
      port_text = rest.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return bad("no host");
  if (!port_text.empty() || authority.back() == ':') {
    int port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) return bad("bad port");
    url.port = port;
  }
  url.host = absl::AsciiStrToLower(url.host);
  return url;
}

std::string Url::Authority() const {
  const std::string h = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  return port == 443 ? h : absl::StrCat(h, ":", port);
}

std::string Url::ToString() const { return absl::StrCat("https://", Authority(), target); }

}  // namespace cantdo::http
