// The real server end to end: `eric serve` on a tiny random checkpoint,
// requests over loopback HTTP, answers checked against `eric encode` on the
// same images; process deaths and shutdown leave nothing behind.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "media/base64.h"
#include "router/http_client.h"
#include "embedding_compare.h"
#include "../common/temp_dir.h"
#include "serve_process.h"
#include "test_model_fixture.h"
#include "tensor/safetensors.h"

namespace eric::integration {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using router::HttpClient;

struct TestImage {
  int width, height;
  std::string path;
  Tensor reference;  // `eric encode` output
};

// Shared by every test: the model, the images and their reference embeddings.
struct Fixture {
  std::string root;  // model, images, references
  std::string model;
  std::string images_dir;
  std::vector<TestImage> images;
  std::string setup_error;
};

// Builds the model, images and references once per build tree (FixtureDir)
// and reuses them while they are newer than the eric binary.
Fixture make_fixture() {
  Fixture f;
  FixtureDir dir("integration-fixture");
  f.root = dir.root();
  f.model = dir.model();
  f.images_dir = f.root + "/images";
  fs::create_directories(f.images_dir);
  const int sizes[][2] = {{28, 28}, {56, 84}, {100, 60}, {224, 224}};
  std::vector<std::string> paths;
  for (int i = 0; i < 4; ++i) {
    paths.push_back(fmt::format("{}/img{}.bmp", f.images_dir, i));
    f.images.push_back(TestImage{sizes[i][0], sizes[i][1], paths.back(), Tensor()});
  }
  auto refs = dir.model_and_references(paths, [&] {
    for (int i = 0; i < 4; ++i) write_test_bmp(f.images[i].path, f.images[i].width, f.images[i].height, i + 1);
  });
  if (!refs.ok()) {
    f.setup_error = refs.status().to_string();
    return f;
  }
  for (size_t i = 0; i < f.images.size(); ++i) f.images[i].reference = (*refs)[i];
  return f;
}

Fixture& fixture() {
  static Fixture f = make_fixture();
  return f;
}

// Per-process scratch space for run folders and server logs, removed at exit
// unless a test failed (its server log stays).
testing::TempDir& scratch() {
  static testing::TempDir dir("eric_it");
  return dir;
}
std::string scratch_dir() { return scratch().str(); }

std::set<std::string> shm_entries() {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/shm", ec)) out.insert(e.path().filename().string());
  return out;
}

// The creator pid in a segment name "eric-<pid>-<tag>-<random>", or -1.
pid_t shm_creator_pid(const std::string& name) {
  if (name.rfind("eric-", 0) != 0) return -1;
  pid_t pid = 0;
  size_t i = 5;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) pid = pid * 10 + (name[i] - '0');
  return i > 5 && i < name.size() && name[i] == '-' ? pid : -1;
}

std::string item_json(const std::string& id, const std::string& url) {
  return json({{"id", id}, {"modality", "image"}, {"model_id", fixture().model}, {"url", url}}).dump();
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fixture().setup_error.empty()) << fixture().setup_error;
    runtime_dir_ = scratch_dir() + "/run-" + std::to_string(counter_++);
    fs::create_directories(runtime_dir_);
    shm_before_ = shm_entries();
  }

  void TearDown() override {
    std::error_code ec;
    if (HasFailure()) {  // keep the server log of a failed test
      scratch().keep();
    } else {
      fs::remove_all(runtime_dir_, ec);
      fs::remove(runtime_dir_ + ".log", ec);
    }
  }

  std::unique_ptr<ServeProcess> start(int tp) {
    auto server = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--model", fixture().model, "--tp", std::to_string(tp), "--preprocess-workers", "2",
                                 "--allowed-local-media-path", fixture().images_dir, "--max-batch-size", "8"},
        runtime_dir_ + ".log", runtime_dir_);
    EXPECT_TRUE(server->wait_healthy(std::chrono::seconds(90))) << server->log();
    return server;
  }

  // SIGTERM: clean exit, no descendant process, no run folder, no shm segment left.
  void stop_and_check_clean(ServeProcess& server) {
    const pid_t server_pid = server.pid();
    auto children = descendants(server_pid);
    auto code = server.stop(SIGTERM, std::chrono::seconds(30));
    ASSERT_TRUE(code.has_value()) << "server did not exit after SIGTERM\n" << server.log();
    EXPECT_EQ(*code, 0) << server.log();
    for (pid_t p : children) {
      for (int i = 0; i < 100 && process_alive(p); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_FALSE(process_alive(p)) << "process " << p << " survived the server";
    }
    EXPECT_TRUE(fs::is_empty(runtime_dir_)) << "run folder left in " << runtime_dir_;
    // Only segments this server's processes created count ("eric-<pid>-..."):
    // ctest runs other servers in parallel, whose live segments are theirs.
    std::set<pid_t> ours(children.begin(), children.end());
    ours.insert(server_pid);
    std::set<std::string> leaked;
    for (const auto& e : shm_entries()) {
      if (!shm_before_.count(e) && ours.count(shm_creator_pid(e))) leaked.insert(e);
    }
    EXPECT_TRUE(leaked.empty()) << "shared memory left: " << *leaked.begin();
  }

  // 100 requests (1-4 items, mixed sizes) from 8 concurrent clients; every
  // one answered exactly once, every embedding matching `eric encode`.
  void run_load(ServeProcess& server) {
    const auto& images = fixture().images;
    std::atomic<int> next{0}, answered{0}, matched_items{0}, expected_items{0};
    std::mutex mu;
    std::vector<std::string> failures;
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&] {
        auto client = HttpClient::connect("127.0.0.1", server.port(), std::chrono::seconds(120));
        if (!client.ok()) return;
        for (int k; (k = next.fetch_add(1)) < 100;) {
          int n = 1 + k % 4;
          std::vector<int> which;
          std::string body = R"({"return_embeddings":true,"data":[)";
          for (int j = 0; j < n; ++j) {
            int img = (k * 3 + j) % 4;
            which.push_back(img);
            body += (j ? "," : "") + item_json(fmt::format("r{}-{}", k, j), "file://" + images[img].path);
          }
          body += "]}";
          expected_items += n;
          auto r = (*client)->post("/embeddings", body);
          std::lock_guard<std::mutex> lock(mu);
          if (!r.ok() || r->status != 200) {
            failures.push_back(r.ok() ? r->body : r.status().to_string());
            continue;
          }
          answered++;
          json answer = json::parse(r->body);
          for (int j = 0; j < n && j < static_cast<int>(answer["embeddings"].size()); ++j) {
            const json& e = answer["embeddings"][j];
            const Tensor& ref = images[which[j]].reference;
            bool ok = e["id"] == fmt::format("r{}-{}", k, j) && e["shape"] == json({ref.dim(0), ref.dim(1)}) &&
                      relative_error(e, ref) < 1e-5;
            if (ok) {
              matched_items++;
            } else {
              failures.push_back(fmt::format("request {} item {}: id {} shape {} rel.err {}", k, j, e["id"].dump(),
                                             e["shape"].dump(), relative_error(e, ref)));
            }
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(answered, 100) << (failures.empty() ? "" : failures[0]);
    EXPECT_EQ(matched_items, expected_items) << (failures.empty() ? "" : failures[0]);
    EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures[0];

    auto client = *HttpClient::connect("127.0.0.1", server.port());
    auto metrics = client->get("/metrics");
    ASSERT_TRUE(metrics.ok());
    EXPECT_NE(metrics->body.find("eric_http_responses_total{code=\"200\"}"), std::string::npos);
    EXPECT_NE(metrics->body.find(fmt::format("eric_embedding_items_total {}", expected_items.load())), std::string::npos)
        << metrics->body;
  }

  std::string runtime_dir_;
  std::set<std::string> shm_before_;
  static inline int counter_ = 0;
};

TEST_F(ServeTest, Tp1ConcurrentRequestsMatchEncodeAndShutdownIsClean) {
  auto server = start(1);
  ASSERT_FALSE(::testing::Test::HasFailure());
  run_load(*server);
  stop_and_check_clean(*server);
}

TEST_F(ServeTest, Tp2ConcurrentRequestsMatchEncodeAndShutdownIsClean) {
  auto server = start(2);
  ASSERT_FALSE(::testing::Test::HasFailure());
  run_load(*server);
  stop_and_check_clean(*server);
}

TEST_F(ServeTest, InfoAndRequestErrorsOverRealServer) {
  auto server = start(1);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto client = *HttpClient::connect("127.0.0.1", server->port());
  json info = json::parse(client->get("/info")->body);
  EXPECT_EQ(info["model"], fixture().model);
  EXPECT_EQ(info["model_type"], "qwen2_vl");
  EXPECT_EQ(info["device"], json({{"kind", "cpu"}, {"cuda_dtype", nullptr}, {"cuda_memory_limit", nullptr}}));
  EXPECT_EQ(client->get("/modalities")->body, R"(["image","video"])");

  auto outside = client->post("/embeddings", R"({"data":[)" + item_json("secret", "file:///etc/passwd") + "]}");
  ASSERT_TRUE(outside.ok());
  EXPECT_EQ(outside->status, 400);
  EXPECT_NE(outside->body.find("item 'secret'"), std::string::npos) << outside->body;
  auto missing =
      client->post("/embeddings", R"({"data":[)" + item_json("gone", "file://" + fixture().images_dir + "/nope.png") + "]}");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("item 'gone'"), std::string::npos) << missing->body;
  auto bad_model = client->post(
      "/embeddings", R"({"data":[{"id":"a","modality":"image","model_id":"nope","url":"file:///x.bmp"}]})");
  ASSERT_TRUE(bad_model.ok());
  EXPECT_EQ(bad_model->status, 400);
  stop_and_check_clean(*server);
}

// Kills one process under the server while clients keep sending: in-flight
// requests get JSON 5xx within 10 s, /health turns 503, the log says why, and
// SIGTERM still stops everything cleanly.
void kill_under_load(ServeProcess& server, pid_t victim) {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, errors_5xx{0}, bad{0};
  std::atomic<double> slowest{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto client = HttpClient::connect("127.0.0.1", server.port(), std::chrono::seconds(30));
      if (!client.ok()) return void(bad++);
      for (int k = 0; !stop; ++k) {
        std::string body = R"({"data":[)" + item_json(fmt::format("c{}-{}", c, k),
                                                      "file://" + fixture().images[3].path) + "]}";
        auto t0 = std::chrono::steady_clock::now();
        auto r = (*client)->post("/embeddings", body);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s > slowest) slowest = s;
        if (!r.ok()) {
          bad++;
          continue;
        }
        if (r->status == 200) {
          ok++;
        } else if (r->status >= 500 && json::parse(r->body, nullptr, false).value("status", 0) == 1) {
          errors_5xx++;
        } else {
          bad++;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(victim, SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  bool unhealthy = false;
  auto probe = *HttpClient::connect("127.0.0.1", server.port());
  while (std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(10)) {
    auto h = probe->get("/health");
    if (h.ok() && h->status == 503) {
      unhealthy = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(unhealthy) << "/health did not turn 503 within 10 s\n" << server.log();
  EXPECT_GT(ok, 0);
  EXPECT_GT(errors_5xx, 0) << "no request failed after the kill";
  EXPECT_EQ(bad, 0) << "requests without a JSON answer";
  EXPECT_LT(slowest, 10.0) << "a request waited too long";
}

TEST_F(ServeTest, KilledEngineFailsRequestsAndHealth) {
  auto server = start(1);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto engine = children(server->pid());
  ASSERT_EQ(engine.size(), 1u) << "expected one engine process";
  kill_under_load(*server, engine[0]);
  EXPECT_NE(server->log().find("killed by signal 9"), std::string::npos) << server->log();
  stop_and_check_clean(*server);
}

TEST_F(ServeTest, KilledWorkerFailsRequestsAndHealth) {
  auto server = start(2);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto engine = children(server->pid());
  ASSERT_EQ(engine.size(), 1u) << "expected one engine process";
  auto workers = children(engine[0]);
  ASSERT_GE(workers.size(), 1u) << "expected worker processes under the engine";
  kill_under_load(*server, workers.back());
  stop_and_check_clean(*server);
}

}  // namespace
}  // namespace eric::integration
