#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/metrics/exposition.hpp"
#include "cantdo/metrics/registry.hpp"
#include "cantdo/runtime/metrics_endpoint.hpp"
#include "support/prometheus.hpp"
#include "support/scrape.hpp"
#include "support/test_pki.hpp"

using cantdo::runtime::MetricsEndpoint;
using cantdo::runtime::MetricsEndpointOptions;
using cantdo::testing::PlainHttp;
using cantdo::testing::Scrape;

namespace {

cantdo::metrics::Registry& TestRegistry() {
  static auto* r = [] {
    auto* reg = new cantdo::metrics::Registry();
    reg->AddCounter("cantdo_test_requests_total", "Requests.").Inc(3);
    return reg;
  }();
  return *r;
}

}  // namespace

TEST_CASE("On a loopback address the metrics are plain HTTP at GET /metrics, in the 0.0.4 text format",
          "[unit][runtime][metrics]") {
  MetricsEndpointOptions o;
  o.listen = "127.0.0.1:0";
  auto ep = MetricsEndpoint::Start(o, TestRegistry());
  REQUIRE(ep.ok());
  CHECK_FALSE((*ep)->tls());
  auto got = Scrape((*ep)->port(), false);
  REQUIRE(got.ok());
  CHECK(got->status == 200);
  CHECK(got->content_type == cantdo::metrics::kContentType);
  CHECK(cantdo::testing::SampleValue(got->body, "cantdo_test_requests_total") == 3);
  // A query string is ignored, as Prometheus may send one.
  CHECK(Scrape((*ep)->port(), false, "", "/metrics?x=1")->status == 200);
  CHECK(Scrape((*ep)->port(), false, "", "/")->status == 404);
  CHECK(Scrape((*ep)->port(), false, "", "/metricsx")->status == 404);
  auto post = PlainHttp((*ep)->port(), "POST", "/metrics");
  REQUIRE(post.ok());
  CHECK(post->status == 405);
}

TEST_CASE("With the service's certificate the metrics are HTTPS, verified against its CA", "[unit][runtime][metrics]") {
  cantdo::testing::TestPki pki;
  cantdo::testing::TempDir dir;
  auto files = pki.WriteFiles(dir.path(), "authority");
  const auto tls = pki.Issue("authority");
  MetricsEndpointOptions o;
  o.listen = "127.0.0.1:0";
  o.tls_on_loopback = true;
  o.cert_pem = tls.cert_pem;
  o.key_pem = tls.key_pem;
  auto ep = MetricsEndpoint::Start(o, TestRegistry());
  REQUIRE(ep.ok());
  CHECK((*ep)->tls());
  auto got = Scrape((*ep)->port(), true, files.ca);
  INFO(got.status());
  REQUIRE(got.ok());
  CHECK(got->status == 200);
  CHECK(cantdo::testing::SampleValue(got->body, "cantdo_test_requests_total") == 3);
  // Plain HTTP gets no metrics from it.
  auto plain = PlainHttp((*ep)->port(), "GET", "/metrics");
  CHECK((!plain.ok() || plain->status != 200));
  // A client that does not trust the CA is refused.
  cantdo::testing::TestPki other;
  cantdo::testing::TempDir other_dir;
  CHECK_FALSE(Scrape((*ep)->port(), true, other.WriteFiles(other_dir.path(), "x").ca).ok());
}

TEST_CASE("Plain HTTP never leaves the host: a non-loopback address without a certificate is refused",
          "[unit][runtime][metrics]") {
  for (const char* listen : {"0.0.0.0:0", "[::]:0", "10.1.2.3:9464"}) {
    MetricsEndpointOptions o;
    o.listen = listen;
    auto ep = MetricsEndpoint::Start(o, TestRegistry());
    INFO(listen);
    REQUIRE_FALSE(ep.ok());
    CHECK(ep.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(cantdo::GetReason(ep.status()) == "INVALID_FIELD");
    CHECK(cantdo::GetMetadata(ep.status())["field"] == "metrics-listen");
    CHECK(std::string(ep.status().message()).find("is not a loopback address, so the metrics need HTTPS") !=
          std::string::npos);
  }
  MetricsEndpointOptions o;
  o.listen = "localhost:0";  // a name, not an address
  CHECK(MetricsEndpoint::Start(o, TestRegistry()).status().code() == absl::StatusCode::kInvalidArgument);
  o.listen = "no-port";
  CHECK(MetricsEndpoint::Start(o, TestRegistry()).status().code() == absl::StatusCode::kInvalidArgument);
  // The HTTP server itself enforces it too.
  cantdo::http::ServerOptions so;
  so.listen = "0.0.0.0:0";
  so.tls = false;
  auto plain = cantdo::http::HttpsServer::Start(so, [](const cantdo::http::ServerRequest&) {
    return cantdo::http::Response{200, {}, ""};
  });
  CHECK(plain.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(cantdo::http::IsLoopbackAddress("127.0.0.1"));
  CHECK(cantdo::http::IsLoopbackAddress("127.8.9.10"));
  CHECK(cantdo::http::IsLoopbackAddress("[::1]"));
  CHECK(cantdo::http::IsLoopbackAddress("::1"));
  CHECK_FALSE(cantdo::http::IsLoopbackAddress("0.0.0.0"));
  CHECK_FALSE(cantdo::http::IsLoopbackAddress("localhost"));
  CHECK_FALSE(cantdo::http::IsLoopbackAddress("192.168.1.1"));
}
