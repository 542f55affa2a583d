// Streamed answers: BodyStream through the HTTP server (chunked, each piece
// sent as soon as it is written, the producer told when the client leaves)
// and the upstream client relaying a server-sent-events answer piece by piece,
// plain answers and upstream errors unchanged, and 502 for an unreachable
// upstream.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <future>
#include <thread>

#include "router/api_response.h"
#include "router/body_stream.h"
#include "router/http_client.h"
#include "router/http_server.h"
#include "router/upstream_client.h"

namespace eric::router {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::unique_ptr<HttpServer> start_server(HttpHandler handler) {
  HttpServerOptions options;
  options.port = 0;
  auto server = HttpServer::start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status().to_string();
  return std::move(server).value();
}

// A client that reads a response's body piece by piece, as it arrives.
class StreamReader {
 public:
  explicit StreamReader(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  void send(const std::string& target, int version = 11) {
    http::request<http::string_body> req(http::verb::get, target, version);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    http::write(socket_, req);
    parser_.emplace();
    parser_->body_limit(1 << 30);
    http::read_header(socket_, buffer_, *parser_);
  }
  const http::response_parser<http::buffer_body>::value_type& head() { return parser_->get(); }
  // Reads until `needle` is in the body read so far (or the body ends).
  bool read_until(const std::string& needle) {
    while (body_.find(needle) == std::string::npos) {
      if (parser_->is_done()) return false;
      char buf[512];
      parser_->get().body().data = buf;
      parser_->get().body().size = sizeof(buf);
      beast::error_code ec;
      http::read_some(socket_, buffer_, *parser_, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return false;
      body_.append(buf, sizeof(buf) - parser_->get().body().size);
    }
    return true;
  }
  bool read_to_end() {
    read_until(std::string(1, '\0'));  // never found: reads to the end
    return parser_->is_done();
  }
  const std::string& body() const { return body_; }
  void close() { socket_.close(); }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::string body_;
};

TEST(StreamingTest, PiecesReachTheClientAsTheyAreWritten) {
  auto stream = std::make_shared<BodyStream>();
  auto server = start_server([stream](HttpRequest r, Responder respond) {
    if (r.path() != "/stream") return respond(make_response(200, "text/plain", "plain"));
    HttpResponse response = make_response(200, "text/event-stream", "");
    response.stream = stream;
    respond(std::move(response));
  });
  StreamReader reader(server->port());
  reader.send("/stream");
  EXPECT_EQ(reader.head().result_int(), 200u);
  EXPECT_EQ(reader.head()[http::field::content_type], "text/event-stream");
  EXPECT_TRUE(reader.head().chunked());
  // The second piece is written only after the client has the first: a
  // server that buffered the body until the end would hang here.
  stream->write("data: one\n\n");
  ASSERT_TRUE(reader.read_until("data: one\n\n"));
  stream->write("data: two\n\n");
  ASSERT_TRUE(reader.read_until("data: two\n\n"));
  stream->write("data: [DONE]\n\n");
  stream->finish();
  ASSERT_TRUE(reader.read_to_end());
  EXPECT_EQ(reader.body(), "data: one\n\ndata: two\n\ndata: [DONE]\n\n");
  // The connection is kept alive for the next request.
  reader.send("/plain");
  ASSERT_TRUE(reader.read_to_end());
  EXPECT_EQ(reader.body(), "data: one\n\ndata: two\n\ndata: [DONE]\n\nplain");
  // The server counts an answer done when its write completes, which may be
  // just after the client has read it.
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (server->in_flight() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(server->in_flight(), 0);
}

TEST(StreamingTest, Http10ClientsGetRawBytesThenClose) {
  auto stream = std::make_shared<BodyStream>();
  auto server = start_server([stream](HttpRequest, Responder respond) {
    HttpResponse response = make_response(200, "text/event-stream", "");
    response.stream = stream;
    respond(std::move(response));
  });
  StreamReader reader(server->port());
  std::thread producer([stream] {
    stream->write("abc");
    std::this_thread::sleep_for(20ms);
    stream->write("def");
    stream->finish();
  });
  reader.send("/", 10);
  EXPECT_FALSE(reader.head().chunked());
  EXPECT_TRUE(reader.read_to_end());
  EXPECT_EQ(reader.body(), "abcdef");
  producer.join();
}

TEST(StreamingTest, ProducerLearnsThatTheClientLeft) {
  auto stream = std::make_shared<BodyStream>();
  std::promise<void> cancelled;
  stream->on_cancel([&cancelled] { cancelled.set_value(); });
  auto server = start_server([stream](HttpRequest, Responder respond) {
    HttpResponse response = make_response(200, "text/event-stream", "");
    response.stream = stream;
    respond(std::move(response));
  });
  {
    StreamReader reader(server->port());
    reader.send("/");
    stream->write("data: x\n\n");
    ASSERT_TRUE(reader.read_until("data: x"));
    reader.close();
  }
  // Writes to a closed connection fail, and the failure reaches the producer.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto done = cancelled.get_future();
  while (done.wait_for(10ms) != std::future_status::ready && std::chrono::steady_clock::now() < deadline) {
    stream->write(std::string(4096, 'x'));
  }
  EXPECT_EQ(done.wait_for(0s), std::future_status::ready);
  EXPECT_TRUE(stream->cancelled());
  auto deadline2 = std::chrono::steady_clock::now() + 2s;
  while (server->in_flight() != 0 && std::chrono::steady_clock::now() < deadline2) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(server->in_flight(), 0);
}

TEST(StreamingTest, FailedStreamIsCutShort) {
  auto stream = std::make_shared<BodyStream>();
  auto server = start_server([stream](HttpRequest, Responder respond) {
    HttpResponse response = make_response(200, "text/event-stream", "");
    response.stream = stream;
    respond(std::move(response));
  });
  StreamReader reader(server->port());
  reader.send("/");
  stream->write("data: partial\n\n");
  ASSERT_TRUE(reader.read_until("partial"));
  stream->fail();
  // The connection closes without the last chunk: the client cannot mistake
  // the answer for a complete one.
  EXPECT_FALSE(reader.read_to_end());
}

TEST(StreamingTest, ClientThatStopsReadingIsCutOffNotBufferedForever) {
  BodyStream stream(/*max_pending=*/16);
  bool stopped = false;
  stream.on_cancel([&stopped] { stopped = true; });
  stream.write("0123456789");
  EXPECT_FALSE(stream.cancelled());
  stream.write("0123456789");  // 20 bytes queued > 16: nobody is reading
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(stream.cancelled());
  BodyStream::Taken taken = stream.take();
  EXPECT_TRUE(taken.failed);
  EXPECT_TRUE(taken.data.empty());
  stream.write("more");  // ignored from now on
  EXPECT_TRUE(stream.take().data.empty());
}

TEST(UpstreamUrlTest, Parses) {
  auto u = parse_upstream_url("http://127.0.0.1:8001");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8001);
  EXPECT_EQ(u->base_path, "");
  u = parse_upstream_url("http://vllm.internal/prefix/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "vllm.internal");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->base_path, "/prefix");
  u = parse_upstream_url("http://[::1]:9000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9000);
  for (const char* bad : {"https://x:1", "x:1", "http://", "http://:80", "http://h:0", "http://h:70000", "http://h:1x"}) {
    EXPECT_FALSE(parse_upstream_url(bad).ok()) << bad;
  }
}

HttpResponse test_error(int status, std::string_view message) {
  return make_response(status, "text/plain", "error: " + std::string(message));
}

// eric's side of the proxy: forwards every request to `upstream`.
std::unique_ptr<HttpServer> proxy_to(UpstreamClient& upstream) {
  return start_server([&upstream](HttpRequest r, Responder respond) {
    upstream.forward(r.method, r.target, r.body, "application/json", respond, &test_error);
  });
}

TEST(UpstreamClientTest, PlainAnswersAndErrorsPassUnchanged) {
  std::atomic<int> requests{0};
  std::string seen_body, seen_target;
  std::mutex mu;
  auto upstream_server = start_server([&](HttpRequest r, Responder respond) {
    requests++;
    {
      std::lock_guard<std::mutex> lock(mu);
      seen_body = r.body;
      seen_target = r.target;
    }
    if (r.path() == "/base/v1/models") return respond(make_response(200, "application/json", R"({"data":[]})"));
    respond(make_response(422, "application/json; charset=utf-8", R"({"error":{"message":"bad","code":422}})"));
  });
  UpstreamOptions options;
  options.url = *parse_upstream_url("http://127.0.0.1:" + std::to_string(upstream_server->port()) + "/base");
  UpstreamClient upstream(options);
  auto proxy = proxy_to(upstream);
  auto client = *HttpClient::connect("127.0.0.1", proxy->port());
  auto r = client->get("/v1/models");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"data":[]})");
  r = client->post("/v1/chat/completions?x=1", R"({"messages":[]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(r->content_type, "application/json; charset=utf-8");
  EXPECT_EQ(r->body, R"({"error":{"message":"bad","code":422}})");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen_target, "/base/v1/chat/completions?x=1");
  EXPECT_EQ(seen_body, R"({"messages":[]})");
  EXPECT_EQ(requests.load(), 2);
}

TEST(UpstreamClientTest, EventStreamIsRelayedAsItArrives) {
  auto upstream_stream = std::make_shared<BodyStream>();
  auto upstream_server = start_server([upstream_stream](HttpRequest, Responder respond) {
    HttpResponse response = make_response(200, "text/event-stream; charset=utf-8", "");
    response.stream = upstream_stream;
    respond(std::move(response));
  });
  UpstreamOptions options;
  options.url = *parse_upstream_url("http://127.0.0.1:" + std::to_string(upstream_server->port()));
  UpstreamClient upstream(options);
  auto proxy = proxy_to(upstream);
  StreamReader reader(proxy->port());
  upstream_stream->write("data: {\"n\":1}\n\n");
  reader.send("/v1/chat/completions");
  EXPECT_EQ(reader.head().result_int(), 200u);
  EXPECT_EQ(reader.head()[http::field::content_type], "text/event-stream; charset=utf-8");
  // Through both hops, the first event arrives before the second exists.
  ASSERT_TRUE(reader.read_until("data: {\"n\":1}\n\n"));
  upstream_stream->write("data: {\"n\":2}\n\n");
  ASSERT_TRUE(reader.read_until("data: {\"n\":2}\n\n"));
  upstream_stream->write("data: [DONE]\n\n");
  upstream_stream->finish();
  ASSERT_TRUE(reader.read_to_end());
  EXPECT_EQ(reader.body(), "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n");
}

TEST(UpstreamClientTest, UnreachableUpstreamIs502) {
  uint16_t port;
  {
    auto s = start_server([](HttpRequest, Responder respond) { respond(make_response(200, "text/plain", "")); });
    port = s->port();
  }  // closed: nothing listens there now
  UpstreamOptions options;
  options.url = *parse_upstream_url("http://127.0.0.1:" + std::to_string(port));
  options.timeout = 5s;
  UpstreamClient upstream(options);
  auto proxy = proxy_to(upstream);
  auto client = *HttpClient::connect("127.0.0.1", proxy->port());
  auto r = client->get("/v1/models");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 502);
  EXPECT_NE(r->body.find("cannot connect"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace eric::router
