#include "cantdo/http/https_server.hpp"

#include <thread>
#include <type_traits>
#include <vector>

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// One connection: (TLS handshake,) read one request, answer, close. Owns
// itself through the shared_ptr its handlers hold. `Stream` is
// beast::ssl_stream<beast::tcp_stream> or beast::tcp_stream.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(Stream stream, const ServerOptions& options, const Handler& handler)
      : stream_(std::move(stream)), options_(options), handler_(handler) {
    parser_.body_limit(options.max_body_bytes);
    parser_.header_limit(16 * 1024);
  }

  void Start() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        absl::ToChronoNanoseconds(options_.read_timeout)));
    auto self = this->shared_from_this();
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server, [self](boost::system::error_code ec) {
        if (ec) return;
        self->Read();
      });
    } else {
      Read();
    }
  }

 private:
  void Read() {
    auto self = this->shared_from_this();
    bhttp::async_read(stream_, buffer_, parser_, [self](boost::system::error_code e, std::size_t) { self->OnRead(e); });
  }

  void OnRead(boost::system::error_code ec) {
    Response response;
    if (ec == bhttp::error::body_limit) {
      response.status = 413;
    } else if (ec) {
      return;
    } else {
      auto& msg = parser_.get();
      ServerRequest request;
      request.method = std::string(msg.method_string());
      request.target = std::string(msg.target());
      for (const auto& field : msg) {
        request.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())),
                                     std::string(field.value()));
      }
      request.body = std::move(msg.body());
      response = handler_(request);
    }
    res_.result(static_cast<unsigned>(response.status));
    res_.version(11);
    res_.set(bhttp::field::connection, "close");
    res_.set(bhttp::field::cache_control, "no-store");
    for (const auto& [name, value] : response.headers) res_.set(name, value);
    res_.body() = std::move(response.body);
    res_.prepare_payload();
    auto self = this->shared_from_this();
    bhttp::async_write(stream_, res_, [self](boost::system::error_code, std::size_t) {
      if constexpr (kTls) {
        self->stream_.async_shutdown(
            [self](boost::system::error_code) { beast::get_lowest_layer(self->stream_).close(); });
      } else {
        boost::system::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        self->stream_.close();
      }
    });
  }

  Stream stream_;
  const ServerOptions& options_;
  const Handler& handler_;
  beast::flat_buffer buffer_;
  bhttp::request_parser<bhttp::string_body> parser_;
  bhttp::response<bhttp::string_body> res_;
};

}  // namespace

bool IsLoopbackAddress(const std::string& host) {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(h, ec);
  return !ec && address.is_loopback();
}

std::optional<std::string> ServerRequest::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) return v;
  }
  return std::nullopt;
}

struct HttpsServer::Impl {
  ServerOptions options;
  Handler handler;
  asio::io_context ioc;
  asio::ssl::context ctx{asio::ssl::context::tls_server};
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  bool stopped = false;
  int port = 0;

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        if (options.tls) {
          using TlsStream = beast::ssl_stream<beast::tcp_stream>;
          std::make_shared<Session<TlsStream>>(TlsStream(std::move(socket), ctx), options, handler)->Start();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), options, handler)->Start();
        }
      }
      Accept();
    });
  }
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsServer::~HttpsServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Start(ServerOptions options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  boost::system::error_code ec;
  if (impl->options.tls) {
    SSL_CTX_set_min_proto_version(impl->ctx.native_handle(), TLS1_2_VERSION);
    impl->ctx.use_certificate_chain(asio::buffer(impl->options.cert_pem), ec);
    if (!ec) impl->ctx.use_private_key(asio::buffer(impl->options.key_pem), asio::ssl::context::pem, ec);
    if (ec) return InvalidArgument("tls", absl::StrCat("cannot load HTTPS server certificate or key: ", ec.message()));
  }

  const std::string& listen = impl->options.listen;
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return InvalidArgument("listen", absl::StrCat("'", listen, "' is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto address = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("listen", absl::StrCat("'", host, "' is not an IP address"));
  if (!impl->options.tls && !address.is_loopback()) {
    return InvalidArgument("listen", absl::StrCat("plain HTTP is served on a loopback address only (127.0.0.1, ::1); ",
                                                  listen, " needs TLS"));
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": ", ec.message()));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < std::max(1, impl->options.threads); ++i) {
    impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  }
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

int HttpsServer::port() const { return impl_->port; }

void HttpsServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
  // Sessions finish within read_timeout; don't wait for slow peers.
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace cantdo::http
