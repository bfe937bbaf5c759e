#pragma once
// A minimal HTTPS server (Boost.Beast): one request per connection, for
// small endpoints such as the CIBA ping notification endpoint and the
// metrics endpoint. Requests are bounded (header and body size, read
// timeout); the handler runs on one of the server's threads and must not
// block for long.
//
// Plain HTTP (`tls = false`) is served on a loopback address only (127.0.0.0/8,
// ::1): anything that leaves the host is encrypted. Start refuses plain HTTP
// on any other address (INVALID_ARGUMENT, reason INVALID_FIELD, field listen).

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/http/https_client.hpp"

namespace cantdo::http {

struct ServerRequest {
  std::string method;
  std::string target;
  Headers headers;  // names lower-cased
  std::string body;
  std::optional<std::string> Header(absl::string_view name) const;
};

using Handler = std::function<Response(const ServerRequest&)>;

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  bool tls = true;                     // false: plain HTTP, loopback only
  std::string cert_pem;                // certificate chain (tls)
  std::string key_pem;
  std::size_t max_body_bytes = 64 * 1024;
  absl::Duration read_timeout = absl::Seconds(10);
  int threads = 2;
};

// Whether `host` (an IP address, IPv6 with or without brackets) is a
// loopback address. Host names are not resolved: "localhost" is not.
bool IsLoopbackAddress(const std::string& host);

class HttpsServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(ServerOptions options, Handler handler);
  ~HttpsServer();  // Stop()
  int port() const;
  // Stops accepting, closes connections, joins the threads. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cantdo::http
