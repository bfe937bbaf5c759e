#pragma once
// A loopback port the test holds while it is needed, for the few places a
// port must be known before its server starts (two services that name each
// other, an identity provider that must know the bridge's callback URL) and
// for an address where nothing listens. Everywhere else a server binds port
// 0 itself and the test reads the port it logged.
//
// The reservation is a socket bound to 127.0.0.1 with SO_REUSEADDR and
// SO_REUSEPORT that never listens, kept open until the reservation goes
// away. While it is held:
//  - the kernel never hands the port to anyone binding port 0, and a bind of
//    that port without SO_REUSEADDR or SO_REUSEPORT fails, so no other test
//    can take it (closing a probe socket and reusing its port, the old
//    FreePort(), left a window in which anyone could);
//  - the test's own server binds it all the same: gRPC servers set
//    SO_REUSEPORT, the HTTPS server (libs/http) SO_REUSEADDR, which Linux
//    allows next to a socket that is not listening;
//  - connecting to it is refused until that server listens (and again after
//    it stops), since only listening sockets accept.
// Holding it for the owner's lifetime also keeps the port through a restart
// of the service.

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace cantdo::testing {

class PortReservation {
 public:
  PortReservation() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    const int on = 1;
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0);
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~PortReservation() {
    if (fd_ >= 0) ::close(fd_);
  }
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace cantdo::testing
