#include "sidecar/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace eric::sidecar {

namespace {

using Clock = std::chrono::steady_clock;

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

Result<std::pair<std::string, std::string>> split_host_port(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgument("sidecar address '{}' is not host:port", address);
  }
  return std::make_pair(address.substr(0, colon), address.substr(colon + 1));
}

void tune_tcp(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  int buf = 8 << 20;  // let one wire chunk be in flight without stalls
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

class TcpTransport final : public Transport {
 public:
  std::string_view name() const override { return "tcp"; }

  Result<std::unique_ptr<Listener>> listen(const std::string& address) override {
    ERIC_ASSIGN_OR_RETURN(auto hp, split_host_port(address));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(hp.first.c_str(), hp.second.c_str(), &hints, &res);
    if (rc != 0) return InvalidArgument("cannot resolve sidecar listen address '{}': {}", address, gai_strerror(rc));
    std::string last_error = "no address";
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
        last_error = std::strerror(errno);
        close(fd);
        continue;
      }
      set_nonblocking(fd);
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      uint16_t port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                               : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      freeaddrinfo(res);
      return std::make_unique<Listener>(fd, fmt::format("{}:{}", hp.first, port));
    }
    freeaddrinfo(res);
    return Unavailable("cannot listen on sidecar address '{}': {}", address, last_error);
  }

  Result<std::unique_ptr<Connection>> connect(const std::string& address, Millis timeout) override {
    ERIC_ASSIGN_OR_RETURN(auto hp, split_host_port(address));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(hp.first.c_str(), hp.second.c_str(), &hints, &res);
    if (rc != 0) return Unavailable("cannot resolve sidecar address '{}': {}", address, gai_strerror(rc));
    std::string last_error = "no address";
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      set_nonblocking(fd);
      if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        close(fd);
        continue;
      }
      pollfd p{fd, POLLOUT, 0};
      int n = poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof(err);
      if (n == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (n != 1 || err != 0) {
        last_error = n == 0 ? "timed out" : std::strerror(err != 0 ? err : errno);
        close(fd);
        continue;
      }
      tune_tcp(fd);
      freeaddrinfo(res);
      return std::make_unique<Connection>(fd, address);
    }
    freeaddrinfo(res);
    return Unavailable("cannot connect to sidecar {}: {}", address, last_error);
  }
};

}  // namespace

Connection::Connection(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) { set_nonblocking(fd_); }

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

void Connection::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

bool Connection::readable(Millis timeout) {
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) != 0;
}

Status Connection::wait_ready(short events, Clock::time_point deadline, const char* what) {
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) return DeadlineExceeded("{} {} timed out", what, peer_);
    pollfd p{fd_, events, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) return IoError("poll on {} failed: {}", peer_, std::strerror(errno));
    if (n > 0) return Status::Ok();  // readable, writable, or an error the next call reports
  }
}

Status Connection::write_all(std::vector<iovec> parts, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  size_t first = 0;
  while (first < parts.size()) {
    if (parts[first].iov_len == 0) {
      ++first;
      continue;
    }
    msghdr mh{};
    mh.msg_iov = parts.data() + first;
    mh.msg_iovlen = std::min<size_t>(parts.size() - first, IOV_MAX);
    ssize_t n = sendmsg(fd_, &mh, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ERIC_RETURN_IF_ERROR(wait_ready(POLLOUT, deadline, "writing to"));
        continue;
      }
      if (errno == EINTR) continue;
      return Unavailable("connection to {} lost while writing: {}", peer_, std::strerror(errno));
    }
    size_t left = static_cast<size_t>(n);
    while (left > 0 && first < parts.size()) {
      size_t take = std::min(left, parts[first].iov_len);
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + take;
      parts[first].iov_len -= take;
      left -= take;
      if (parts[first].iov_len == 0) ++first;
    }
  }
  return Status::Ok();
}

Status Connection::read_exact(void* dst, size_t n, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  char* p = static_cast<char*>(dst);
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd_, p + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return Unavailable("{} closed the connection", peer_);
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ERIC_RETURN_IF_ERROR(wait_ready(POLLIN, deadline, "reading from"));
      continue;
    }
    if (errno == EINTR) continue;
    return Unavailable("connection to {} lost while reading: {}", peer_, std::strerror(errno));
  }
  return Status::Ok();
}

Result<size_t> Connection::read_some(void* dst, size_t max, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    ssize_t r = recv(fd_, dst, max, 0);
    if (r > 0) return static_cast<size_t>(r);
    if (r == 0) return Unavailable("{} closed the connection", peer_);
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ERIC_RETURN_IF_ERROR(wait_ready(POLLIN, deadline, "reading from"));
      continue;
    }
    if (errno != EINTR) return Unavailable("connection to {} lost while reading: {}", peer_, std::strerror(errno));
  }
}

Status Connection::skip(size_t n, Millis timeout) {
  char buf[64 << 10];
  while (n > 0) {
    size_t take = std::min(n, sizeof(buf));
    ERIC_RETURN_IF_ERROR(read_exact(buf, take, timeout));
    n -= take;
  }
  return Status::Ok();
}

Status Connection::send(const Message& m, Millis timeout, const void* payload) {
  std::string head = encode_message(m);
  std::vector<iovec> parts{{head.data(), head.size()}};
  if (m.payload_len > 0) parts.push_back({const_cast<void*>(payload), m.payload_len});
  std::lock_guard<std::mutex> lock(write_mu_);
  return write_all(std::move(parts), timeout);
}

Result<Message> Connection::receive(Millis idle_timeout, Millis timeout) {
  char head[kFrameHeaderBytes];
  // Wait for the first byte with the idle timeout, then the rest with `timeout`.
  ERIC_RETURN_IF_ERROR(read_exact(head, 1, idle_timeout));
  ERIC_RETURN_IF_ERROR(read_exact(head + 1, kFrameHeaderBytes - 1, timeout));
  ERIC_ASSIGN_OR_RETURN(FrameHeader h, decode_frame_header(std::string_view(head, kFrameHeaderBytes)));
  std::string body(h.body_len, '\0');
  ERIC_RETURN_IF_ERROR(read_exact(body.data(), body.size(), timeout));
  auto m = decode_message_body(h, body);
  if (!m.ok()) return m.status().with_context(fmt::format("message from {}", peer_));
  return m;
}

Listener::~Listener() {
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<Connection>> Listener::accept(Millis timeout) {
  pollfd p{fd_, POLLIN, 0};
  int n = poll(&p, 1, static_cast<int>(timeout.count()));
  if (n <= 0) return std::unique_ptr<Connection>();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return std::unique_ptr<Connection>();
    return IoError("accept on {} failed: {}", address_, std::strerror(errno));
  }
  std::string peer = address_;
  if (ss.ss_family == AF_INET) {
    char buf[INET_ADDRSTRLEN];
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    peer = fmt::format("{}:{}", buf, ntohs(in->sin_port));
    tune_tcp(fd);
  } else if (ss.ss_family == AF_INET6) {
    tune_tcp(fd);
    peer = "tcp6 peer";
  } else {
    peer = "local client";
  }
  return std::make_unique<Connection>(fd, std::move(peer));
}

std::unique_ptr<Transport> make_tcp_transport() { return std::make_unique<TcpTransport>(); }

Result<std::unique_ptr<Listener>> listen_unix(const std::string& path) {
  sockaddr_un sa{};
  if (path.size() >= sizeof(sa.sun_path)) return InvalidArgument("control socket path '{}' is too long", path);
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IoError("socket(AF_UNIX) failed: {}", std::strerror(errno));
  // A socket file left by a crashed sidecar: if nobody answers on it, replace it.
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      close(fd);
      return InvalidArgument("control socket path '{}' exists and is not a socket", path);
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    close(probe);
    if (live) {
      close(fd);
      return Unavailable("another sidecar is serving the control socket '{}'", path);
    }
    unlink(path.c_str());
  }
  // Created 0600 from the start: umask covers the window between bind and chmod.
  mode_t old = umask(0177);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  int err = errno;
  umask(old);
  if (rc != 0 || ::listen(fd, 64) != 0) {
    close(fd);
    return IoError("cannot listen on control socket '{}': {}", path, std::strerror(rc != 0 ? err : errno));
  }
  set_nonblocking(fd);
  return std::make_unique<Listener>(fd, path);
}

Result<std::unique_ptr<Connection>> connect_unix(const std::string& path, Millis timeout) {
  sockaddr_un sa{};
  if (path.size() >= sizeof(sa.sun_path)) return InvalidArgument("control socket path '{}' is too long", path);
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return IoError("socket(AF_UNIX) failed: {}", std::strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
      return std::make_unique<Connection>(fd, fmt::format("sidecar at {}", path));
    }
    int err = errno;
    close(fd);
    // A sidecar that is starting has no socket yet: retry until the deadline.
    if ((err != ENOENT && err != ECONNREFUSED) || Clock::now() >= deadline) {
      return Unavailable("cannot connect to the sidecar control socket '{}': {}", path, std::strerror(err));
    }
    usleep(20000);
  }
}

}  // namespace eric::sidecar
