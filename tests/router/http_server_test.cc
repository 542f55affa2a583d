// The transport alone: keep-alive, limits, malformed input, answers from
// other threads, and the safety net for handlers that never answer.
#include "router/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <thread>

#include "router/http_client.h"

namespace eric::router {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// Sends raw bytes and returns everything the server sends until it closes.
std::string raw_exchange(uint16_t port, const std::string& bytes) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  net::write(socket, net::buffer(bytes));
  std::string out;
  boost::system::error_code ec;
  char buf[4096];
  for (;;) {
    size_t n = socket.read_some(net::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

std::unique_ptr<HttpServer> echo_server(size_t body_limit = 1 << 20) {
  HttpServerOptions options;
  options.port = 0;
  options.body_limit = body_limit;
  options.header_limit = 1024;
  auto server = HttpServer::start(options, [](HttpRequest r, Responder respond) {
    if (r.path() == "/later") {
      // Answer from another thread, after the handler has returned.
      std::thread([respond] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        respond(HttpResponse{202, "text/plain", "later"});
      }).detach();
      return;
    }
    if (r.path() == "/never") return;  // drops the Responder
    respond(HttpResponse{200, "text/plain", r.method + " " + r.target + " " + r.body + " " + r.accept});
  });
  EXPECT_TRUE(server.ok()) << server.status().to_string();
  return std::move(server).value();
}

TEST(HttpServer, EchoAndKeepAlive) {
  auto server = echo_server();
  auto client = *HttpClient::connect("127.0.0.1", server->port());
  for (int i = 0; i < 5; ++i) {
    auto r = client->request("POST", "/x?q=" + std::to_string(i), "body", "application/octet-stream");
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST /x?q=" + std::to_string(i) + " body application/octet-stream");
  }
}

TEST(HttpServer, AnswersFromOtherThreadsAreDelivered) {
  auto server = echo_server();
  auto client = *HttpClient::connect("127.0.0.1", server->port());
  auto r = client->get("/later");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "later");
  // The count drops when the write completes, which may be just after the
  // client has read the answer.
  for (int i = 0; i < 100 && server->in_flight() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server->in_flight(), 0);
}

TEST(HttpServer, DroppedResponderBecomes500) {
  auto server = echo_server();
  auto client = *HttpClient::connect("127.0.0.1", server->port());
  auto r = client->get("/never");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("dropped without an answer"), std::string::npos);
}

TEST(HttpServer, BodyLimitIs413) {
  auto server = echo_server(/*body_limit=*/100);
  auto client = *HttpClient::connect("127.0.0.1", server->port());
  auto r = client->post("/x", std::string(101, 'a'));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 413);
  auto ok = client->post("/x", std::string(100, 'a'));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
}

TEST(HttpServer, HeaderLimitIs431) {
  auto server = echo_server();
  std::string out = raw_exchange(server->port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 431", 0), 0u) << out;
}

TEST(HttpServer, MalformedRequestIs400AndClosed) {
  auto server = echo_server();
  std::string out = raw_exchange(server->port(), "THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
  auto server = echo_server();
  std::string out = raw_exchange(server->port(), "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;  // and raw_exchange returned: the server closed
}

TEST(HttpServer, ExpectContinueIsAnsweredAtOnce) {
  auto server = echo_server();
  std::string out = raw_exchange(server->port(),
                                 "POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                                 "Connection: close\r\n\r\nhi");
  EXPECT_EQ(out.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("POST /c hi"), std::string::npos) << out;
}

TEST(HttpServer, BadHostIsAnError) {
  HttpServerOptions options;
  options.host = "not-an-ip";
  auto server = HttpServer::start(options, [](HttpRequest, Responder) {});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("not-an-ip"), std::string::npos);
}

}  // namespace
}  // namespace eric::router
