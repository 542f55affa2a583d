// free_port: the one "pick an unused loopback port" helper of the tests and
// benches (tests/sidecar, tests/integration, bench/sidecar_bench include this
// header rather than writing their own bind/getsockname pair). They need it
// where an address must be named before its listener exists: a sidecar
// registry lists every node's address before any node starts, and
// `eric serve --port` is chosen by the test.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace eric::testing {

// Binds 127.0.0.1:0, reads the port the kernel chose and releases it. Another
// process could take the port before the caller binds it; the kernel hands
// ports out in turn, so that is rare enough for tests. Throws when the
// loopback socket cannot be made (no port to report).
inline uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "free_port: socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "free_port: bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace eric::testing
