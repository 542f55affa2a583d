// Byte streams the sidecar talks over: a Connection (one stream socket) and a
// Transport that makes them (TCP between sidecars; Unix-domain sockets for the
// local control channel). The server only sees these interfaces, so another
// inter-node transport (UCX) can be added beside TcpTransport.
//
// Every blocking call takes a timeout; a peer that stops reading or writing
// turns into DeadlineExceeded, a peer that went away into Unavailable.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "sidecar/wire.h"

namespace eric::sidecar {

using Millis = std::chrono::milliseconds;

class Connection {
 public:
  explicit Connection(int fd, std::string peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Writes all bytes of every part (gathered, no intermediate copy).
  Status write_all(std::vector<iovec> parts, Millis timeout);
  Status read_exact(void* dst, size_t n, Millis timeout);
  // Reads what is there (at least 1 byte, at most `max`); Unavailable at EOF.
  Result<size_t> read_some(void* dst, size_t max, Millis timeout);
  // Discards n bytes (a payload nobody wants).
  Status skip(size_t n, Millis timeout);

  // One whole message: header + body (+ payload bytes, written after).
  Status send(const Message& m, Millis timeout, const void* payload = nullptr);
  // The next message's header and body; the payload (payload_len bytes) is
  // left for the caller to read_exact or skip. `idle_timeout` bounds the wait
  // for the first byte, `timeout` the rest.
  Result<Message> receive(Millis idle_timeout, Millis timeout);

  // True when a byte (or EOF / an error, which the next read reports) is
  // waiting, false when nothing arrived within `timeout`.
  bool readable(Millis timeout);
  // Wakes blocked readers/writers (they fail with Unavailable); idempotent.
  void shutdown();
  const std::string& peer() const { return peer_; }
  int fd() const { return fd_; }
  // Serializes writers when several threads answer on one connection.
  std::mutex& write_mutex() { return write_mu_; }

 private:
  Status wait_ready(short events, std::chrono::steady_clock::time_point deadline, const char* what);
  int fd_;
  std::string peer_;
  std::mutex write_mu_;
};

class Listener {
 public:
  explicit Listener(int fd, std::string address) : fd_(fd), address_(std::move(address)) {}
  ~Listener();
  // The next connection, or nullptr when none arrived within `timeout`.
  Result<std::unique_ptr<Connection>> accept(Millis timeout);
  const std::string& address() const { return address_; }  // host:port with the real port
 private:
  int fd_;
  std::string address_;
};

// Makes connections between sidecars.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string_view name() const = 0;
  virtual Result<std::unique_ptr<Listener>> listen(const std::string& address) = 0;
  virtual Result<std::unique_ptr<Connection>> connect(const std::string& address, Millis timeout) = 0;
};

// "host:port" over TCP (port 0 to listen on any free port). TCP_NODELAY,
// large socket buffers.
std::unique_ptr<Transport> make_tcp_transport();

// Unix-domain stream sockets for the local control channel. The listening
// socket is created with mode 0600 (only this user's processes may connect);
// a stale socket file at `path` is replaced.
Result<std::unique_ptr<Listener>> listen_unix(const std::string& path);
Result<std::unique_ptr<Connection>> connect_unix(const std::string& path, Millis timeout);

}  // namespace eric::sidecar
