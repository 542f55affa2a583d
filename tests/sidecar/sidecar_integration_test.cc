// The sidecar with real processes on loopback: `eric serve --sidecar` on a
// tiny checkpoint, two `eric sidecar` processes playing two nodes (separate
// arenas, TCP between them) and Python consumers (the eric_sidecar binding)
// on each. What the consumers read must equal `eric encode`'s embeddings.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "../common/temp_dir.h"
#include "../integration/serve_process.h"
#include "../integration/test_model_fixture.h"
#include "router/http_client.h"
#include "sidecar/client.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric::integration {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

using eric::testing::read_file;

// A background process with its output in a log file.
struct Proc {
  pid_t pid = -1;
  std::string log;
  Proc(const std::vector<std::string>& argv, std::string log_path, const std::vector<std::string>& env = {})
      : log(std::move(log_path)) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Proc() { kill(SIGKILL); }
  void kill(int sig) {
    if (pid > 0) {
      ::kill(pid, sig);
      int st;
      ::waitpid(pid, &st, 0);
      pid = -1;
    }
  }
  // Exit code, or nullopt if still running at the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid > 0) {
      int st;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }
  std::string output() const { return read_file(log); }
};

struct Fixture {
  std::string model, images_dir, setup_error;
  std::vector<std::string> images;
  std::vector<Tensor> reference;  // float32 `eric encode` embeddings
};

Fixture make_fixture() {
  Fixture f;
  FixtureDir dir("sidecar-fixture");  // once per build tree, remade when eric is newer
  f.model = dir.model();
  f.images_dir = dir.root() + "/images";
  fs::create_directories(f.images_dir);
  for (int i = 0; i < 2; ++i) f.images.push_back(fmt::format("{}/img{}.bmp", f.images_dir, i));
  auto refs = dir.model_and_references(f.images, [&] {
    for (int i = 0; i < 2; ++i) write_test_bmp(f.images[i], 56 + 28 * i, 84, i + 7);
  });
  if (!refs.ok()) {
    f.setup_error = refs.status().to_string();
    return f;
  }
  f.reference = std::move(refs).value();
  return f;
}

Fixture& fixture() {
  static Fixture f = make_fixture();
  return f;
}

// ‖got − ref‖ / ‖ref‖ for raw bytes of dtype F32 or BF16; infinity on a shape mismatch.
double relative_error(const std::string& bytes, const std::string& dtype, const Tensor& ref) {
  const size_t n = static_cast<size_t>(ref.numel());
  const size_t elem = dtype == "F32" ? 4 : dtype == "BF16" ? 2 : 0;
  if (elem == 0 || bytes.size() != n * elem) return INFINITY;
  const float* r = ref.data<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    float v;
    if (elem == 4) {
      std::memcpy(&v, bytes.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      v = bf16_to_f32(h);
    }
    num += (double(v) - r[i]) * (double(v) - r[i]);
    den += double(r[i]) * r[i];
  }
  return std::sqrt(num / den);
}

class SidecarIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fixture().setup_error.empty()) << fixture().setup_error;
    port_a_ = free_port();
    port_b_ = free_port();
    metrics_port_a_ = free_port();
    json reg = {{"sidecars",
                 {{{"name", "a"}, {"address", fmt::format("127.0.0.1:{}", port_a_)}, {"ranks", {0, 1}}},
                  {{"name", "b"}, {"address", fmt::format("127.0.0.1:{}", port_b_)}, {"ranks", {2, 3}}}}}};
    std::ofstream(dir_ + "/registry.json") << reg.dump(2);
    a_ = start_sidecar("a");
    b_ = start_sidecar("b");
    ASSERT_TRUE(wait_socket("a") && wait_socket("b")) << a_->output() << b_->output();
    server_ = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--model", fixture().model, "--sidecar", sock("a"), "--sidecar-timeout-ms", "4000",
                                 "--allowed-local-media-path", fixture().images_dir, "--max-batch-size", max_batch_size_,
                                 "--preprocess-workers", "2"},
        dir_ + "/serve.log", dir_);
    ASSERT_TRUE(server_->wait_healthy(90s)) << server_->log();
  }
  void TearDown() override {
    if (server_) server_->stop(SIGTERM, 30s);
    server_.reset();
    a_.reset();
    b_.reset();
    if (HasFailure()) tmp_.keep();  // for the logs of eric serve and the sidecars
  }

  std::string sock(const std::string& node) { return dir_ + "/" + node + ".sock"; }
  std::unique_ptr<Proc> start_sidecar(const std::string& node) {
    std::vector<std::string> argv = {eric_binary(), "sidecar", "--node", node, "--control-socket", sock(node),
                                     "--registry", dir_ + "/registry.json", "--arena-mib",
                                     node == "b" ? b_arena_mib_ : "64", "--item-ttl", item_ttl_s_,
                                     "--alloc-wait-ms", "1000"};
    if (node == "a") {
      argv.push_back("--metrics-listen");
      argv.push_back(fmt::format("127.0.0.1:{}", metrics_port_a_));
    }
    return std::make_unique<Proc>(argv, dir_ + "/sidecar-" + node + ".log");
  }
  bool wait_socket(const std::string& node) {
    auto c = sidecar::SidecarClient::connect(sock(node), -1, 10000ms);
    return c.ok();
  }
  std::unique_ptr<Proc> start_consumer(const std::string& node, int rank, const std::vector<std::string>& ids) {
    std::vector<std::string> argv = {"/usr/bin/python3", std::string(ERIC_SOURCE_DIR) + "/tests/sidecar/consumer.py",
                                     sock(node), std::to_string(rank), dir_ + "/out-" + std::to_string(rank), "60"};
    argv.insert(argv.end(), ids.begin(), ids.end());
    return std::make_unique<Proc>(
        argv, dir_ + "/consumer-" + std::to_string(rank) + ".log",
        std::vector<std::string>{"PYTHONPATH=" + std::string(ERIC_SOURCE_DIR) + "/python",
                                 "ERIC_SIDECAR_LIB=" + std::string(ERIC_BINARY_DIR) + "/lib/libericsidecar.so"});
  }
  std::string body(const std::string& id, int image, const json& groups) {
    return json({{"data",
                  {{{"id", id},
                    {"modality", "image"},
                    {"model_id", fixture().model},
                    {"url", "file://" + fixture().images[image]},
                    {"receiver_sidecar_ranks", groups}}}}})
        .dump();
  }
  Result<router::ClientResponse> post(const std::string& b) {
    ERIC_ASSIGN_OR_RETURN(auto client, router::HttpClient::connect("127.0.0.1", server_->port(), 60s));
    return client->post("/embeddings", b);
  }
  // What consumer `rank` wrote for `id`, compared with image `image`'s reference.
  void expect_received(int rank, const std::string& id, int image) {
    const std::string base = dir_ + "/out-" + std::to_string(rank) + "/" + id;
    ASSERT_TRUE(fs::exists(base + ".json")) << "rank " << rank << " did not write " << id;
    json meta = json::parse(read_file(base + ".json"));
    const Tensor& ref = fixture().reference[image];
    EXPECT_EQ(meta["shape"], json({ref.dim(0), ref.dim(1)}));
    EXPECT_LT(relative_error(read_file(base + ".bin"), meta["dtype"], ref), 1e-5) << id << " at rank " << rank;
    if (meta.contains("numpy_same_bytes")) {
      EXPECT_TRUE(meta["numpy_same_bytes"].get<bool>());
      EXPECT_TRUE(meta["numpy_readonly"].get<bool>());
    }
  }
  json stats(const std::string& node) {
    auto c = sidecar::SidecarClient::connect(sock(node), -1, 2000ms);
    if (!c.ok()) return json();
    return json::parse(*(*c)->stats());
  }

  testing::TempDir tmp_{"eric_sc"};
  const std::string dir_ = tmp_.str();
  uint16_t port_a_ = 0, port_b_ = 0, metrics_port_a_ = 0;
  std::string b_arena_mib_ = "64";
  std::string max_batch_size_ = "4";
  std::string item_ttl_s_ = "3";
  std::unique_ptr<Proc> a_, b_;
  std::unique_ptr<ServeProcess> server_;
};

TEST_F(SidecarIntegration, DeliversToGroupsOnBothNodesBeforeAnswering) {
  // Python consumers wait first (rank 0 on node a, rank 2 on node b).
  std::vector<std::string> ids;
  for (int k = 0; k < 24; ++k) ids.push_back(fmt::format("c{}", k));
  auto c0 = start_consumer("a", 0, ids);
  auto c2 = start_consumer("b", 2, ids);
  // 24 requests from 6 concurrent clients, one item each, to a group per node.
  std::atomic<int> next{0}, ok{0};
  std::vector<std::string> failures;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&] {
      for (int k; (k = next.fetch_add(1)) < 24;) {
        auto r = post(body(fmt::format("c{}", k), k % 2, {{0}, {2}}));
        if (r.ok() && r->status == 200) {
          ++ok;
        } else {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back(r.ok() ? r->body : r.status().to_string());
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 24) << (failures.empty() ? "" : failures[0]) << server_->log();
  auto e0 = c0->wait(60s), e2 = c2->wait(60s);
  EXPECT_EQ(e0, std::optional<int>(0)) << c0->output();
  EXPECT_EQ(e2, std::optional<int>(0)) << c2->output();
  for (int k = 0; k < 24; ++k) {
    expect_received(0, fmt::format("c{}", k), k % 2);
    expect_received(2, fmt::format("c{}", k), k % 2);
  }
  json sb = stats("b");
  EXPECT_EQ(sb["transfers_received"], 24) << sb.dump();
  EXPECT_EQ(sb["items_collected"], 24) << sb.dump();
  EXPECT_EQ(stats("a")["arena_used_bytes"], 0);

  // "200" means delivered: right after the answer, both nodes already hold it.
  auto r = post(body("visible", 1, {{1}, {3}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  for (auto [node, rank] : {std::pair<std::string, int>{"a", 1}, {"b", 3}}) {
    auto c = sidecar::SidecarClient::connect(sock(node), rank, 2000ms);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    auto v = (*c)->recv("visible", 0, 0ms);
    ASSERT_TRUE(v.ok()) << node << ": " << v.status().to_string();
    EXPECT_LT(relative_error(std::string(static_cast<const char*>(v->data), v->bytes), v->dtype, fixture().reference[1]),
              1e-5);
    EXPECT_TRUE((*c)->done("visible", 0).ok());
  }

  // Nobody reads 'forgotten': node a reclaims it after --item-ttl and counts it.
  r = post(body("forgotten", 0, {{1}}));
  ASSERT_TRUE(r.ok() && r->status == 200);
  EXPECT_EQ(stats("a")["items_held"], 1);
  std::this_thread::sleep_for(3700ms);
  json sa = stats("a");
  EXPECT_EQ(sa["items_reclaimed"], 1) << sa.dump();
  EXPECT_EQ(sa["arena_used_bytes"], 0) << sa.dump();
  EXPECT_NE(a_->output().find("reclaimed item 'forgotten'"), std::string::npos);
  auto m = router::HttpClient::connect("127.0.0.1", metrics_port_a_, 5s);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto metrics = (*m)->get("/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status().to_string();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("eric_sidecar_items_reclaimed_total{node=\"a\"} 1\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("eric_sidecar_transfers_sent_total{node=\"a\"} 25\n"), std::string::npos) << metrics->body;
}

TEST_F(SidecarIntegration, UnknownAndDeadReceiversFailTheRequestClearly) {
  auto r = post(body("nobody", 0, {{0}, {7}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("receiver rank 7 (group 1) is not served by any sidecar"), std::string::npos) << r->body;

  // Node b dies (SIGKILL: its arena stays behind in /dev/shm).
  auto cb = sidecar::SidecarClient::connect(sock("b"), -1, 2000ms);
  ASSERT_TRUE(cb.ok());
  const std::string b_arena = "/dev/shm" + (*cb)->arena_name();
  cb->reset();
  b_->kill(SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  r = post(body("to-dead", 0, {{0}, {2}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_NE(r->body.find("item 'to-dead': sidecar delivery failed"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("sidecar 'b'"), std::string::npos) << r->body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  // Nothing hangs: node a still delivers; the failed item's local copy was
  // taken back, so the same id succeeds once b is back.
  r = post(body("only-a", 0, {{0}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(stats("a")["items_held"], 1);
  EXPECT_TRUE(fs::exists(b_arena));
  b_ = start_sidecar("b");
  ASSERT_TRUE(wait_socket("b")) << b_->output();
  EXPECT_FALSE(fs::exists(b_arena)) << "the restarted sidecar did not remove its predecessor's arena";
  r = post(body("to-dead", 0, {{0}, {2}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
}

// Issue #11: an item whose receiver is unknown fails only its own request;
// requests that shared its engine batch still succeed. Concurrent requests
// queue behind the running batch and share the next one; the engine logs
// "batch N: F of S item(s) failed on their own" for such a batch, which shows
// that a failed item and a successful one really ran together.
TEST_F(SidecarIntegration, AnUnknownReceiverFailsOnlyItsRequestNotItsBatchMates) {
  const std::regex mixed(R"(batch \d+: (\d+) of (\d+) item\(s\) failed on their own)");
  bool shared = false;
  for (int round = 0; round < 4 && !shared; ++round) {
    std::vector<std::string> wrong;
    std::mutex mu;
    std::vector<std::thread> clients;
    for (int t = 0; t < 8; ++t) {
      clients.emplace_back([&, t] {
        const bool good = t % 2 == 0;
        const std::string id = fmt::format("{}-{}-{}", good ? "good" : "bad", round, t);
        // The bad request also names the valid group 0: only rank 7 is unknown.
        const json groups = good ? json::array({json::array({0})}) : json::array({json::array({0}), json::array({7})});
        auto r = post(body(id, t % 2, groups));
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok()) {
          wrong.push_back(id + ": " + r.status().to_string());
        } else if (good && r->status != 200) {
          wrong.push_back(fmt::format("{}: {} {}", id, r->status, r->body));
        } else if (!good && (r->status != 400 ||
                             r->body.find(fmt::format("item '{}': sidecar delivery failed", id)) == std::string::npos ||
                             r->body.find("receiver rank 7 (group 1) is not served") == std::string::npos)) {
          wrong.push_back(fmt::format("{}: {} {}", id, r->status, r->body));
        }
      });
    }
    for (auto& c : clients) c.join();
    ASSERT_TRUE(wrong.empty()) << wrong.size() << " wrong answer(s), first: " << wrong[0];
    const std::string log = server_->log();
    for (std::sregex_iterator it(log.begin(), log.end(), mixed), end; it != end; ++it) {
      if (std::stoi((*it)[1]) < std::stoi((*it)[2])) shared = true;  // a batch with failed and delivered items
    }
  }
  EXPECT_TRUE(shared) << "no round put a failing and a succeeding request in one batch:\n" << server_->log();
}

TEST_F(SidecarIntegration, AConsumerKilledMidReadLeavesTheItemForItsRestart) {
  auto r = post(body("mid-read", 1, {{0}}));
  ASSERT_TRUE(r.ok() && r->status == 200);
  // A Python consumer takes the view and is killed before mark_done.
  const std::string script =
      "import sys, time\nfrom eric_sidecar import Sidecar\ns = Sidecar(sys.argv[1], 0)\n"
      "s.recv('mid-read', timeout=10)\nprint('holding', flush=True)\ntime.sleep(60)\n";
  Proc reader({"/usr/bin/python3", "-c", script, sock("a")}, dir_ + "/reader.log",
              {"PYTHONPATH=" + std::string(ERIC_SOURCE_DIR) + "/python",
               "ERIC_SIDECAR_LIB=" + std::string(ERIC_BINARY_DIR) + "/lib/libericsidecar.so"});
  for (int i = 0; i < 500 && reader.output().find("holding") == std::string::npos; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_NE(reader.output().find("holding"), std::string::npos) << reader.output();
  auto other = sidecar::SidecarClient::connect(sock("a"), 0, 2000ms);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->recv("mid-read", 0, 100ms).status().code(), ErrorCode::kDeadlineExceeded);  // being read
  reader.kill(SIGKILL);
  auto v = (*other)->recv("mid-read", 0, 5000ms);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_LT(relative_error(std::string(static_cast<const char*>(v->data), v->bytes), v->dtype, fixture().reference[1]),
            1e-5);
  EXPECT_TRUE((*other)->done("mid-read", 0).ok());
  EXPECT_EQ(stats("a")["arena_used_bytes"], 0);
}

// Node b's arena holds 8 pages (each embedding takes one) and its consumer
// does not read: under 12 concurrent requests the first 8 are delivered, the
// others wait (backpressure) and then fail with a clear 503 each; the server
// stays healthy, and once the consumer collects, requests succeed again.
class SidecarArenaExhaustion : public SidecarIntegration {
 protected:
  void SetUp() override {
    b_arena_mib_ = "0.03125";  // 32 KiB
    // One item per batch makes the arena fill in arrival order, which keeps
    // the count of successes exact.
    max_batch_size_ = "1";
    item_ttl_s_ = "60";  // nothing is reclaimed while the arena is full
    SidecarIntegration::SetUp();
  }
};

TEST_F(SidecarArenaExhaustion, BackpressureThenPerItemErrors) {
  std::atomic<int> ok{0}, full{0};
  std::vector<std::string> other;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int t = 0; t < 12; ++t) {
    clients.emplace_back([&, t] {
      auto r = post(body(fmt::format("x{}", t), t % 2, {{2}}));
      std::lock_guard<std::mutex> lock(mu);
      if (r.ok() && r->status == 200) {
        ++ok;
      } else if (r.ok() && r->status == 503 && r->body.find("sidecar delivery failed") != std::string::npos &&
                 r->body.find("stayed full for 1000 ms") != std::string::npos) {
        ++full;
      } else {
        other.push_back(r.ok() ? fmt::format("{} {}", r->status, r->body) : r.status().to_string());
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_TRUE(other.empty()) << other[0];
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(full.load(), 4);
  json sb = stats("b");
  EXPECT_EQ(sb["alloc_failures"], 4) << sb.dump();
  EXPECT_EQ(sb["items_held"], 8) << sb.dump();
  EXPECT_EQ(stats("a")["arena_used_bytes"], 0);  // the failed items' source ranges were freed
  // The consumer collects one item: the next request fits again.
  auto c2 = sidecar::SidecarClient::connect(sock("b"), 2, 2000ms);
  ASSERT_TRUE(c2.ok());
  int collected = 0;
  for (int t = 0; t < 12 && collected == 0; ++t) {
    auto v = (*c2)->recv(fmt::format("x{}", t), 0, 0ms);
    if (v.ok() && (*c2)->done(v->id, 0).ok()) ++collected;
  }
  ASSERT_EQ(collected, 1);
  auto r = post(body("after", 0, {{2}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
}

}  // namespace
}  // namespace eric::integration
