#include "router/http_server.h"

#include "router/body_stream.h"
#include "router/http_guard.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace eric::router {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Shared between the server and every Responder it hands out: once the server
// stops, late answers (e.g. from the engine client) are dropped instead of
// being posted to an io_context that is going away.
struct Lifeline {
  std::mutex mu;
  bool alive = true;
};

HttpResponse default_error(int status, const std::string& message) {
  return HttpResponse{status, "text/plain", message + "\n"};
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> connections{0};  // live Sessions
  net::steady_timer accept_retry{ioc};  // after a failed accept (e.g. out of descriptors)
  std::shared_ptr<Lifeline> lifeline = std::make_shared<Lifeline>();
  uint16_t port = 0;
  std::once_flag stop_once;

  explicit Impl(int io_threads) : ioc(io_threads) {}
  void do_accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl* server) : stream_(std::move(socket)), server_(server) {
    server_->connections.fetch_add(1);
  }
  ~Session() { server_->connections.fetch_sub(1); }

  void start() {
    // Past the connection bound, answer 503 at once and close, rather than
    // let idle or slow clients hold descriptors and buffers without limit.
    if (static_cast<size_t>(server_->connections.load()) > server_->options.max_connections) {
      net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
        self->refuse(self->server_->options.make_error(
            503, fmt::format("too many connections (limit --max-connections {}); retry later",
                             self->server_->options.max_connections)));
      });
      return;
    }
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read, shared_from_this()));
  }

 private:
  void read() {
    hold_.reset();
    parser_.emplace();
    parser_->body_limit(server_->options.body_limit);
    parser_->header_limit(static_cast<uint32_t>(server_->options.header_limit));
    stream_.expires_after(server_->options.idle_timeout);
    read_head();
  }

  // Collects the request head and checks its raw bytes (http_guard.h)
  // before Beast parses it; a complete head then parses from buffer_ alone.
  void read_head() {
    auto data = buffer_.data();
    const HeadScan scan = scan_request_head(
        std::string_view(static_cast<const char*>(data.data()), data.size()), server_->options.header_limit);
    if (scan.kind == HeadScan::kError) return refuse(server_->options.make_error(scan.error.status, scan.error.message));
    if (scan.kind == HeadScan::kComplete) {
      http::async_read_header(stream_, buffer_, *parser_,
                              beast::bind_front_handler(&Session::on_header, shared_from_this()));
      return;
    }
    stream_.async_read_some(buffer_.prepare(8192), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec == net::error::eof && self->buffer_.size() > 0) ec = http::error::partial_message;
      if (!self->read_ok(ec)) return;
      self->buffer_.commit(n);
      self->read_head();
    });
  }

  // Answers read errors; false when there is nothing more to read.
  bool read_ok(beast::error_code ec) {
    if (!ec) return true;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof || ec == http::error::partial_message) {
      close();  // the client went away (or idled out)
    } else {
      // 413, 431, or a parse error (a socket error makes the write fail and close).
      const HttpError e = error_from_beast(ec, server_->options.header_limit, server_->options.body_limit);
      send_own_error(e.status, e.message);
    }
    return false;
  }

  void on_header(beast::error_code ec, size_t /*bytes*/) {
    if (!read_ok(ec)) return;
    if (auto bad = validate_request_head(parser_->get().base())) return send_own_error(bad->status, bad->message);
    if (server_->options.check_head) {
      version_ = parser_->get().version();
      HttpRequest head = request_from_head(parser_->get().base());
      if (auto refused = server_->options.check_head(head)) return refuse(std::move(*refused));
      hold_ = std::move(head.hold);  // e.g. the request's place in the queue, taken before its body arrives
    }
    auto self = shared_from_this();
    // curl and others wait (curl: 1 s) for "100 Continue" before sending a
    // large body; answer at once instead of letting them time out.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue") && !parser_->is_done()) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue), [self](beast::error_code wec, size_t) {
        if (wec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t /*bytes*/) {
    if (!read_ok(ec)) return;

    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    HttpRequest request = request_from_head(req.base());
    request.body = std::move(req.body());
    request.hold = std::move(hold_);

    // The handler may take long (preprocessing, encoding): the idle timer only
    // guards the wait for the next request.
    stream_.expires_never();
    server_->in_flight.fetch_add(1);
    std::weak_ptr<Lifeline> lifeline = server_->lifeline;
    auto self = shared_from_this();
    Responder respond([self, lifeline](HttpResponse response) {
      auto line = lifeline.lock();
      if (!line) return;
      std::lock_guard<std::mutex> lock(line->mu);
      if (!line->alive) return;
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response)]() mutable { self->write(std::move(response), true); });
    });
    try {
      server_->handler(std::move(request), respond);
    } catch (const std::exception& e) {
      spdlog::error("HTTP handler threw: {}", e.what());
      respond(server_->options.make_error(500, std::string("internal error: ") + e.what()));
    }
  }

  void send_own_error(int status, const std::string& message) { refuse(server_->options.make_error(status, message)); }

  // Answers without reading (the rest of) the request, then closes: the rest
  // of the stream cannot be trusted, or is not worth reading.
  void refuse(HttpResponse response) {
    keep_alive_ = false;
    linger_ = true;
    write(std::move(response), false);
  }

  void write(HttpResponse response, bool counted) {
    if (response.stream) return write_stream(std::move(response));
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status),
                                                                   version_);
    res->set(http::field::server, "eric");
    res->set(http::field::content_type, response.content_type);
    res->keep_alive(keep_alive_);
    for (auto& [name, value] : response.headers) res->set(name, value);
    res->body() = std::move(response.body);
    res->prepare_payload();
    res_ = res;
    http::async_write(stream_, *res_,
                      [self = shared_from_this(), counted](beast::error_code ec, size_t) { self->on_write(ec, counted); });
  }

  // A body produced over time: the head now, then each piece as a chunk as
  // soon as it is there (HTTP/1.0 clients: raw bytes, then close).
  void write_stream(HttpResponse response) {
    body_stream_ = std::move(response.stream);
    auto head = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(response.status), version_);
    head->set(http::field::server, "eric");
    head->set(http::field::content_type, response.content_type);
    head->set(http::field::cache_control, "no-cache");
    chunked_ = version_ >= 11;
    if (!chunked_) keep_alive_ = false;  // the end of the body is the end of the connection
    head->keep_alive(keep_alive_);
    head->chunked(chunked_);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*head);
    std::weak_ptr<Lifeline> lifeline = server_->lifeline;
    // The notifier holds the session: nothing else does while it waits for
    // the producer. The cycle is broken when the stream ends (end_stream).
    body_stream_->set_notifier([self = shared_from_this(), lifeline] {
      auto line = lifeline.lock();
      if (!line) return;
      std::lock_guard<std::mutex> lock(line->mu);
      if (!line->alive) return;
      net::post(self->stream_.get_executor(), [self] { self->pump(); });
    });
    http::async_write_header(stream_, *serializer,
                             [self = shared_from_this(), head, serializer](beast::error_code ec, size_t) {
                               if (ec) return self->end_stream(ec);
                               self->pump();
                             });
  }

  // On the strand: sends what the producer queued, or waits to be notified.
  void pump() {
    if (chunk_writing_ || !body_stream_) return;
    BodyStream::Taken taken = body_stream_->take();
    if (!taken.data.empty()) {
      chunk_writing_ = true;
      auto data = std::make_shared<std::string>(std::move(taken.data));
      auto done = [self = shared_from_this(), data](beast::error_code ec, size_t) {
        self->chunk_writing_ = false;
        if (ec) return self->end_stream(ec);
        self->pump();
      };
      if (chunked_) {
        net::async_write(stream_, http::make_chunk(net::buffer(*data)), std::move(done));
      } else {
        net::async_write(stream_, net::buffer(*data), std::move(done));
      }
      return;
    }
    if (taken.failed) return end_stream(net::error::connection_aborted);
    if (!taken.finished) return;  // the notifier calls pump() again
    if (!chunked_) return end_stream({});
    chunk_writing_ = true;
    net::async_write(stream_, http::make_chunk_last(), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->chunk_writing_ = false;
      self->end_stream(ec);
    });
  }

  void end_stream(beast::error_code ec) {
    auto body = std::move(body_stream_);
    if (ec && body) body->cancel();  // the producer stops; the notifier (and its hold on us) goes
    if (body) body->set_notifier(nullptr);
    on_write(ec, true);  // closes unless keep-alive
  }

  void on_write(beast::error_code ec, bool counted) {
    if (counted) server_->in_flight.fetch_sub(1);
    res_.reset();
    if (ec) return close();
    if (!keep_alive_) return close();
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger_ && !ec) return linger();
    stream_.socket().close(ec);
  }

  // After refusing a request whose body may still be arriving: closing with
  // unread data makes the kernel send RST, which can destroy the answer
  // before the client reads it. So read and drop what comes (bounded in
  // bytes and time) until the client closes, then close.
  void linger() {
    linger_ = false;
    stream_.expires_after(std::chrono::seconds(2));
    drain(0);
  }
  void drain(size_t dropped) {
    static constexpr size_t kMaxDrain = 4u << 20;
    auto scratch = std::make_shared<std::array<char, 16384>>();
    stream_.async_read_some(net::buffer(*scratch), [self = shared_from_this(), scratch, dropped](beast::error_code ec,
                                                                                                 size_t n) {
      if (ec || dropped + n > kMaxDrain) {
        beast::error_code ignored;
        self->stream_.socket().close(ignored);
        return;
      }
      self->drain(dropped + n);
    });
  }

  beast::tcp_stream stream_;
  HttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<void> hold_;  // what check_head attached, until the request reaches the handler
  std::shared_ptr<http::response<http::string_body>> res_;
  std::shared_ptr<BodyStream> body_stream_;  // while a streamed answer is being sent
  bool chunked_ = true;
  bool chunk_writing_ = false;
  bool keep_alive_ = true;
  bool linger_ = false;  // close() drains the socket first (see linger())
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (EMFILE) or memory: retrying at once would spin
      // and flood the log; wait a little for connections to close.
      spdlog::warn("HTTP accept failed: {}; retrying in 100 ms", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code wec) {
        if (!wec && acceptor.is_open()) do_accept();
      });
      return;
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // small JSON answers: do not wait for Nagle
      std::make_shared<Session>(std::move(socket), this)->start();
    }
    do_accept();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpServerOptions options, HttpHandler handler) {
  if (options.io_threads < 1) return InvalidArgument("HTTP server needs at least 1 I/O thread, got {}", options.io_threads);
  if (!options.make_error) options.make_error = default_error;
  auto impl = std::make_unique<Impl>(options.io_threads);
  impl->options = options;
  impl->handler = std::move(handler);

  beast::error_code ec;
  auto address = net::ip::make_address(options.host, ec);
  if (ec) return InvalidArgument("--host '{}' is not an IP address: {}", options.host, ec.message());
  tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return IoError("cannot listen on {}:{}: {}", options.host, options.port, ec.message());
  impl->port = impl->acceptor.local_endpoint().port();

  impl->work.emplace(net::make_work_guard(impl->ioc));
  impl->do_accept();
  Impl* raw = impl.get();
  for (int i = 0; i < options.io_threads; ++i) {
    impl->threads.emplace_back([raw] {
      for (;;) {
        try {
          raw->ioc.run();
          return;
        } catch (const std::exception& e) {  // a bug in a completion handler: log, keep serving
          spdlog::error("HTTP I/O thread caught: {}", e.what());
        }
      }
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port; }

int64_t HttpServer::in_flight() const { return impl_->in_flight.load(); }

void HttpServer::stop_accepting() {
  if (impl_->ioc.stopped()) return;
  std::promise<void> done;
  auto fut = done.get_future();
  net::post(impl_->ioc, [this, &done] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    done.set_value();
  });
  fut.wait();
}

void HttpServer::stop() {
  std::call_once(impl_->stop_once, [this] {
    {
      std::lock_guard<std::mutex> lock(impl_->lifeline->mu);
      impl_->lifeline->alive = false;
    }
    stop_accepting();
    impl_->work.reset();
    impl_->ioc.stop();
    for (auto& t : impl_->threads) t.join();
    impl_->threads.clear();
  });
}

}  // namespace eric::router
