#pragma once
// The metrics endpoint every service can serve (--metrics-listen): GET
// /metrics answers the registry's Prometheus text exposition.
//
// Transport: HTTPS with the service's own certificate and key (the ones its
// gRPC port serves), except on a loopback address (127.0.0.0/8, ::1), where
// it is plain HTTP unless `tls_on_loopback`. Plain HTTP never leaves the
// host: without a certificate a non-loopback address is refused
// (INVALID_ARGUMENT naming metrics-listen). No client certificate is asked
// for: the exposition holds counts and the policy's action and role names,
// no identifiers of principals, requests or grants.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cantdo/http/https_server.hpp"
#include "cantdo/metrics/registry.hpp"

namespace cantdo::runtime {

struct MetricsEndpointOptions {
  std::string listen;            // host:port (an IP address); port 0 picks one
  bool tls_on_loopback = false;  // HTTPS on a loopback address too
  std::string cert_pem;          // this service's certificate chain
  std::string key_pem;
};

// The answer to one request: 200 with the exposition for GET /metrics (a
// query string is ignored), 405 for another method on it, 404 elsewhere.
http::Response MetricsResponse(const http::ServerRequest& request, const metrics::Registry& registry);

class MetricsEndpoint {
 public:
  // `registry` must outlive the endpoint.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const MetricsEndpointOptions& options,
                                                                const metrics::Registry& registry);
  int port() const { return server_->port(); }
  bool tls() const { return tls_; }
  void Stop() { server_->Stop(); }

 private:
  MetricsEndpoint(std::unique_ptr<http::HttpsServer> server, bool tls) : server_(std::move(server)), tls_(tls) {}
  std::unique_ptr<http::HttpsServer> server_;
  bool tls_;
};

}  // namespace cantdo::runtime
