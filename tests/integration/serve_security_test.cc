// Security and limits of the real `eric serve` over loopback: missing or
// wrong API key, oversized body and head, a smuggling attempt, a media URL
// redirected to a private address, file:// escapes, per-item and queue
// limits, a stalled download. Each is refused with the right status and a
// JSON body naming the reason, and the server keeps serving.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "../common/temp_dir.h"
#include "serve_process.h"
#include "test_model_fixture.h"

namespace eric::integration {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const char* kKey = "test-key-0123456789";

// ---------------------------------------------------------------- raw HTTP
struct RawResponse {
  int status = 0;
  std::string head;  // status line and fields
  std::string body;
  json body_json() const { return json::parse(body, nullptr, false); }
  bool has_header(const std::string& line) const { return head.find("\r\n" + line + "\r\n") != std::string::npos; }
};

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `bytes` on a fresh connection and reads until the server closes or
// `timeout` passes. Requests send "Connection: close" (or are refused, which
// closes), so the answer ends with the connection.
RawResponse exchange(uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout = 20s) {
  RawResponse r;
  int fd = connect_loopback(port);
  if (fd < 0) return r;
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // refused early: the answer is still there to read
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[8192];
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto end = out.find("\r\n\r\n");
  if (out.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
  r.status = std::stoi(out.substr(9, 3));
  r.head = out.substr(0, end + 2);
  r.body = out.substr(end + 4);
  return r;
}

std::string request(const std::string& method, const std::string& target, const std::string& body,
                    const std::string& extra_headers = std::string("Authorization: Bearer ") + kKey + "\r\n") {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
         (body.empty() && method == "GET" ? "" : "Content-Type: application/json\r\nContent-Length: " +
                                                     std::to_string(body.size()) + "\r\n") +
         "\r\n" + body;
}

std::string embeddings_body(const std::vector<std::pair<std::string, std::string>>& items) {
  json data = json::array();
  for (const auto& [id, url] : items) data.push_back({{"id", id}, {"modality", "image"}, {"model_id", "m"}, {"url", url}});
  return json{{"data", data}}.dump();
}

// A JSON error answer with `status` whose message contains every needle.
void expect_json_error(const RawResponse& r, int status, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.status, status) << r.head << r.body;
  EXPECT_NE(r.head.find("Content-Type: application/json"), std::string::npos) << r.head;
  json body = r.body_json();
  ASSERT_TRUE(body.is_object()) << r.body;
  EXPECT_EQ(body["status"], 1) << r.body;
  ASSERT_TRUE(body["error_message"].is_string()) << r.body;
  const std::string message = body["error_message"];
  for (const auto& needle : needles) EXPECT_NE(message.find(needle), std::string::npos) << message << "\n  lacks: " << needle;
}

// ------------------------------------------------------- media test server
// Serves media URLs for the server under test on 127.0.0.1:<ephemeral>:
// /to-private redirects to a private address, /stall never answers.
class MediaServer {
 public:
  MediaServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~MediaServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : connections_) t.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int stalled() const { return stalled_.load(); }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) connections_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string req;
    char buf[2048];
    while (req.find("\r\n\r\n") == std::string::npos && !stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    if (req.find("GET /to-private ") == 0) {
      std::string r = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:9/secret\r\nContent-Length: 0\r\n\r\n";
      ::send(c, r.data(), r.size(), MSG_NOSIGNAL);
    } else if (req.rfind("GET /stall", 0) == 0) {
      stalled_++;
      while (!stop_) std::this_thread::sleep_for(10ms);  // the client's deadline must end it
    }
    ::close(c);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> stalled_{0};
  std::thread thread_;
  std::vector<std::thread> connections_;  // only touched by the accept thread until joined
};

// ------------------------------------------------------------------ fixture
struct Paths {
  std::string root, model, allowed, outside;
  std::string error;
};

// The tiny model, built once per build tree (FixtureDir).
Paths& paths() {
  static Paths p = [] {
    Paths p;
    FixtureDir dir("security-fixture");
    p.root = dir.root();
    p.model = dir.model();
    p.error = dir.ensure_model();
    return p;
  }();
  return p;
}

class ServeSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(paths().error.empty()) << paths().error;
    scratch_dir_ = std::make_unique<testing::TempDir>("eric_sec");
    scratch_ = scratch_dir_->str();
    allowed_ = scratch_ + "/allowed";
    outside_ = scratch_ + "/outside";
    fs::create_directories(allowed_);
    fs::create_directories(outside_);
    fs::create_directories(scratch_ + "/run");
    write_test_bmp(allowed_ + "/small.bmp", 28, 28, 1);
    write_test_bmp(allowed_ + "/large.bmp", 120, 100, 2);  // 12000 pixels > --max-image-pixels
    write_test_bmp(outside_ + "/secret.bmp", 28, 28, 3);
    fs::create_symlink(outside_ + "/secret.bmp", allowed_ + "/link.bmp");
    fs::create_directory_symlink(outside_, allowed_ + "/dirlink");
    media_ = new MediaServer();
    // The key comes from the environment, as operators would pass it.
    ::setenv("ERIC_API_KEY", kKey, 1);
    server_ = new ServeProcess(
        {"--model", paths().model, "--served-model-name", "m", "--preprocess-workers", "2",
         "--allowed-local-media-path", allowed_, "--allow-media-network", "127.0.0.1/32", "--max-body-bytes", "100000",
         "--max-header-bytes", "4096", "--max-items-per-request", "4", "--max-queued-items", "6",
         "--max-image-pixels", "10000", "--download-timeout-ms", "1000", "--max-queued-requests", "2",
         "--retry-after-seconds", "3"},
        scratch_ + "/serve.log", scratch_ + "/run");
    ::unsetenv("ERIC_API_KEY");
    ASSERT_TRUE(server_->wait_healthy(90s)) << server_->log();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      auto code = server_->stop(SIGTERM, 30s);
      EXPECT_EQ(code, std::optional<int>(0)) << server_->log();
    }
    delete server_;
    delete media_;
    scratch_dir_.reset();
  }
  void TearDown() override {
    // Whatever a test did, the server still serves a good request.
    auto r = exchange(port(), request("POST", "/embeddings", embeddings_body({{"ok", "file://" + allowed_ + "/small.bmp"}})));
    EXPECT_EQ(r.status, 200) << r.body << "\n" << server_->log();
  }
  static uint16_t port() { return server_->port(); }

  static inline std::unique_ptr<testing::TempDir> scratch_dir_;
  static inline std::string scratch_, allowed_, outside_;
  static inline MediaServer* media_ = nullptr;
  static inline ServeProcess* server_ = nullptr;
};

TEST_F(ServeSecurityTest, ApiKeyIsRequiredEverywhereButHealth) {
  const std::string body = embeddings_body({{"a", "file://" + allowed_ + "/small.bmp"}});
  auto missing = exchange(port(), request("POST", "/embeddings", body, ""));
  expect_json_error(missing, 401, {"missing API key"});
  EXPECT_NE(missing.head.find("WWW-Authenticate: Bearer realm=\"eric\""), std::string::npos) << missing.head;
  auto wrong = exchange(port(), request("POST", "/embeddings", body, "Authorization: Bearer test-key-0123456788\r\n"));
  expect_json_error(wrong, 401, {"invalid API key"});
  EXPECT_NE(wrong.head.find("error=\"invalid_token\""), std::string::npos) << wrong.head;
  expect_json_error(exchange(port(), request("GET", "/info", "", "Authorization: Basic dGVzdA==\r\n")), 401,
                    {"Bearer"});
  expect_json_error(exchange(port(), request("GET", "/metrics", "", "")), 401, {"missing API key"});

  EXPECT_EQ(exchange(port(), request("GET", "/health", "", "")).status, 200);
  auto info = exchange(port(), request("GET", "/info", ""));
  ASSERT_EQ(info.status, 200) << info.body;
  json limits = info.body_json()["limits"];
  EXPECT_EQ(limits["max_body_bytes"], 100000);
  EXPECT_EQ(limits["max_image_pixels"], 10000);
  EXPECT_EQ(limits["max_queued_requests"], 2);
  EXPECT_EQ(exchange(port(), request("POST", "/embeddings", body)).status, 200);
}

TEST_F(ServeSecurityTest, OversizedBodyAndHeadAreRefused) {
  // Refused from the declared length: the body is never sent.
  auto big = exchange(port(), "POST /embeddings HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + std::string(kKey) +
                                  "\r\nContent-Length: 100001\r\n\r\n");
  expect_json_error(big, 413, {"--max-body-bytes 100000"});
  // ... and when it is sent (chunked, no length announced).
  std::string chunked = "POST /embeddings HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + std::string(kKey) +
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 30; ++i) chunked += "1000\r\n" + std::string(4096, ' ') + "\r\n";
  expect_json_error(exchange(port(), chunked + "0\r\n\r\n"), 413, {"--max-body-bytes"});
  auto head = exchange(port(), request("GET", "/info", "", "X-Padding: " + std::string(5000, 'p') + "\r\n"));
  expect_json_error(head, 431, {"--max-header-bytes 4096"});
}

TEST_F(ServeSecurityTest, SmugglingAttemptsAreRefused) {
  const std::string auth = std::string("Authorization: Bearer ") + kKey + "\r\n";
  auto cl_te = exchange(port(), "POST /embeddings HTTP/1.1\r\nHost: h\r\n" + auth +
                                    "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                                    "GET /metrics HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n");
  expect_json_error(cl_te, 400, {"malformed HTTP request"});
  EXPECT_EQ(cl_te.body.find("HTTP/1.1"), std::string::npos) << "a second answer followed: " << cl_te.body;
  expect_json_error(exchange(port(), "POST /embeddings HTTP/1.1\r\nHost: h\r\n" + auth +
                                         "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
                    400, {"Transfer-Encoding"});
  expect_json_error(exchange(port(), "GET /info HTTP/1.1\r\nHost: h\r\n" + auth + "X-A: 1\r\n Transfer-Encoding: x\r\n\r\n"),
                    400, {"obsolete line folding"});
  expect_json_error(exchange(port(), "DELETEALL /embeddings HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n"), 501,
                    {"not implemented"});
}

TEST_F(ServeSecurityTest, RedirectToAPrivateAddressIsRefused) {
  // 127.0.0.1 is opened with --allow-media-network; its redirect to 127.0.0.2 is not.
  auto r = exchange(port(), request("POST", "/embeddings", embeddings_body({{"hop", media_->url("/to-private")}})));
  expect_json_error(r, 400, {"item 'hop'", "non-public address 127.0.0.2"});
  auto direct = exchange(port(), request("POST", "/embeddings", embeddings_body({{"meta", "http://169.254.169.254/x"}})));
  expect_json_error(direct, 400, {"item 'meta'", "169.254.169.254"});
}

TEST_F(ServeSecurityTest, FileUrlEscapesAreRefused) {
  for (const auto& [id, url] : std::vector<std::pair<std::string, std::string>>{
           {"dotdot", "file://" + allowed_ + "/../outside/secret.bmp"},
           {"encoded", "file://" + allowed_ + "/%2e%2e/outside/secret.bmp"},
           {"symlink", "file://" + allowed_ + "/link.bmp"},
           {"dirlink", "file://" + allowed_ + "/dirlink/secret.bmp"},
           {"absolute", "file://" + outside_ + "/secret.bmp"}}) {
    auto r = exchange(port(), request("POST", "/embeddings", embeddings_body({{id, url}})));
    expect_json_error(r, 400, {"item '" + id + "'", "outside every --allowed-local-media-path"});
  }
}

TEST_F(ServeSecurityTest, PerRequestAndPerItemLimits) {
  std::vector<std::pair<std::string, std::string>> five;
  for (int i = 0; i < 5; ++i) five.emplace_back("i" + std::to_string(i), "file://" + allowed_ + "/small.bmp");
  expect_json_error(exchange(port(), request("POST", "/embeddings", embeddings_body(five))), 400, {"at most 4"});
  auto large = exchange(port(), request("POST", "/embeddings", embeddings_body({{"large", "file://" + allowed_ + "/large.bmp"}})));
  expect_json_error(large, 413, {"item 'large'", "--max-image-pixels 10000"});
}

TEST_F(ServeSecurityTest, StalledDownloadsEndWith504AndFullQueuesWith429) {
  // Request A: 4 items stalling on their downloads (2 at a time: 2
  // preprocessing workers) holds 4 of --max-queued-items 6.
  std::vector<std::pair<std::string, std::string>> slow;
  for (int i = 0; i < 4; ++i) slow.emplace_back("slow" + std::to_string(i), media_->url("/stall?" + std::to_string(i)));
  RawResponse a, c;
  std::thread ta([&] { a = exchange(port(), request("POST", "/embeddings", embeddings_body(slow))); });
  for (int i = 0; i < 300 && media_->stalled() < 2; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GE(media_->stalled(), 2);
  const std::string small = "file://" + allowed_ + "/small.bmp";

  // 3 more items would pass the item bound: refused at once, with Retry-After.
  auto started = std::chrono::steady_clock::now();
  auto items_busy = exchange(port(), request("POST", "/embeddings", embeddings_body({{"x", small}, {"y", small}, {"z", small}})));
  expect_json_error(items_busy, 429, {"--max-queued-items 6"});
  EXPECT_TRUE(items_busy.has_header("Retry-After: 3")) << items_busy.head;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);  // refused, not queued

  // Request C (1 item, queued behind A's) fills --max-queued-requests 2.
  std::thread tc([&] { c = exchange(port(), request("POST", "/embeddings", embeddings_body({{"late", media_->url("/stall")}}))); });
  for (int i = 0; i < 300 && exchange(port(), request("GET", "/queue_length", "")).body != "2"; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto busy = exchange(port(), request("POST", "/embeddings", embeddings_body({{"x", small}})));
  expect_json_error(busy, 429, {"--max-queued-requests 2"});
  EXPECT_TRUE(busy.has_header("Retry-After: 3")) << busy.head;
  EXPECT_EQ(exchange(port(), request("GET", "/health", "", "")).status, 200);  // status reads still answer

  // Every stalled download ends at its deadline: 504 naming the item and the limit.
  ta.join();
  tc.join();
  expect_json_error(a, 504, {"item 'slow0'", "--download-timeout-ms 1000"});
  expect_json_error(c, 504, {"item 'late'", "--download-timeout-ms 1000"});
}

}  // namespace
}  // namespace eric::integration
