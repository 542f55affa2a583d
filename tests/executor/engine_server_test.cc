// The engine with its real multi-process executor: an Engine in this process,
// workers re-executing this binary, clients speaking the protocol over ipc://.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "engine/engine.h"
#include "executor/model_executor.h"
#include "executor/process.h"
#include "../common/temp_dir.h"
#include "../engine/protocol_client.h"
#include "executor_test_util.h"
#include "test_linear_family.h"

namespace eric::executor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kIn = 16, kOut = 6;

using testing::ProtocolClient;
using testing::our_shm_segments;
using testing::rel_error;
using testing::TempDir;

struct Server {
  TempDir run_dir{"eric_engine_server_test"}, model_dir{"eric_engine_server_test"};
  std::unique_ptr<engine::Engine> engine;
  std::future<Status> done;
  std::atomic<ModelExecutor*> executor{nullptr};

  explicit Server(int tp, engine::SchedulerLimits limits = {4, 4096}) {
    testing::write_test_linear_model(model_dir.str(), kIn, kOut, 3);
    engine = std::make_unique<engine::Engine>(engine::EngineOptions{run_dir.str(), limits, 10s});
    ExecutorOptions o;
    o.worker_command = {fs::read_symlink("/proc/self/exe").string()};
    o.run_dir = run_dir.str();
    o.model_dir = model_dir.str();
    o.world_size = tp;
    o.threads_per_worker = 1;
    o.startup_timeout = 20s;
    o.batch_timeout = 20s;
    o.restart_backoff_initial = 100ms;
    done = std::async(std::launch::async, [this, o] {
      return engine->run([this, o]() -> Result<std::shared_ptr<engine::BatchExecutor>> {
        ERIC_ASSIGN_OR_RETURN(auto ex, ModelExecutor::start(o));
        executor = ex.get();
        return std::shared_ptr<engine::BatchExecutor>(std::move(ex));
      });
    });
  }
  ~Server() {
    engine->request_stop();
    if (done.valid()) done.wait();
  }
};

engine::EncodeRequest make_request(uint64_t id, int items, float first = 0.0f) {
  engine::EncodeRequest r;
  r.request_id = id;
  for (int i = 0; i < items; ++i) {
    engine::EncodeItem it;
    it.item_id = fmt::format("r{}-{}", id, i);
    it.modality = "image";
    it.model_id = "test";
    it.num_tokens = 1 + static_cast<int64_t>((id * 7 + static_cast<uint64_t>(i) * 3) % 40);
    it.return_embedding = true;
    Tensor x = Tensor::empty(DType::kF32, {it.num_tokens, kIn}).value();
    for (int64_t k = 0; k < x.numel(); ++k) x.mutable_data<float>()[k] = static_cast<float>((k + static_cast<int64_t>(id)) % 13) / 6.0f - 1.0f;
    if (first != 0.0f) x.mutable_data<float>()[0] = first;
    it.tensors.emplace_back("pixel_values", x);
    r.items.push_back(std::move(it));
  }
  return r;
}

void serve_concurrent_clients(int tp) {
  std::vector<int> pids;
  std::string run_dir;
  {
    Server server(tp);
    run_dir = server.run_dir.str();
    {
      ProtocolClient probe(server.engine->endpoint());
      auto s = probe.wait_ready(30s);
      ASSERT_TRUE(s.ready) << s.detail;
      EXPECT_EQ(s.workers_alive, tp);
      EXPECT_EQ(s.workers_total, tp);
    }
    pids = server.executor.load()->worker_pids();
    constexpr int kClients = 4, kPerClient = 8;
    std::vector<int> bad(kClients, 0);
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
      threads.emplace_back([&, c] {
        ProtocolClient client(server.engine->endpoint());
        std::map<uint64_t, engine::EncodeRequest> sent;
        for (int k = 0; k < kPerClient; ++k) {
          const uint64_t id = static_cast<uint64_t>(c * 100 + k + 1);
          sent[id] = make_request(id, 1 + (c + k) % 4);
          if (!engine::send_message(client.dealer, sent[id]).ok()) ++bad[c];
        }
        std::set<uint64_t> answered;
        for (int k = 0; k < kPerClient; ++k) {
          auto m = client.try_recv(20s);
          auto* r = m ? std::get_if<engine::EncodeResponse>(&*m) : nullptr;
          if (!r || r->code != ErrorCode::kOk || !sent.count(r->request_id) || !answered.insert(r->request_id).second) {
            ++bad[c];
            continue;
          }
          const auto& req = sent[r->request_id];
          for (size_t i = 0; i < req.items.size(); ++i) {
            Tensor ref = testing::test_linear_reference(server.model_dir.str(), req.items[i].tensors[0].second);
            if (r->items[i].item_id != req.items[i].item_id || r->items[i].embedding.shape() != ref.shape() ||
                rel_error(r->items[i].embedding, ref) > 1e-5) {
              ++bad[c];
            }
          }
        }
        if (client.try_recv(100ms)) ++bad[c];  // answered more than once
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(bad, std::vector<int>(kClients, 0));

    // Shutdown over the protocol: acknowledged, then run() returns.
    ProtocolClient admin(server.engine->endpoint());
    ASSERT_TRUE(engine::send_message(admin.dealer, engine::Shutdown{9}).ok());
    auto ack = admin.try_recv(20s);
    ASSERT_TRUE(ack && std::holds_alternative<engine::StatusReply>(*ack));
    ASSERT_EQ(server.done.wait_for(20s), std::future_status::ready);
    EXPECT_TRUE(server.done.get().ok());
  }
  for (int pid : pids) EXPECT_FALSE(process_alive(pid));
  EXPECT_EQ(our_shm_segments(), 0);
}

TEST(EngineServerTest, ServesConcurrentClientsTp1) { serve_concurrent_clients(1); }
TEST(EngineServerTest, ServesConcurrentClientsTp2) { serve_concurrent_clients(2); }

TEST(EngineServerTest, KilledWorkerFailsInFlightRequestsAndRecovers) {
  Server server(2);
  ProtocolClient client(server.engine->endpoint());
  ASSERT_TRUE(client.wait_ready(30s).ready);
  auto pids = server.executor.load()->worker_pids();
  // Request 1 keeps the workers busy for 5 s; request 2 waits behind it.
  ASSERT_TRUE(engine::send_message(client.dealer, make_request(1, 1, -5000.0f)).ok());
  ASSERT_TRUE(engine::send_message(client.dealer, make_request(2, 1)).ok());
  std::this_thread::sleep_for(300ms);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  std::map<uint64_t, engine::EncodeResponse> got;
  for (int i = 0; i < 2; ++i) {
    auto m = client.try_recv(10s);
    ASSERT_TRUE(m.has_value()) << "no answer within 10 s of the kill";
    auto r = std::get<engine::EncodeResponse>(*m);
    got[r.request_id] = r;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 10s);
  EXPECT_EQ(got[1].code, ErrorCode::kUnavailable);
  EXPECT_NE(got[1].error_message.find("worker rank 0"), std::string::npos) << got[1].error_message;
  EXPECT_NE(got[1].error_message.find("killed by signal 9"), std::string::npos) << got[1].error_message;
  // Request 2 was queued behind: it fails fast while workers restart, or
  // succeeds on the new set; either way it is answered once.
  EXPECT_TRUE(got.count(2));
  // Status reports not ready, then ready again after the restart.
  auto s = client.wait_ready(30s);
  EXPECT_TRUE(s.ready) << s.detail;
  ASSERT_TRUE(engine::send_message(client.dealer, make_request(3, 2)).ok());
  auto m = client.try_recv(20s);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(std::get<engine::EncodeResponse>(*m).code, ErrorCode::kOk);
}

}  // namespace
}  // namespace eric::executor
