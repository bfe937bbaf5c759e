#pragma once
// Scraping a service's metrics endpoint the way Prometheus does: GET
// /metrics on 127.0.0.1, over HTTPS verified against the test CA, or plain
// HTTP (loopback). Header-only: it needs libs/http, which every test binary
// links and the support library does not.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cantdo/http/https_client.hpp"

namespace cantdo::testing {

struct HttpAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// One plain HTTP/1.1 request to 127.0.0.1:`port` (Connection: close).
inline absl::StatusOr<HttpAnswer> PlainHttp(int port, const std::string& method, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  const std::string request =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return absl::UnavailableError("send");
  }
  std::string raw;
  char buf[16384];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return absl::UnavailableError(absl::StrCat("no HTTP answer: '", raw, "'"));
  HttpAnswer a;
  a.body = raw.substr(end + 4);
  bool first = true;
  for (absl::string_view line : absl::StrSplit(absl::string_view(raw).substr(0, end), "\r\n")) {
    if (first) {
      first = false;
      std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
      if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &a.status)) {
        return absl::UnavailableError(absl::StrCat("bad status line '", line, "'"));
      }
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::AsciiStrToLower(line.substr(0, colon)) == "content-type") {
      a.content_type = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return a;
}

// GET /metrics from 127.0.0.1:`port`: HTTPS verified against `ca_file` when
// `tls`, else plain HTTP.
inline absl::StatusOr<HttpAnswer> Scrape(int port, bool tls, const std::string& ca_file = "",
                                         const std::string& path = "/metrics") {
  if (!tls) return PlainHttp(port, "GET", path);
  http::ClientOptions o;
  o.ca_file = ca_file;
  o.max_body_bytes = 16 * 1024 * 1024;
  auto client = http::HttpsClient::Create(o);
  if (!client.ok()) return client.status();
  http::Request r;
  r.url = absl::StrCat("https://127.0.0.1:", port, path);
  auto resp = (*client)->Send(r);
  if (!resp.ok()) return resp.status();
  HttpAnswer a;
  a.status = resp->status;
  a.content_type = resp->Header("content-type").value_or("");
  a.body = std::move(resp->body);
  return a;
}

}  // namespace cantdo::testing
