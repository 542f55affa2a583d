#include "router/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <limits>
#include <optional>

namespace eric::router {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpClient::Impl {
  std::string host;
  uint16_t port = 0;
  std::chrono::milliseconds timeout{0};
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  Status open() {
    stream.reset();
    buffer.clear();
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Unavailable("cannot resolve {}: {}", host, ec.message());
    stream.emplace(ioc);
    stream->expires_after(timeout);
    stream->connect(endpoints, ec);
    if (ec) {
      stream.reset();
      return Unavailable("cannot connect to {}:{}: {}", host, port, ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    return Status::Ok();
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::connect(const std::string& host, uint16_t port,
                                                        std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->host = host;
  impl->port = port;
  impl->timeout = timeout;
  ERIC_RETURN_IF_ERROR(impl->open());
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<ClientResponse> HttpClient::request(const std::string& method, const std::string& target,
                                           const std::string& body, const std::string& accept) {
  if (!impl_->stream) ERIC_RETURN_IF_ERROR(impl_->open());
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, impl_->host);
  req.set(http::field::user_agent, "eric-test-client");
  if (!body.empty() || method == "POST") req.set(http::field::content_type, "application/json");
  if (!accept.empty()) req.set(http::field::accept, accept);
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();

  beast::error_code ec;
  impl_->stream->expires_after(impl_->timeout);
  http::write(*impl_->stream, req, ec);
  // A server refusing a large body may answer and close before reading it
  // all: the write then fails but the answer is still there to read.
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::error_code read_ec;
  http::read(*impl_->stream, impl_->buffer, parser, read_ec);
  if (read_ec) {
    impl_->stream.reset();
    return Unavailable("{} {}: {}", method, target, (ec ? ec : read_ec).message());
  }
  auto res = parser.release();
  ClientResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  if (!res.keep_alive()) impl_->stream.reset();
  return out;
}

}  // namespace eric::router
