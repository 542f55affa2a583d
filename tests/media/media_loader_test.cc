// MediaLoader: data: URIs, file:// inside the allow-list, and http through
// libcurl against a tiny HTTP server started on a loopback ephemeral port.
#include "media/media_loader.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
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
#include "media/address_policy.h"
#include "media/base64.h"

namespace eric::media {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 server: one thread accepts on 127.0.0.1:<ephemeral>,
// one thread per connection answers a single request with what the handler
// returns, then closes.
struct Reply {
  Reply(std::string d = "", int delay = 0) : data(std::move(d)), delay_ms(delay) {}  // NOLINT
  std::string data;       // status line, headers and body, verbatim
  int delay_ms = 0;       // wait this long before sending anything
  std::string chunk;      // if set: after `data`, send this chunk repeatedly...
  int chunk_repeats = 0;  // ...this many times
};

class TinyHttpServer {
 public:
  explicit TinyHttpServer(std::function<Reply(const std::string& path)> handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    accept_thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : connections_) t.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && !stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    const size_t sp1 = request.find(' '), sp2 = request.find(' ', sp1 + 1);
    const std::string path = sp1 == std::string::npos ? "/" : request.substr(sp1 + 1, sp2 - sp1 - 1);
    const Reply reply = handler_(path);
    for (int waited = 0; waited < reply.delay_ms && !stop_; waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    bool ok = send_all(fd, reply.data);
    for (int i = 0; ok && i < reply.chunk_repeats && !stop_; ++i) ok = send_all(fd, reply.chunk);
    ::close(fd);
  }

  static bool send_all(int fd, const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  std::function<Reply(const std::string&)> handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
};

std::string ok_response(const std::string& body, const std::string& type = "application/octet-stream") {
  return "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

std::string redirect_to(const std::string& location) {
  return "HTTP/1.1 302 Found\r\nLocation: " + location + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

const std::string kBody = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'x');

Reply route(const std::string& path) {
  if (path == "/image") return {ok_response(kBody, "image/png; charset=binary")};
  if (path.rfind("/redirect/", 0) == 0) {
    const int n = std::stoi(path.substr(10));
    return {redirect_to(n <= 1 ? "/image" : "/redirect/" + std::to_string(n - 1))};
  }
  if (path == "/to-file") return {redirect_to("file:///etc/passwd")};
  if (path == "/to-ftp") return {redirect_to("ftp://127.0.0.1/x")};
  // Non-public targets behind a redirect (port 9: nothing listens, so only
  // the address check can make the error PermissionDenied).
  if (path == "/to-loopback2") return {redirect_to("http://127.0.0.2:9/image")};
  if (path == "/to-private") return {redirect_to("http://10.255.255.1:9/image")};
  if (path == "/to-metadata") return {redirect_to("http://169.254.169.254:9/latest/meta-data")};
  if (path == "/to-localhost") return {redirect_to("http://localhost:9/image")};
  if (path == "/big-declared") return {ok_response(std::string(5000, 'b'))};
  if (path == "/big-chunked") {
    Reply r;
    r.data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    r.chunk = "400\r\n" + std::string(1024, 'c') + "\r\n";
    r.chunk_repeats = 64;
    return r;
  }
  if (path == "/slow") return {ok_response(kBody), 5000};
  return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
}

MediaLoaderOptions loopback_options() {
  MediaLoaderOptions o;
  o.allow_private_network = true;
  o.total_timeout_ms = 5000;
  return o;
}

// --------------------------------------------------------------- http(s)
TEST(MediaLoaderHttp, RefusesLoopbackByDefault) {
  TinyHttpServer server(route);
  MediaLoader loader{MediaLoaderOptions{}};
  for (const std::string& url : {server.url("/image"), "http://localhost:" + std::to_string(server.port()) + "/image",
                                 "http://[::1]:" + std::to_string(server.port()) + "/image",
                                 "http://[::ffff:127.0.0.1]:" + std::to_string(server.port()) + "/image"}) {
    auto r = loader.load(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied) << url << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find("non-public address"), std::string::npos) << r.status().message();
  }
}

TEST(MediaLoaderHttp, FetchesFromLoopbackWhenPrivateNetworkAllowed) {
  TinyHttpServer server(route);
  MediaLoader loader(loopback_options());
  auto r = loader.load(server.url("/image"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->bytes, kBody);
  EXPECT_EQ(r->mime_type, "image/png");
}

TEST(MediaLoaderHttp, FollowsRedirectsUpToTheLimit) {
  TinyHttpServer server(route);
  MediaLoaderOptions o = loopback_options();
  o.max_redirects = 3;
  MediaLoader loader(o);
  auto within = loader.load(server.url("/redirect/3"));
  ASSERT_TRUE(within.ok()) << within.status().to_string();
  EXPECT_EQ(within->bytes, kBody);
  auto beyond = loader.load(server.url("/redirect/4"));
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), ErrorCode::kInvalidArgument) << beyond.status().to_string();
  EXPECT_NE(beyond.status().message().find("more than 3 redirects"), std::string::npos);
}

TEST(MediaLoaderHttp, RefusesRedirectsToOtherProtocols) {
  TinyHttpServer server(route);
  MediaLoader loader(loopback_options());
  for (const char* path : {"/to-file", "/to-ftp"}) {
    auto r = loader.load(server.url(path));
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied) << path << ": " << r.status().to_string();
  }
}

TEST(MediaLoaderHttp, EnforcesTheBodySizeLimit) {
  TinyHttpServer server(route);
  MediaLoaderOptions o = loopback_options();
  o.max_bytes = 1000;
  MediaLoader loader(o);
  for (const char* path : {"/big-declared", "/big-chunked"}) {
    auto r = loader.load(server.url(path));
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << path << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find("limit of 1000 bytes"), std::string::npos) << r.status().message();
  }
  EXPECT_TRUE(loader.load(server.url("/image")).ok());  // 108 bytes fit
}

TEST(MediaLoaderHttp, TimesOut) {
  TinyHttpServer server(route);
  MediaLoaderOptions o = loopback_options();
  o.total_timeout_ms = 300;
  MediaLoader loader(o);
  const auto start = std::chrono::steady_clock::now();
  auto r = loader.load(server.url("/slow"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kDeadlineExceeded) << r.status().to_string();
  EXPECT_LT(seconds, 3.0);
}

// A listener that never accepts, with its one-slot queue already taken:
// Linux drops further SYNs, so a connect hangs until the connect timeout.
TEST(MediaLoaderHttp, ConnectTimesOut) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {  // fill the accept queue; later connects stay pending
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  MediaLoaderOptions o = loopback_options();
  o.connect_timeout_ms = 300;
  o.total_timeout_ms = 5000;
  const auto start = std::chrono::steady_clock::now();
  auto r = MediaLoader(o).load("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/image");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int fd : fillers) ::close(fd);
  ::close(listener);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kDeadlineExceeded) << r.status().to_string();
  EXPECT_LT(seconds, 3.0);
}

TEST(MediaLoaderHttp, ReportsHttpErrors) {
  TinyHttpServer server(route);
  MediaLoader loader(loopback_options());
  auto r = loader.load(server.url("/missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.status().message().find("404"), std::string::npos);
}

TEST(MediaLoaderHttp, ConnectionRefusedIsAnError) {
  int port = 0;
  {
    TinyHttpServer server(route);
    port = server.port();
  }  // closed: nothing listens there now
  MediaLoader loader(loopback_options());
  auto r = loader.load("http://127.0.0.1:" + std::to_string(port) + "/image");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status().to_string();
}

TEST(AddressPolicy, BlocksNonPublicAddresses) {
  auto blocked = [](const char* text) {
    sockaddr_storage s{};
    if (std::string(text).find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&s);
      a->sin6_family = AF_INET6;
      EXPECT_EQ(inet_pton(AF_INET6, text, &a->sin6_addr), 1) << text;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&s);
      a->sin_family = AF_INET;
      EXPECT_EQ(inet_pton(AF_INET, text, &a->sin_addr), 1) << text;
    }
    return is_blocked_address(reinterpret_cast<sockaddr*>(&s));
  };
  for (const char* a : {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                        "169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0", "224.0.0.1", "239.1.1.1",
                        "255.255.255.255", "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
                        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
                        "64:ff9b::a00:1"}) {
    EXPECT_TRUE(blocked(a)) << a;
  }
  for (const char* a : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1", "203.0.113.7",
                        "2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_FALSE(blocked(a)) << a;
  }
}

// The first hop is allowed (its network is opened on purpose); every
// redirect target and every name's DNS answer is checked again.
TEST(MediaLoaderHttp, RedirectsToPrivateAddressesAreRefused) {
  TinyHttpServer server(route);
  MediaLoaderOptions o;
  o.allowed_networks = {"127.0.0.1/32"};
  o.total_timeout_ms = 5000;
  MediaLoader loader(o);
  auto direct = loader.load(server.url("/redirect/1"));  // 127.0.0.1 -> 127.0.0.1: allowed
  ASSERT_TRUE(direct.ok()) << direct.status().to_string();
  EXPECT_EQ(direct->bytes, kBody);
  for (auto [path, address] : {std::pair<std::string, std::string>{"/to-loopback2", "127.0.0.2"},
                               {"/to-private", "10.255.255.1"},
                               {"/to-metadata", "169.254.169.254"},
                               {"/to-localhost", "127.0.0."}}) {
    auto r = loader.load(server.url(path));
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied) << path << ": " << r.status().to_string();
    if (path != "/to-localhost") {  // localhost may resolve to ::1 first
      EXPECT_NE(r.status().message().find(address), std::string::npos) << r.status().message();
    }
  }
}

TEST(AddressPolicy, ParsesAndMatchesNetworks) {
  auto v4 = [](const char* text) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, text, &a.sin_addr), 1) << text;
    return a;
  };
  auto ranges = std::vector<NetworkRange>{*parse_network("10.1.0.0/16"), *parse_network("192.168.7.7"),
                                          *parse_network("fd00::/8")};
  auto in = [&](const char* text) {
    if (std::string(text).find(':') == std::string::npos) {
      sockaddr_in a = v4(text);
      return in_networks(reinterpret_cast<sockaddr*>(&a), ranges);
    }
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    EXPECT_EQ(inet_pton(AF_INET6, text, &a.sin6_addr), 1) << text;
    return in_networks(reinterpret_cast<sockaddr*>(&a), ranges);
  };
  for (const char* a : {"10.1.0.1", "10.1.255.255", "192.168.7.7", "fd12::1", "::ffff:10.1.2.3"}) EXPECT_TRUE(in(a)) << a;
  for (const char* a : {"10.2.0.1", "192.168.7.8", "fe80::1", "127.0.0.1"}) EXPECT_FALSE(in(a)) << a;
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "fd00::/129", "example.com/8", "10.0.0/8"}) {
    EXPECT_FALSE(parse_network(bad).ok()) << bad;
  }
  EXPECT_EQ(parse_network("0.0.0.0/0")->prefix, 0);
}

// --------------------------------------------------------------- schemes
TEST(MediaLoader, RejectsUnsupportedSchemesByName) {
  MediaLoader loader{MediaLoaderOptions{}};
  for (auto [url, scheme] : std::vector<std::pair<std::string, std::string>>{
           {"ftp://example.com/a.png", "ftp"}, {"gopher://x/", "gopher"}, {"javascript:alert(1)", "javascript"},
           {"S3://bucket/key", "s3"}}) {
    auto r = loader.load(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("'" + scheme + "'"), std::string::npos) << r.status().message();
  }
  for (const char* url : {"", "/etc/passwd", "relative/path.png", "://x"}) {
    auto r = loader.load(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_NE(r.status().message().find("no scheme"), std::string::npos) << r.status().message();
  }
}

// --------------------------------------------------------------- data:
TEST(MediaLoaderData, DecodesBase64Payloads) {
  MediaLoader loader{MediaLoaderOptions{}};
  auto r = loader.load("data:image/PNG;base64," + base64_encode(kBody));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->bytes, kBody);
  EXPECT_EQ(r->mime_type, "image/png");
  auto with_params = loader.load("data:image/jpeg;name=a.jpg;base64,Zm9v");
  ASSERT_TRUE(with_params.ok());
  EXPECT_EQ(with_params->bytes, "foo");
  EXPECT_EQ(with_params->mime_type, "image/jpeg");
  auto no_type = loader.load("data:;base64,Zm9v");
  ASSERT_TRUE(no_type.ok());
  EXPECT_EQ(no_type->mime_type, "");
}

TEST(MediaLoaderData, RejectsBadDataUris) {
  MediaLoader loader{MediaLoaderOptions{}};
  struct Case {
    std::string url;
    ErrorCode code;
  };
  for (const Case& c : std::vector<Case>{
           {"data:image/png;base64,Zm9v!", ErrorCode::kDataLoss},
           {"data:image/png;base64,Zm9 v", ErrorCode::kDataLoss},
           {"data:image/png;base64,Zm9v\n", ErrorCode::kDataLoss},
           {"data:image/png;base64,Zg=", ErrorCode::kDataLoss},
           {"data:image/png;base64,", ErrorCode::kDataLoss},
           {"data:image/png;base64", ErrorCode::kInvalidArgument},
           {"data:image/png,rawtext", ErrorCode::kUnimplemented},
       }) {
    auto r = loader.load(c.url);
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_EQ(r.status().code(), c.code) << c.url << ": " << r.status().to_string();
  }
}

TEST(MediaLoaderData, ChecksTheSizeCapBeforeDecoding) {
  MediaLoaderOptions o;
  o.max_data_uri_bytes = 6;
  MediaLoader loader(o);
  EXPECT_TRUE(loader.load("data:x/y;base64,Zm9vYmFy").ok());  // exactly 6 bytes
  // 9 bytes announced; the payload is not even valid base64, so a
  // ResourceExhausted proves the cap came first.
  auto r = loader.load("data:x/y;base64,Zm9vYmFy!!!!");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << r.status().to_string();
}

TEST(MediaLoaderData, SplitsCornserveJpegFrameLists) {
  const std::string f1 = "\xFF\xD8\xFF frame one", f2 = "\xFF\xD8\xFF frame two!";
  auto frames =
      MediaLoader::split_jpeg_frame_list("data:video/jpeg;base64," + base64_encode(f1) + "," + base64_encode(f2), 1000);
  ASSERT_TRUE(frames.ok()) << frames.status().to_string();
  ASSERT_EQ(frames->size(), 2u);
  EXPECT_EQ((*frames)[0], f1);
  EXPECT_EQ((*frames)[1], f2);

  auto single = MediaLoader::split_jpeg_frame_list("data:video/jpeg;base64," + base64_encode(f1), 1000);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->size(), 1u);

  EXPECT_EQ(MediaLoader::split_jpeg_frame_list("data:image/png;base64,Zm9v", 1000).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(MediaLoader::split_jpeg_frame_list("data:video/jpeg;base64,Zm9v,,Zm9v", 1000).status().code(),
            ErrorCode::kDataLoss);
  auto bad = MediaLoader::split_jpeg_frame_list("data:video/jpeg;base64,Zm9v,Zm9v!", 1000);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("frame 1"), std::string::npos) << bad.status().message();
  EXPECT_EQ(MediaLoader::split_jpeg_frame_list("data:video/jpeg;base64,Zm9vYmFy,Zm9vYmFy", 11).status().code(),
            ErrorCode::kResourceExhausted);
}

// --------------------------------------------------------------- file://
class MediaLoaderFile : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root_ / "allowed" / "sub");
    fs::create_directories(root_ / "allowed2");
    fs::create_directories(root_ / "outside");
    write(root_ / "allowed" / "sub" / "a.png", "inside");
    write(root_ / "allowed" / "with space.png", "spaced");
    write(root_ / "allowed2" / "b.png", "sibling");
    write(root_ / "outside" / "secret.png", "secret");
    fs::create_symlink(root_ / "outside" / "secret.png", root_ / "allowed" / "link_out.png");
    fs::create_symlink(root_ / "outside", root_ / "allowed" / "dir_out");
    fs::create_symlink(root_ / "allowed" / "sub" / "a.png", root_ / "allowed" / "link_in.png");
    fs::create_symlink(root_ / "allowed", root_ / "allowed_via_link");
  }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
  std::string url(const std::string& rel) const { return "file://" + (root_ / rel).string(); }
  MediaLoader loader(const std::string& allowed = "allowed") const {
    MediaLoaderOptions o;
    o.allowed_local_media_paths = {(root_ / allowed).string()};
    return MediaLoader(o);
  }

  testing::TempDir dir_{"eric_media_loader_test"};
  const fs::path root_ = dir_.path();
};

TEST_F(MediaLoaderFile, RefusedWithoutAnAllowList) {
  MediaLoader l{MediaLoaderOptions{}};
  auto r = l.load(url("allowed/sub/a.png"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("--allowed-local-media-path"), std::string::npos) << r.status().message();
}

TEST_F(MediaLoaderFile, ReadsFilesInsideTheAllowedFolder) {
  auto l = loader();
  auto r = l.load(url("allowed/sub/a.png"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->bytes, "inside");
  auto link = l.load(url("allowed/link_in.png"));
  ASSERT_TRUE(link.ok()) << link.status().to_string();
  EXPECT_EQ(link->bytes, "inside");
  auto spaced = l.load("file://" + (root_ / "allowed").string() + "/with%20space.png");
  ASSERT_TRUE(spaced.ok()) << spaced.status().to_string();
  EXPECT_EQ(spaced->bytes, "spaced");
  auto dotted = l.load(url("allowed/sub/../sub/./a.png"));
  ASSERT_TRUE(dotted.ok()) << dotted.status().to_string();
  // The allowed folder itself named through a symlink is canonicalised too.
  auto via_link = loader("allowed_via_link").load(url("allowed/sub/a.png"));
  ASSERT_TRUE(via_link.ok()) << via_link.status().to_string();
}

TEST_F(MediaLoaderFile, RefusesEveryWayOut) {
  auto l = loader();
  for (const std::string& u :
       {url("outside/secret.png"), url("allowed/../outside/secret.png"), url("allowed/sub/../../outside/secret.png"),
        "file://" + (root_ / "allowed").string() + "/%2e%2e/outside/secret.png", url("allowed/link_out.png"),
        url("allowed/dir_out/secret.png"), url("allowed2/b.png"), std::string("file:///etc/passwd")}) {
    auto r = l.load(u);
    ASSERT_FALSE(r.ok()) << u;
    EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied) << u << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find("outside"), std::string::npos) << r.status().message();
  }
}

TEST_F(MediaLoaderFile, ReportsMissingAndMalformedPaths) {
  auto l = loader();
  EXPECT_EQ(l.load(url("allowed/missing.png")).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(l.load("file://relative/a.png").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(l.load("file:" + (root_ / "allowed/sub/a.png").string()).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(l.load(url("allowed/bad%zzescape")).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(l.load(url("allowed/sub")).status().code(), ErrorCode::kInvalidArgument);  // a folder
}

TEST_F(MediaLoaderFile, EnforcesTheSizeLimit) {
  MediaLoaderOptions o;
  o.allowed_local_media_paths = {(root_ / "allowed").string()};
  o.max_bytes = 3;
  auto r = MediaLoader(o).load(url("allowed/sub/a.png"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace eric::media
