// Faults under the real server (`eric serve`, tiny random checkpoint): a
// killed worker and then a killed engine in the middle of a load, a forward
// pass that throws (test-only fault injection), a download stalled past the
// request deadline, and a burst after which file descriptors, shared memory
// and RSS return to their baseline. Each fault must end with the right JSON
// error, nothing may hang, and the server must serve again afterwards.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "router/http_client.h"
#include "../common/temp_dir.h"
#include "serve_process.h"
#include "test_model_fixture.h"

namespace eric::integration {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using router::HttpClient;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Fixture {
  std::string model, image, error;
};

// The model and one small image, made once per build tree (FixtureDir).
const Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    FixtureDir dir("integration-faults-fixture");
    f.model = dir.model();
    f.image = dir.root() + "/img.bmp";
    f.error = dir.ensure_model();
    if (!fs::exists(f.image)) write_test_bmp(f.image, 56, 56, 3);
    return f;
  }();
  return f;
}

std::string body_for(const std::string& id, const std::string& url) {
  return json({{"data", json::array({{{"id", id}, {"modality", "image"}, {"model_id", fixture().model}, {"url", url}}})}})
      .dump();
}

bool is_json_error(const router::ClientResponse& r) {
  json body = json::parse(r.body, nullptr, false);
  return !body.is_discarded() && body.value("status", 0) == 1 && body["error_message"].is_string();
}

// Clients posting one image each in a loop until stopped; every answer is
// classified. "bad" is anything but 200 or a JSON error with a 5xx code.
class Load {
 public:
  Load(uint16_t port, int clients) {
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, port, c] {
        auto client = HttpClient::connect("127.0.0.1", port, 30s);
        if (!client.ok()) return void(bad++);
        for (int k = 0; !stop_; ++k) {
          const auto t0 = Clock::now();
          auto r = (*client)->post("/embeddings", body_for(fmt::format("c{}-{}", c, k), "file://" + fixture().image));
          const double s = std::chrono::duration<double>(Clock::now() - t0).count();
          {
            std::lock_guard<std::mutex> lock(mu_);
            slowest = std::max(slowest, s);
            if (!r.ok()) {
              bad++;
              first_bad = r.status().to_string();
            } else if (r->status == 200) {
              ok++;
            } else if (r->status >= 500 && is_json_error(*r)) {
              errors_5xx++;
            } else {
              bad++;
              first_bad = fmt::format("{} {}", r->status, r->body);
            }
          }
          // A client backing off after an error, not a busy loop on 2 cores.
          if (!r.ok() || r->status != 200) std::this_thread::sleep_for(10ms);
        }
      });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  std::atomic<int> ok{0}, errors_5xx{0}, bad{0};
  double slowest = 0;
  std::string first_bad;

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

int health(uint16_t port) {
  auto client = HttpClient::connect("127.0.0.1", port, 5s);
  if (!client.ok()) return 0;
  auto r = (*client)->get("/health");
  return r.ok() ? r->status : 0;
}

// Waits until /health answers `status`; returns how long it took (or nullopt).
std::optional<double> wait_health(uint16_t port, int status, std::chrono::seconds timeout) {
  const auto start = Clock::now();
  while (Clock::now() - start < timeout) {
    if (health(port) == status) return std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

class ServeFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fixture().error.empty()) << fixture().error;
  }
  void TearDown() override {
    server_.reset();
    if (HasFailure()) scratch_dir_.keep();  // for its server log
  }

  ServeProcess& start(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--model", fixture().model, "--tp", "1", "--preprocess-workers", "2",
                                     "--allowed-local-media-path", fs::path(fixture().image).parent_path().string(),
                                     "--max-batch-size", "8"};
    args.insert(args.end(), extra.begin(), extra.end());
    fs::create_directories(scratch_ + "/run");
    server_ = std::make_unique<ServeProcess>(args, scratch_ + "/serve.log", scratch_ + "/run");
    EXPECT_TRUE(server_->wait_healthy(90s)) << server_->log();
    return *server_;
  }

  // One request that must succeed.
  void expect_serving(uint16_t port, const std::string& id) {
    auto client = HttpClient::connect("127.0.0.1", port, 30s);
    ASSERT_TRUE(client.ok());
    auto r = (*client)->post("/embeddings", body_for(id, "file://" + fixture().image));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200) << r->body << "\n" << server_->log();
  }

  testing::TempDir scratch_dir_{"eric_faults"};
  const std::string scratch_ = scratch_dir_.str();
  std::unique_ptr<ServeProcess> server_;
};

// kill -9 one process under 4 concurrent clients: the requests it held end
// with JSON 5xx, /health turns 503, the process is replaced, /health returns
// to 200 and requests succeed again.
void kill_and_recover(ServeProcess& server, pid_t victim, const char* what) {
  Load load(server.port(), 4);
  std::this_thread::sleep_for(700ms);
  ASSERT_GT(load.ok.load(), 0) << "the load never succeeded before the kill\n" << server.log();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  auto unhealthy = wait_health(server.port(), 503, 10s);
  auto healthy = wait_health(server.port(), 200, 30s);
  std::this_thread::sleep_for(500ms);  // the load runs on the new process
  const int ok_before_stop = load.ok;
  load.stop();
  EXPECT_TRUE(unhealthy.has_value()) << what << ": /health never answered 503\n" << server.log();
  ASSERT_TRUE(healthy.has_value()) << what << ": /health did not return to 200\n" << server.log();
  EXPECT_GT(load.errors_5xx.load(), 0) << what << ": no request failed with a JSON 5xx";
  EXPECT_EQ(load.bad.load(), 0) << what << ": first bad answer: " << load.first_bad;
  EXPECT_LT(load.slowest, 10.0) << what << ": a request waited too long";
  EXPECT_GT(ok_before_stop, 0);
  std::printf("%s: 503 after %.2f s, healthy again %.2f s later; %d ok, %d JSON 5xx, slowest %.2f s\n", what,
              *unhealthy, *healthy, load.ok.load(), load.errors_5xx.load(), load.slowest);
}

TEST_F(ServeFaultsTest, KilledWorkerThenKilledEngineUnderLoadRecover) {
  ServeProcess& server = start({"--request-timeout", "10000"});
  ASSERT_FALSE(HasFailure());
  auto engines = children(server.pid());
  ASSERT_EQ(engines.size(), 1u);
  auto workers = children(engines[0]);
  ASSERT_EQ(workers.size(), 1u);
  kill_and_recover(server, workers[0], "worker");
  ASSERT_FALSE(HasFailure());
  auto new_workers = children(engines[0]);
  ASSERT_EQ(new_workers.size(), 1u);
  EXPECT_NE(new_workers[0], workers[0]) << "the worker set was not restarted";

  kill_and_recover(server, engines[0], "engine");
  ASSERT_FALSE(HasFailure());
  auto new_engines = children(server.pid());
  ASSERT_EQ(new_engines.size(), 1u);
  EXPECT_NE(new_engines[0], engines[0]);
  expect_serving(server.port(), "after-both");
  const std::string log = server.log();
  EXPECT_NE(log.find("killed by signal 9"), std::string::npos) << log;
  EXPECT_NE(log.find("engine ready again after restart 1"), std::string::npos) << log;
  auto code = server.stop(SIGTERM, 30s);
  ASSERT_TRUE(code.has_value()) << "no clean exit after the restarts\n" << server.log();
  EXPECT_EQ(*code, 0);
}

// A loopback HTTP server that sends headers announcing a body and a few
// bytes of it, then stalls until the test ends.
class StallingServer {
 public:
  StallingServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 8);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        (void)::recv(c, buf, sizeof(buf), 0);
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n\x89PNG";
        (void)::send(c, head.data(), head.size(), MSG_NOSIGNAL);
        accepted_++;
        std::lock_guard<std::mutex> lock(mu_);
        clients_.push_back(c);  // held open, never finished
      }
    });
  }
  ~StallingServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int c : clients_) ::close(c);
  }
  uint16_t port() const { return port_; }
  std::atomic<int> accepted_{0};

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<int> clients_;
  std::thread thread_;
};

// Sets the TEST-ONLY worker fault injection for the server started while it
// lives (inherited by `eric serve`, the engine and the workers).
struct FaultInjectionEnv {
  explicit FaultInjectionEnv(const char* value) { ::setenv("ERIC_TEST_FAULT_INJECTION", value, 1); }
  ~FaultInjectionEnv() { ::unsetenv("ERIC_TEST_FAULT_INJECTION"); }
};

TEST_F(ServeFaultsTest, ThrowingForwardIs500ForItsRequestOnlyAndAStalledDownloadIs504) {
  FaultInjectionEnv env("throw:poison");
  ServeProcess& server = start({"--request-timeout", "2000", "--allow-private-network"});
  ASSERT_FALSE(HasFailure());
  auto client = *HttpClient::connect("127.0.0.1", server.port(), 30s);

  auto thrown = client->post("/embeddings", body_for("poison-1", "file://" + fixture().image));
  ASSERT_TRUE(thrown.ok());
  EXPECT_EQ(thrown->status, 500) << thrown->body;
  EXPECT_TRUE(is_json_error(*thrown)) << thrown->body;
  EXPECT_NE(thrown->body.find("forward pass threw"), std::string::npos) << thrown->body;
  EXPECT_NE(thrown->body.find("poison-1"), std::string::npos) << thrown->body;
  EXPECT_EQ(health(server.port()), 200) << "a thrown forward must not take the engine down";
  expect_serving(server.port(), "fine-1");

  StallingServer stall;
  const auto t0 = Clock::now();
  auto stalled = client->post("/embeddings", body_for("slow", fmt::format("http://127.0.0.1:{}/a.png", stall.port())));
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(stalled.ok()) << stalled.status().to_string();
  EXPECT_EQ(stalled->status, 504) << stalled->body;
  EXPECT_TRUE(is_json_error(*stalled)) << stalled->body;
  EXPECT_GE(took, 1.9);
  EXPECT_LT(took, 5.0) << "the 504 must come at the deadline";
  EXPECT_EQ(stall.accepted_.load(), 1);
  // A request may shorten its own deadline ("timeout_ms").
  json shorter = json::parse(body_for("quick", fmt::format("http://127.0.0.1:{}/q.png", stall.port())));
  shorter["timeout_ms"] = 300;
  const auto t1 = Clock::now();
  auto quick = client->post("/embeddings", shorter.dump());
  const double quick_took = std::chrono::duration<double>(Clock::now() - t1).count();
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(quick->status, 504) << quick->body;
  EXPECT_NE(quick->body.find("deadline of 300 ms"), std::string::npos) << quick->body;
  EXPECT_LT(quick_took, 1.5);
  std::this_thread::sleep_for(2s);  // its download is cut at the server's 2 s
  // Both preprocessing threads stalled at once still come back (the download
  // is cut at the deadline), and the server serves again.
  std::thread other([&] {
    auto c2 = *HttpClient::connect("127.0.0.1", server.port(), 30s);
    auto r = c2->post("/embeddings", body_for("slow2", fmt::format("http://127.0.0.1:{}/b.png", stall.port())));
    EXPECT_TRUE(r.ok() && r->status == 504) << (r.ok() ? r->body : r.status().to_string());
  });
  auto r3 = client->post("/embeddings", body_for("slow3", fmt::format("http://127.0.0.1:{}/c.png", stall.port())));
  other.join();
  EXPECT_TRUE(r3.ok() && r3->status == 504);
  std::this_thread::sleep_for(300ms);
  expect_serving(server.port(), "fine-2");
  auto metrics = client->get("/metrics");
  ASSERT_TRUE(metrics.ok());
  // The router's timer answered them (a download cut at the same instant
  // may answer one of them first, also with a 504).
  const auto at = metrics->body.find("\neric_deadline_exceeded_total ");
  ASSERT_NE(at, std::string::npos) << metrics->body;
  EXPECT_GE(std::stod(metrics->body.substr(at + 30)), 1.0) << metrics->body;
}

// ---------------------------------------------------------------- burst leaks

int open_fds(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

int64_t rss_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Shared-memory segments created by these processes ("eric-<pid>-...").
int shm_segments(const std::vector<pid_t>& pids) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
    const std::string name = e.path().filename().string();
    for (pid_t p : pids) n += name.rfind(fmt::format("eric-{}-", p), 0) == 0 ? 1 : 0;
  }
  return n;
}

struct Snapshot {
  int router_fds, engine_fds, shm;
  int64_t router_rss, engine_rss;
};

TEST_F(ServeFaultsTest, BurstReturnsFdsShmAndRssToBaseline) {
  ServeProcess& server = start({});
  ASSERT_FALSE(HasFailure());
  const pid_t router = server.pid();
  const pid_t engine = children(router).at(0);
  std::vector<pid_t> ours = descendants(router);
  ours.push_back(router);
  auto burst = [&](int requests) {
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&] {
        auto client = HttpClient::connect("127.0.0.1", server.port(), 60s);
        if (!client.ok()) return void(failed++);
        for (int k; (k = next.fetch_add(1)) < requests;) {
          auto r = (*client)->post("/embeddings", body_for(fmt::format("b{}", k), "file://" + fixture().image));
          if (!r.ok() || r->status != 200) failed++;
        }
      });
    }
    for (auto& t : clients) t.join();
    return failed.load();
  };
  auto snapshot = [&] {
    std::this_thread::sleep_for(500ms);  // closed connections settle
    return Snapshot{open_fds(router), open_fds(engine), shm_segments(ours), rss_kib(router), rss_kib(engine)};
  };
  ASSERT_EQ(burst(40), 0) << server.log();  // warm-up: pools, allocator arenas, connections
  const Snapshot base = snapshot();
  ASSERT_EQ(burst(300), 0) << server.log();
  const Snapshot after = snapshot();
  std::printf("router fds %d -> %d, engine fds %d -> %d, shm %d -> %d, router RSS %lld -> %lld KiB, "
              "engine RSS %lld -> %lld KiB\n",
              base.router_fds, after.router_fds, base.engine_fds, after.engine_fds, base.shm, after.shm,
              static_cast<long long>(base.router_rss), static_cast<long long>(after.router_rss),
              static_cast<long long>(base.engine_rss), static_cast<long long>(after.engine_rss));
  EXPECT_LE(after.router_fds, base.router_fds + 2);
  EXPECT_LE(after.engine_fds, base.engine_fds + 2);
  EXPECT_EQ(after.shm, base.shm);
  // Near baseline: allocator caches may keep some pages, a leak of ~1 image
  // per request (300 x 56x56 RGB and its tensors) would exceed this.
  EXPECT_LE(after.router_rss, base.router_rss + 16 * 1024);
  EXPECT_LE(after.engine_rss, base.engine_rss + 16 * 1024);

  // The engine's side of each answer reached /metrics: one batch-size
  // observation per item, one queue and one encode time per request.
  auto client = *HttpClient::connect("127.0.0.1", server.port());
  auto metrics = client->get("/metrics");
  ASSERT_TRUE(metrics.ok());
  auto value = [&](const std::string& name) {
    const auto at = metrics->body.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(metrics->body.substr(at + name.size() + 2));
  };
  EXPECT_EQ(value("eric_batch_size_count"), 340.0) << metrics->body;
  EXPECT_EQ(value("eric_engine_queue_seconds_count"), 340.0) << metrics->body;
  EXPECT_EQ(value("eric_engine_encode_seconds_count"), 340.0) << metrics->body;
  EXPECT_GT(value("eric_engine_encode_seconds_sum"), 0.0) << metrics->body;
  EXPECT_GE(value("eric_batch_size_sum"), 340.0) << metrics->body;  // sizes are >= 1
}

}  // namespace
}  // namespace eric::integration
