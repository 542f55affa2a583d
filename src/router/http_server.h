// Asynchronous HTTP/1.1 server (Boost.Beast on Boost.Asio) with a fixed set
// of I/O threads. Each connection runs on its own strand; a request is handed
// to the handler together with a Responder, and the handler may answer later
// from any thread: the answer is posted back to the connection's strand. So
// I/O threads never wait for preprocessing or for the engine.
//
// Keep-alive is honoured; request heads and bodies are size-limited (431 and
// 413, answered before the body is read); malformed HTTP, ambiguous framing
// (request smuggling) and unknown methods are refused (see http_guard.h) and
// the connection is closed. `check_head` may refuse a request from its head
// alone (authentication, overload), so its body is never read.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "router/http_types.h"

namespace eric::router {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: an ephemeral port (see HttpServer::port())
  int io_threads = 2;
  size_t body_limit = 64u << 20;
  size_t header_limit = 16u << 10;
  // A connection idle this long between requests is closed. Requests being
  // handled have no time limit here (the engine client has its own).
  std::chrono::seconds idle_timeout{60};
  // Open connections; one more is answered 503 and closed.
  size_t max_connections = 1024;
  // Called on each request head (body not read yet, HttpRequest::body
  // empty); a response refuses the request and closes the connection. It
  // may set head.hold, which the request handed to the handler carries (the
  // session drops it if the connection fails before the body is complete).
  std::function<std::optional<HttpResponse>(HttpRequest& head)> check_head;
  // Builds the body of errors the server produces itself (413, 431, 400).
  std::function<HttpResponse(int status, const std::string& message)> make_error;
};

class HttpServer {
 public:
  // Binds, listens and starts the I/O threads.
  static Result<std::unique_ptr<HttpServer>> start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Requests handed to the handler whose answer is not yet written.
  int64_t in_flight() const;
  // Closes the listening socket: no new connections (for draining).
  void stop_accepting();
  // Stops the I/O threads and closes every connection. Idempotent.
  void stop();

  struct Impl;  // public only so that the connection code in the .cc can name it

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eric::router
