// The HTTP front over real sockets: smuggling attempts are refused before
// any handler runs, authentication and the queue bound answer from the
// request head (without waiting for a body), and refusals are JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "router/api_response.h"
#include "router/http_server.h"
#include "router/request_gate.h"

namespace eric::router {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

// One connection: write raw bytes, read what comes until the server closes
// (or `timeout` passes, which the tests treat as a failure to answer).
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  void send(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }
  std::string read_until_close(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    socket_.non_blocking(true);
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code ec;
      size_t n = socket_.read_some(net::buffer(buf), ec);
      if (ec == net::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (ec) return out;
      out.append(buf, n);
    }
    return out + "\n<timed out: the server did not close>";
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
};

std::string exchange(uint16_t port, const std::string& bytes) {
  RawConnection c(port);
  c.send(bytes);
  return c.read_until_close();
}

int status_of(const std::string& response) {
  return response.rfind("HTTP/1.", 0) == 0 && response.size() > 12 ? std::stoi(response.substr(9, 3)) : 0;
}

json body_of(const std::string& response) {
  auto pos = response.find("\r\n\r\n");
  return pos == std::string::npos ? json() : json::parse(response.substr(pos + 4), nullptr, false);
}

class HttpSecurityTest : public ::testing::Test {
 protected:
  void start(const std::string& api_key, int64_t max_requests, size_t max_connections = 64) {
    admission_ = std::make_unique<Admission>(max_requests, 100, /*retry_after_seconds=*/2);
    gate_ = std::make_unique<RequestGate>(ApiKeyAuth(api_key), admission_.get());
    HttpServerOptions options;
    options.port = 0;
    options.body_limit = 1000;
    options.header_limit = 2048;
    options.max_connections = max_connections;
    options.make_error = [](int status, const std::string& message) { return json_error(status, message); };
    options.check_head = [gate = gate_.get()](HttpRequest& h) { return gate->check_head(h); };
    server_ = *HttpServer::start(options, gate_->wrap([this](HttpRequest r, Responder respond) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(r.target);
      if (r.path() == "/hold") {
        held_.push_back(respond);  // answered later by the test
        return;
      }
      respond(HttpResponse{200, "text/plain", "ok " + r.target});
    }));
  }
  void TearDown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_.clear();
    }
    server_->stop();
  }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }

  std::unique_ptr<Admission> admission_;
  std::unique_ptr<RequestGate> gate_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::vector<std::string> seen_;
  std::vector<Responder> held_;
};

TEST_F(HttpSecurityTest, SmugglingAttemptsNeverReachTheHandler) {
  start("", 100);
  const std::vector<std::string> attempts = {
      // CL.TE: a front end using Content-Length forwards the smuggled request as body.
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
      "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
      // TE.CL
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
      "2a\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n",
      // An unknown coding: Beast would read no body, and take it for a request.
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
      // Two lengths that agree (Beast accepts them).
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
      "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
      // obs-fold hiding a Transfer-Encoding from a proxy that does not unfold.
      "POST /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"
      "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const std::string& attempt : attempts) {
    std::string out = exchange(server_->port(), attempt);
    EXPECT_EQ(status_of(out), 400) << out;
    // One answer, then the connection is closed: nothing after it is read as a request.
    EXPECT_EQ(out.find("HTTP/1.1", 1), std::string::npos) << out;
    json body = body_of(out);
    ASSERT_TRUE(body.is_object()) << out;
    EXPECT_EQ(body["status"], 1);
    EXPECT_NE(body["error_message"].get<std::string>().find("malformed HTTP request"), std::string::npos) << out;
  }
  EXPECT_TRUE(seen().empty()) << seen().front();
}

TEST_F(HttpSecurityTest, BadMethodsAndOversizedRequestsAreRefusedAsJson) {
  start("", 100);
  std::string out = exchange(server_->port(), "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(out), 501) << out;
  out = exchange(server_->port(), "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(out), 405) << out;
  out = exchange(server_->port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(3000, 'a') + "\r\n\r\n");
  EXPECT_EQ(status_of(out), 431) << out;
  EXPECT_NE(body_of(out)["error_message"].get<std::string>().find("--max-header-bytes 2048"), std::string::npos);
  // The body is refused from its declared length, before it is sent.
  out = exchange(server_->port(), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(status_of(out), 413) << out;
  EXPECT_NE(body_of(out)["error_message"].get<std::string>().find("--max-body-bytes 1000"), std::string::npos);
  EXPECT_TRUE(seen().empty());
}

TEST_F(HttpSecurityTest, ApiKeyIsCheckedBeforeTheBodyIsRead) {
  start("s3cret", 100);
  // A large body is announced but never sent: the 401 must come anyway.
  for (const std::string& auth : {std::string(""), std::string("Authorization: Bearer nope\r\n")}) {
    RawConnection c(server_->port());
    c.send("POST /embeddings HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 900\r\n\r\n");
    std::string out = c.read_until_close();
    EXPECT_EQ(status_of(out), 401) << out;
    EXPECT_NE(out.find("WWW-Authenticate: Bearer realm=\"eric\""), std::string::npos) << out;
    EXPECT_EQ(body_of(out)["status"], 1) << out;
  }
  std::string health = exchange(server_->port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(health), 200) << health;
  std::string ok = exchange(server_->port(),
                            "POST /embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                            "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  EXPECT_EQ(status_of(ok), 200) << ok;
  EXPECT_EQ(seen(), std::vector<std::string>({"/health", "/embeddings"}));
}

TEST_F(HttpSecurityTest, QueueBoundAnswers429WithRetryAfterAndRecovers) {
  start("", 2);
  RawConnection first(server_->port()), second(server_->port());
  first.send("POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  second.send("POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  for (int i = 0; i < 500 && held() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(held(), 2u);
  EXPECT_EQ(admission_->requests(), 2);

  std::string busy = exchange(server_->port(), "POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(busy), 429) << busy;
  EXPECT_NE(busy.find("Retry-After: 2\r\n"), std::string::npos) << busy;
  EXPECT_NE(body_of(busy)["error_message"].get<std::string>().find("--max-queued-requests 2"), std::string::npos);
  // Status reads still answer while the queue is full.
  std::string info = exchange(server_->port(), "GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(info), 200) << info;

  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : held_) r(HttpResponse{200, "text/plain", "done"});
    held_.clear();
  }
  EXPECT_EQ(admission_->requests(), 0);
  std::string later =
      exchange(server_->port(), "POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(later), 200) << later;
}

TEST_F(HttpSecurityTest, UploadsInProgressHoldTheirPlaceInTheQueue) {
  start("", 1);
  RawConnection upload(server_->port());
  upload.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhalf-");
  for (int i = 0; i < 200 && admission_->requests() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(admission_->requests(), 1);
  std::string busy = exchange(server_->port(), "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(busy), 429) << busy;
  upload.send("done!");
  EXPECT_EQ(status_of(upload.read_until_close()), 200);
  EXPECT_EQ(admission_->requests(), 0);
  // A client that goes away mid-upload gives its place back too.
  {
    RawConnection gone(server_->port());
    gone.send("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf-");
    for (int i = 0; i < 200 && admission_->requests() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(admission_->requests(), 1);
  }
  for (int i = 0; i < 200 && admission_->requests() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(admission_->requests(), 0);
  EXPECT_EQ(seen(), std::vector<std::string>({"/a"}));
}

TEST_F(HttpSecurityTest, ConnectionsPastTheBoundGet503AndClosing) {
  start("", 100, /*max_connections=*/2);
  RawConnection a(server_->port()), b(server_->port());  // idle: send nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string out = exchange(server_->port(), "GET /info HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(out), 503) << out;
  EXPECT_NE(body_of(out)["error_message"].get<std::string>().find("--max-connections 2"), std::string::npos) << out;
  // The idle connections still work, and once one closes there is room again.
  a.send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(a.read_until_close()), 200);
  std::string later;
  for (int i = 0; i < 100 && status_of(later) != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    later = exchange(server_->port(), "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  }
  EXPECT_EQ(status_of(later), 200) << later;
}

}  // namespace
}  // namespace eric::router
