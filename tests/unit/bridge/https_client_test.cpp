// libs/http against its own HTTPS server with certificates from a test CA:
// the certificate must chain to the configured CA and match the host,
// redirects are returned rather than followed, bodies are bounded.
#include <catch2/catch.hpp>

#include <fstream>

#include "cantdo/base/status.hpp"
#include "cantdo/http/https_client.hpp"
#include "cantdo/http/https_server.hpp"
#include "support/test_pki.hpp"

using namespace cantdo::http;

namespace {
struct Fixture {
  cantdo::testing::TestPki pki;
  cantdo::testing::TempDir dir;
  std::unique_ptr<HttpsServer> server;
  std::string ca_file;
  Fixture() {
    auto tls = pki.Issue("idp");
    ServerOptions o;
    o.cert_pem = tls.cert_pem;
    o.key_pem = tls.key_pem;
    auto s = HttpsServer::Start(o, [](const ServerRequest& r) {
      Response res;
      if (r.target == "/redirect") {
        res.status = 302;
        res.headers = {{"location", "https://elsewhere.example/"}};
      } else if (r.target == "/big") {
        res.status = 200;
        res.body = std::string(4096, 'x');
      } else {
        res.status = 200;
        res.body = r.method + " " + r.body + " " + r.Header("authorization").value_or("-");
      }
      return res;
    });
    REQUIRE(s.ok());
    server = *std::move(s);
    ca_file = dir.path() + "/ca.pem";
    std::ofstream(ca_file) << pki.ca_pem();
  }
  std::string Url(const std::string& host, const std::string& path) {
    return "https://" + host + ":" + std::to_string(server->port()) + path;
  }
};
}  // namespace

TEST_CASE("https client: verified exchange, redirects not followed, bounded bodies", "[unit][bridge]") {
  Fixture f;
  ClientOptions o;
  o.ca_file = f.ca_file;
  o.max_body_bytes = 1024;
  auto client = HttpsClient::Create(o);
  REQUIRE(client.ok());
  Request r;
  r.method = "POST";
  r.url = f.Url("127.0.0.1", "/echo");
  r.headers = {{"authorization", "Basic abc"}};
  r.body = "a=1";
  auto res = (*client)->Send(r);
  INFO(res.status());
  REQUIRE(res.ok());
  CHECK(res->status == 200);
  CHECK(res->body == "POST a=1 Basic abc");
  // DNS name verification (SNI) against the certificate's DNS SAN.
  CHECK((*client)->Get(f.Url("localhost", "/x")).ok());

  auto redirect = (*client)->Send(Request{"GET", f.Url("127.0.0.1", "/redirect"), {}, ""});
  REQUIRE(redirect.ok());
  CHECK(redirect->status == 302);
  CHECK(!(*client)->Get(f.Url("127.0.0.1", "/redirect")).ok());

  auto big = (*client)->Get(f.Url("127.0.0.1", "/big"));
  INFO((big.ok() ? std::to_string(big->size()) : std::string(big.status().message())));
  CHECK(big.status().code() == absl::StatusCode::kOutOfRange);
}

TEST_CASE("https client: a certificate from another CA is refused", "[unit][bridge]") {
  Fixture f;
  cantdo::testing::TestPki other;
  cantdo::testing::TempDir d;
  std::ofstream(d.path() + "/other.pem") << other.ca_pem();
  ClientOptions o;
  o.ca_file = d.path() + "/other.pem";
  auto client = HttpsClient::Create(o);
  REQUIRE(client.ok());
  auto res = (*client)->Get(f.Url("127.0.0.1", "/x"));
  CHECK(res.status().code() == absl::StatusCode::kUnavailable);
  CHECK(res.status().message().find("certificate") != std::string::npos);
  CHECK(cantdo::GetReason(res.status()) == "DEPENDENCY_UNAVAILABLE");

  ClientOptions missing;
  missing.ca_file = d.path() + "/nope.pem";
  CHECK(HttpsClient::Create(missing).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("https client: nothing listening is UNAVAILABLE within the timeout", "[unit][bridge]") {
  ClientOptions o;
  o.connect_timeout = absl::Seconds(2);
  auto client = HttpsClient::Create(o);
  REQUIRE(client.ok());
  auto res = (*client)->Get("https://127.0.0.1:1/x");
  CHECK(res.status().code() == absl::StatusCode::kUnavailable);
}
