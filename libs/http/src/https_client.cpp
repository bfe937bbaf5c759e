#include "cantdo/http/https_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/http/url.hpp"

namespace cantdo::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr absl::string_view kDependencyUnavailable = "DEPENDENCY_UNAVAILABLE";

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(d));
}

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// One exchange on its own io_context. The stream's expiry bounds every
// step; the handlers run on this thread inside ioc.run().
class Exchange {
 public:
  Exchange(asio::ssl::context& ctx, const ClientOptions& options, const Url& url, const Request& request)
      : options_(options), url_(url), stream_(ioc_, ctx) {
    req_.method_string(request.method);
    req_.target(url.target);
    req_.version(11);
    req_.set(bhttp::field::host, url.Authority());
    req_.set(bhttp::field::user_agent, options.user_agent);
    req_.set(bhttp::field::connection, "close");
    for (const auto& [name, value] : request.headers) req_.set(name, value);
    req_.body() = request.body;
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT") req_.prepare_payload();
    parser_.body_limit(options.max_body_bytes);
    parser_.header_limit(64 * 1024);
  }

  absl::StatusOr<Response> Run() {
    boost::system::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) return Fail("cannot resolve", ec);

    SSL* ssl = stream_.native_handle();
    if (IsIpLiteral(url_.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, url_.host.c_str());
      SSL_set1_host(ssl, url_.host.c_str());
    }
    stream_.set_verify_mode(asio::ssl::verify_peer);

    auto& lowest = beast::get_lowest_layer(stream_);
    lowest.expires_after(ToChrono(options_.connect_timeout));
    lowest.async_connect(endpoints, [this](boost::system::error_code e, const tcp::endpoint&) {
      if (e) return Done("cannot connect to", e);
      beast::get_lowest_layer(stream_).expires_after(ToChrono(options_.request_timeout));
      stream_.async_handshake(asio::ssl::stream_base::client, [this](boost::system::error_code e2) {
        if (e2) return Done("TLS handshake failed with", e2);
        bhttp::async_write(stream_, req_, [this](boost::system::error_code e3, std::size_t) {
          if (e3) return Done("cannot send request to", e3);
          bhttp::async_read(stream_, buffer_, parser_, [this](boost::system::error_code e4, std::size_t) {
            if (e4) return Done("cannot read response from", e4);
            ok_ = true;
          });
        });
      });
    });
    ioc_.run();
    beast::get_lowest_layer(stream_).close();
    if (!ok_) return result_;

    Response response;
    auto& msg = parser_.get();
    // Belt and braces: the parser's own limit did not trigger for a
    // Content-Length body with Boost 1.74 in our tests.
    if (msg.body().size() > options_.max_body_bytes) return Fail("response too large from", bhttp::error::body_limit);
    response.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) {
      response.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())),
                                    std::string(field.value()));
    }
    response.body = std::move(msg.body());
    return response;
  }

 private:
  void Done(absl::string_view what, boost::system::error_code ec) { result_ = Fail(what, ec); }

  absl::Status Fail(absl::string_view what, boost::system::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return absl::OutOfRangeError(
          absl::StrCat("response from ", url_.Authority(), " exceeds ", options_.max_body_bytes, " bytes"));
    }
    std::string detail = ec == beast::error::timeout ? "timed out" : ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
      const long verify = SSL_get_verify_result(stream_.native_handle());
      if (verify != X509_V_OK) detail = absl::StrCat("certificate: ", X509_verify_cert_error_string(verify));
    }
    return WithReason(absl::UnavailableError(absl::StrCat(what, " ", url_.Authority(), ": ", detail)),
                      kDependencyUnavailable);
  }

  const ClientOptions& options_;
  const Url& url_;
  asio::io_context ioc_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  bhttp::request<bhttp::string_body> req_;
  bhttp::response_parser<bhttp::string_body> parser_;
  beast::flat_buffer buffer_;
  bool ok_ = false;
  absl::Status result_ = absl::UnavailableError("no response");
};

}  // namespace

std::optional<std::string> Response::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) return v;
  }
  return std::nullopt;
}

struct HttpsClient::Impl {
  asio::ssl::context ctx{asio::ssl::context::tls_client};
};

HttpsClient::HttpsClient(ClientOptions options, std::unique_ptr<Impl> impl)
    : options_(std::move(options)), impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

absl::StatusOr<std::unique_ptr<HttpsClient>> HttpsClient::Create(ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  SSL_CTX_set_min_proto_version(impl->ctx.native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (options.ca_file.empty()) {
    impl->ctx.set_default_verify_paths(ec);
  } else {
    impl->ctx.load_verify_file(options.ca_file, ec);
  }
  if (ec) {
    return InvalidArgument("ca_file", absl::StrCat("cannot load CA bundle '", options.ca_file, "': ", ec.message()));
  }
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(options), std::move(impl)));
}

absl::StatusOr<Response> HttpsClient::Send(const Request& request) const {
  CANTDO_ASSIGN_OR_RETURN(Url url, Url::Parse(request.url));
  Exchange exchange(impl_->ctx, options_, url, request);
  return exchange.Run();
}

absl::StatusOr<std::string> HttpsClient::Get(const std::string& url) const {
  Request request;
  request.url = url;
  request.headers.emplace_back("accept", "application/json");
  CANTDO_ASSIGN_OR_RETURN(Response response, Send(request));
  if (response.status >= 200 && response.status < 300) return std::move(response.body);
  CANTDO_ASSIGN_OR_RETURN(Url parsed, Url::Parse(url));
  const std::string message = absl::StrCat("GET ", parsed.ToString(), " answered HTTP ", response.status);
  if (response.status >= 500) return WithReason(absl::UnavailableError(message), kDependencyUnavailable);
  return absl::FailedPreconditionError(message);
}

}  // namespace cantdo::http
