#include "cantdo/runtime/metrics_endpoint.hpp"

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/metrics/exposition.hpp"

namespace cantdo::runtime {

http::Response MetricsResponse(const http::ServerRequest& request, const metrics::Registry& registry) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  http::Response r;
  if (path != "/metrics") {
    r.status = 404;
    r.headers.emplace_back("content-type", "text/plain; charset=utf-8");
    r.body = "not found: the metrics are at /metrics\n";
    return r;
  }
  if (request.method != "GET") {
    r.status = 405;
    r.headers.emplace_back("allow", "GET");
    return r;
  }
  r.status = 200;
  r.headers.emplace_back("content-type", std::string(metrics::kContentType));
  r.body = registry.Render();
  return r;
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const MetricsEndpointOptions& options,
                                                                        const metrics::Registry& registry) {
  const size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgument("metrics-listen", absl::StrCat("'", options.listen, "' is not host:port"));
  }
  const bool loopback = http::IsLoopbackAddress(options.listen.substr(0, colon));
  const bool tls = options.tls_on_loopback || !loopback;
  if (tls && (options.cert_pem.empty() || options.key_pem.empty())) {
    return InvalidArgument("metrics-listen", absl::StrCat(options.listen,
                                                          " is not a loopback address, so the metrics need HTTPS, and "
                                                          "this service has no server certificate; listen on "
                                                          "127.0.0.1 or give it one"));
  }
  http::ServerOptions so;
  so.listen = options.listen;
  so.tls = tls;
  if (tls) {
    so.cert_pem = options.cert_pem;
    so.key_pem = options.key_pem;
  }
  so.max_body_bytes = 1024;
  so.read_timeout = absl::Seconds(10);
  so.threads = 1;
  absl::StatusOr<std::unique_ptr<http::HttpsServer>> server =
      http::HttpsServer::Start(so, [&registry](const http::ServerRequest& r) { return MetricsResponse(r, registry); });
  if (!server.ok()) {
    absl::Status st = server.status();
    if (GetReason(st) == "INVALID_FIELD") {
      return InvalidArgument("metrics-listen", std::string(st.message()));
    }
    return st;
  }
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(*std::move(server), tls));
}

}  // namespace cantdo::runtime
