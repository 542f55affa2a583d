#include "router/upstream_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <limits>
#include <optional>
#include <thread>

#include "router/api_response.h"
#include "router/body_stream.h"

namespace eric::router {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Result<UpstreamUrl> parse_upstream_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument("--llm-upstream '{}' must start with http:// (https is not supported; put vLLM on a "
                           "private address)", url);
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  UpstreamUrl out;
  if (slash != std::string_view::npos) {
    out.base_path = std::string(rest.substr(slash));
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  }
  if (authority.empty()) return InvalidArgument("--llm-upstream '{}' names no host", url);
  size_t colon = authority.rfind(':');
  bool bracketed = authority.front() == '[';
  if (colon != std::string_view::npos && (!bracketed || authority.find(']') < colon)) {
    std::string_view port = authority.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidArgument("--llm-upstream '{}' has an invalid port '{}'", url, port);
    }
    out.port = static_cast<uint16_t>(value);
    authority = authority.substr(0, colon);
  }
  if (bracketed) {
    if (authority.size() < 3 || authority.back() != ']') return InvalidArgument("--llm-upstream '{}': bad IPv6 host", url);
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return InvalidArgument("--llm-upstream '{}' names no host", url);
  out.host = std::string(authority);
  return out;
}

struct UpstreamClient::Impl {
  net::io_context ioc{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
};

namespace {

// One forwarded request on its own connection (no pooling: an LLM answer
// takes far longer than a loopback connect).
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(net::io_context& ioc, const UpstreamOptions& options, Responder respond, UpstreamClient::ErrorBody error)
      : options_(options),
        resolver_(net::make_strand(ioc)),
        stream_(resolver_.get_executor()),
        respond_(std::move(respond)),
        error_(error) {}

  void start(std::string method, std::string target, std::string body, std::string content_type) {
    req_.method_string(method);
    req_.target(options_.url.base_path + target);
    req_.version(11);
    req_.set(http::field::host, fmt::format("{}:{}", options_.url.host, options_.url.port));
    req_.set(http::field::user_agent, "eric");
    if (!options_.api_key.empty()) req_.set(http::field::authorization, "Bearer " + options_.api_key);
    if (!body.empty() || method == "POST") req_.set(http::field::content_type, content_type);
    req_.keep_alive(false);
    req_.body() = std::move(body);
    req_.prepare_payload();
    resolver_.async_resolve(options_.url.host, std::to_string(options_.url.port),
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(ec, std::move(results));
                            });
  }

 private:
  std::string where() const { return fmt::format("{}:{}", options_.url.host, options_.url.port); }

  // Before the answer's head: 502 to the client. After: a truncated stream.
  void fail(const std::string& what, beast::error_code ec) {
    std::string message = fmt::format("LLM upstream {}: {}: {}", where(), what, ec.message());
    if (body_) {
      spdlog::warn("{} (streamed answer cut short)", message);
      body_->fail();
    } else {
      spdlog::warn("{}", message);
      respond_(error_(502, message));
    }
    close();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return fail("cannot resolve", ec);
    stream_.expires_after(options_.timeout);
    stream_.async_connect(results, [self = shared_from_this()](beast::error_code cec, const tcp::endpoint&) {
      if (cec) return self->fail("cannot connect", cec);
      beast::error_code ignored;
      self->stream_.socket().set_option(tcp::no_delay(true), ignored);
      self->stream_.expires_after(self->options_.timeout);
      http::async_write(self->stream_, self->req_, [self](beast::error_code wec, size_t) {
        if (wec) return self->fail("cannot send the request", wec);
        self->read_header();
      });
    });
  }

  void read_header() {
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(options_.timeout);
    http::async_read_header(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail("no answer", ec);
      self->on_header();
    });
  }

  void on_header() {
    const auto& head = parser_.get();
    status_ = static_cast<int>(head.result_int());
    content_type_ = std::string(head[http::field::content_type]);
    const bool event_stream = content_type_.rfind("text/event-stream", 0) == 0;
    if (parser_.chunked() || event_stream) {
      // Relay as it comes: the client gets the head now and each piece as it arrives.
      body_ = std::make_shared<BodyStream>();
      std::weak_ptr<Call> weak = shared_from_this();
      body_->on_cancel([weak, executor = stream_.get_executor()] {
        net::post(executor, [weak] {
          if (auto self = weak.lock()) self->close();  // the client left: stop the generation
        });
      });
      HttpResponse response = make_response(status_, content_type_, "");
      response.stream = body_;
      respond_(std::move(response));
    }
    read_some();
  }

  void read_some() {
    if (parser_.is_done()) return on_done();
    parser_.get().body().data = chunk_.data();
    parser_.get().body().size = chunk_.size();
    stream_.expires_after(options_.timeout);
    // read_some, not read: hand on whatever arrived instead of waiting for a full buffer.
    http::async_read_some(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    const size_t got = chunk_.size() - parser_.get().body().size;
    if (ec) return fail("answer broken off", ec);
    if (got > 0) {
      if (body_) {
        if (body_->cancelled()) return close();
        body_->write(std::string(chunk_.data(), got));
      } else {
        if (answer_.size() + got > options_.max_answer_bytes) {
          respond_(error_(502, fmt::format("LLM upstream {}: answer larger than {} bytes", where(),
                                           options_.max_answer_bytes)));
          return close();
        }
        answer_.append(chunk_.data(), got);
      }
    }
    read_some();
  }

  void on_done() {
    if (body_) {
      body_->finish();
    } else {
      respond_(make_response(status_, content_type_, std::move(answer_)));
    }
    close();
  }

  const UpstreamOptions& options_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  Responder respond_;
  UpstreamClient::ErrorBody error_;
  http::request<http::string_body> req_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 16384> chunk_{};
  int status_ = 0;
  std::string content_type_;
  std::string answer_;
  std::shared_ptr<BodyStream> body_;
};

}  // namespace

UpstreamClient::UpstreamClient(UpstreamOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->work.emplace(net::make_work_guard(impl_->ioc));
  impl_->thread = std::thread([impl = impl_.get()] {
    for (;;) {
      try {
        impl->ioc.run();
        return;
      } catch (const std::exception& e) {  // a bug in a completion handler: log, keep going
        spdlog::error("LLM upstream I/O thread caught: {}", e.what());
      }
    }
  });
}

UpstreamClient::~UpstreamClient() {
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void UpstreamClient::forward(std::string method, std::string target, std::string body, std::string content_type,
                             Responder respond, ErrorBody error) {
  auto call = std::make_shared<Call>(impl_->ioc, options_, std::move(respond), error);
  // Started on the client's single I/O thread, where all of the call's handlers run.
  net::post(impl_->ioc, [call, method = std::move(method), target = std::move(target), body = std::move(body),
                         content_type = std::move(content_type)]() mutable {
    call->start(std::move(method), std::move(target), std::move(body), std::move(content_type));
  });
}

}  // namespace eric::router
