#pragma once
// A small HTTPS client over Boost.Beast and OpenSSL, for talking to identity
// providers (OIDC discovery, CIBA, token and JWKS endpoints).
//
// Security contract:
//   - TLS 1.2+ only; the server certificate must chain to the configured CA
//     bundle (the system's default trust store when none is given) and match
//     the URL's host (DNS name or IP address); SNI is sent for DNS names.
//   - Redirects are never followed: a 3xx comes back as a Response for the
//     caller to treat as an error.
//   - Connect and whole-request timeouts; the response body is limited.
//   - Nothing is logged here at all: request bodies and headers carry client
//     secrets and tokens.
//
// Thread-safe: each Send() uses its own connection (Connection: close).

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cantdo::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  std::string url;  // absolute https URL
  Headers headers;
  std::string body;
};

struct Response {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string> Header(absl::string_view name) const;
};

struct ClientOptions {
  // PEM CA bundle the server certificates must chain to; empty means the
  // system's default trust store.
  std::string ca_file;
  absl::Duration connect_timeout = absl::Seconds(5);
  // Bounds the whole exchange after the connection is made (handshake,
  // request, response).
  absl::Duration request_timeout = absl::Seconds(15);
  std::size_t max_body_bytes = 1024 * 1024;
  std::string user_agent = "cantdo/0.1";
};

class HttpsClient {
 public:
  // INVALID_ARGUMENT (reason INVALID_FIELD, field ca_file) when the CA file
  // cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpsClient>> Create(ClientOptions options);
  ~HttpsClient();

  // One request. Any HTTP status is a Response; errors are transport
  // failures: UNAVAILABLE (reason DEPENDENCY_UNAVAILABLE) for DNS, connect,
  // TLS (including certificate verification) and I/O failures and timeouts;
  // OUT_OF_RANGE when the body exceeds max_body_bytes; INVALID_ARGUMENT for a
  // bad URL. Messages name the host, never headers or bodies.
  absl::StatusOr<Response> Send(const Request& request) const;

  // GET `url`; a non-2xx status is UNAVAILABLE (5xx) or FAILED_PRECONDITION
  // (anything else), so callers such as a JWKS fetcher get the body only.
  absl::StatusOr<std::string> Get(const std::string& url) const;

  const ClientOptions& options() const { return options_; }

 private:
  struct Impl;
  HttpsClient(ClientOptions options, std::unique_ptr<Impl> impl);
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cantdo::http
