// The engine loop in-process, talking to it over ipc:// like the router does,
// with fake executors (the real multi-process one is tested in
// tests/executor/engine_server_test.cc).
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "../common/temp_dir.h"
#include "engine/zmq_transport.h"
#include "protocol_client.h"

namespace eric::engine {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using testing::ProtocolClient;
using testing::TempDir;

// Embedding of an item: [num_tokens, 2] filled with num_tokens. Batches whose
// model is "bad" fail; items whose id starts with "undeliverable" fail alone; an optional gate holds each batch until opened.
class FakeExecutor final : public BatchExecutor {
 public:
  Result<ItemOutcomes> execute_model(const Batch& batch) override {
    {
      std::unique_lock<std::mutex> lock(mu);
      ++batches;
      max_batch = std::max(max_batch, batch.size());
      running = true;
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
      running = false;
    }
    for (const auto& e : batch.entries) {
      if (e.item.modality != batch.modality || e.item.model_id != batch.model_id) return Internal("mixed batch");
    }
    if (batch.model_id == "bad") return Internal("the encoder exploded on batch {}", batch.batch_id);
    if (batch.model_id == "throw") throw std::runtime_error("forward pass threw on purpose");
    {
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& e : batch.entries) seen.push_back(e.item.item_id);
    }
    ItemOutcomes out;
    for (const auto& e : batch.entries) {
      // An item named "undeliverable..." fails alone, like a failed sidecar delivery.
      if (e.item.item_id.rfind("undeliverable", 0) == 0) {
        out.emplace_back(Unavailable("item '{}': sidecar delivery failed: sidecar 'b' is unreachable", e.item.item_id));
        continue;
      }
      Tensor t = Tensor::empty(DType::kF32, {e.item.num_tokens, 2}).value();
      for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = static_cast<float>(e.item.num_tokens);
      out.push_back(t);
    }
    return out;
  }
  ExecutorHealth health() const override { return {true, 2, 2, ""}; }

  void set_open(bool o) {
    std::lock_guard<std::mutex> lock(mu);
    open = o;
    cv.notify_all();
  }
  void wait_running() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return running; });
  }

  std::mutex mu;
  std::condition_variable cv;
  bool open = true;
  bool running = false;
  int batches = 0;
  size_t max_batch = 0;
  std::vector<std::string> seen;  // items of the batches that ran
};

struct EngineHarness {
  TempDir dir{"eric_engine_test"};
  std::shared_ptr<FakeExecutor> fake = std::make_shared<FakeExecutor>();
  std::unique_ptr<Engine> engine;
  std::future<Status> done;

  explicit EngineHarness(SchedulerLimits limits = {4, 1000}) {
    engine = std::make_unique<Engine>(EngineOptions{dir.str(), limits, 5s});
    auto ex = fake;
    done = std::async(std::launch::async, [this, ex] {
      return engine->run([ex]() -> Result<std::shared_ptr<BatchExecutor>> { return std::shared_ptr<BatchExecutor>(ex); });
    });
  }
  ~EngineHarness() {
    fake->set_open(true);
    engine->request_stop();
    if (done.valid()) done.wait();
  }
};

EncodeRequest make_request(uint64_t id, int items, std::string model = "m") {
  EncodeRequest r;
  r.request_id = id;
  for (int i = 0; i < items; ++i) {
    EncodeItem it;
    it.item_id = fmt::format("r{}-{}", id, i);
    it.modality = i % 3 == 2 ? "video" : "image";
    it.model_id = model;
    it.num_tokens = 1 + (static_cast<int64_t>(id) + i) % 5;
    it.return_embedding = true;
    it.tensors.emplace_back("pixel_values", Tensor::zeros(DType::kF32, {it.num_tokens, 3}).value());
    r.items.push_back(std::move(it));
  }
  return r;
}

TEST(EngineTest, ConcurrentClientsGetEachRequestAnsweredOnceWithItsEmbeddings) {
  EngineHarness h;
  constexpr int kClients = 4, kPerClient = 15;
  std::vector<std::thread> clients;
  std::vector<int> bad(kClients, 0);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      ProtocolClient client(h.engine->endpoint());
      std::map<uint64_t, EncodeRequest> sent;
      for (int k = 0; k < kPerClient; ++k) {
        uint64_t id = static_cast<uint64_t>(c * 1000 + k + 1);
        sent[id] = make_request(id, 1 + k % 4);
        client.send(sent[id]);
      }
      std::set<uint64_t> answered;
      for (int k = 0; k < kPerClient; ++k) {
        Message m = client.recv();
        auto* resp = std::get_if<EncodeResponse>(&m);
        if (resp == nullptr || resp->code != ErrorCode::kOk || !sent.count(resp->request_id) ||
            !answered.insert(resp->request_id).second) {
          ++bad[c];
          continue;
        }
        const auto& req = sent[resp->request_id];
        if (resp->items.size() != req.items.size()) { ++bad[c]; continue; }
        for (size_t i = 0; i < req.items.size(); ++i) {
          const Tensor& e = resp->items[i].embedding;
          if (resp->items[i].item_id != req.items[i].item_id || e.dim(0) != req.items[i].num_tokens ||
              e.data<float>()[0] != static_cast<float>(req.items[i].num_tokens)) {
            ++bad[c];
          }
        }
      }
      // Nothing more arrives: every request was answered exactly once.
      auto extra = receive_message(client.dealer, false, 100ms);
      if (!extra.ok() || extra->has_value()) ++bad[c];
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(bad, std::vector<int>(kClients, 0));
  EXPECT_LE(h.fake->max_batch, 4u);
}

TEST(EngineTest, StatusIsAnsweredWhileABatchRuns) {
  EngineHarness h;
  h.fake->set_open(false);
  ProtocolClient client(h.engine->endpoint());
  client.send(make_request(1, 1));
  h.fake->wait_running();
  client.send(make_request(2, 2));  // same socket: handled before the query below
  const auto start = std::chrono::steady_clock::now();
  client.send(StatusQuery{99});
  Message m = client.recv(2s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  auto* s = std::get_if<StatusReply>(&m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->request_id, 99u);
  EXPECT_TRUE(s->ready);
  EXPECT_EQ(s->workers_alive, 2);
  EXPECT_EQ(s->queue_length, 2);  // request 2's items wait behind the running batch
  h.fake->set_open(true);
  std::set<uint64_t> ids;
  for (int i = 0; i < 2; ++i) ids.insert(std::get<EncodeResponse>(client.recv()).request_id);
  EXPECT_EQ(ids, (std::set<uint64_t>{1, 2}));
}

TEST(EngineTest, FailedBatchFailsOnlyItsRequests) {
  EngineHarness h;
  ProtocolClient client(h.engine->endpoint());
  client.send(make_request(1, 1, "bad"));
  client.send(make_request(2, 1, "good"));
  std::map<uint64_t, EncodeResponse> got;
  for (int i = 0; i < 2; ++i) {
    auto r = std::get<EncodeResponse>(client.recv());
    got[r.request_id] = r;
  }
  EXPECT_EQ(got[1].code, ErrorCode::kInternal);
  EXPECT_NE(got[1].error_message.find("exploded"), std::string::npos);
  EXPECT_EQ(got[2].code, ErrorCode::kOk);
}

TEST(EngineTest, AnItemThatFailsAloneFailsOnlyItsRequestNotItsBatchMates) {
  EngineHarness h;
  h.fake->set_open(false);
  ProtocolClient client(h.engine->endpoint());
  client.send(make_request(1, 1));  // holds the executor while 2 and 3 queue up
  h.fake->wait_running();
  client.send(make_request(2, 1));
  EncodeRequest undeliverable = make_request(3, 1);
  undeliverable.items[0].item_id = "undeliverable-3";
  client.send(undeliverable);
  client.send(StatusQuery{99});  // same socket: answered after both were queued
  Message m = client.recv();
  auto* s = std::get_if<StatusReply>(&m);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->queue_length, 2);
  h.fake->set_open(true);
  std::map<uint64_t, EncodeResponse> got;
  for (int i = 0; i < 3; ++i) {
    auto r = std::get<EncodeResponse>(client.recv());
    got[r.request_id] = r;
  }
  EXPECT_EQ(h.fake->max_batch, 2u);  // 2 and 3 ran in one batch
  EXPECT_EQ(got[2].code, ErrorCode::kOk) << got[2].error_message;
  ASSERT_EQ(got[2].items.size(), 1u);
  EXPECT_TRUE(got[2].items[0].embedding.defined());
  EXPECT_EQ(got[3].code, ErrorCode::kUnavailable);
  EXPECT_EQ(got[3].error_message, "item 'undeliverable-3': sidecar delivery failed: sidecar 'b' is unreachable");
  EXPECT_TRUE(got[3].items.empty());
}

TEST(EngineTest, ThrowingExecutorFailsOnlyItsBatchAndTheEngineGoesOn) {
  EngineHarness h;
  ProtocolClient client(h.engine->endpoint());
  client.send(make_request(1, 1, "throw"));
  auto r = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(r.request_id, 1u);
  EXPECT_EQ(r.code, ErrorCode::kInternal);
  EXPECT_NE(r.error_message.find("threw on purpose"), std::string::npos) << r.error_message;
  client.send(make_request(2, 2));
  r = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(r.request_id, 2u);
  EXPECT_EQ(r.code, ErrorCode::kOk) << r.error_message;
}

int64_t unix_ms_from_now(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             (std::chrono::system_clock::now() + d).time_since_epoch())
      .count();
}

TEST(EngineTest, RequestPastItsDeadlineIsAnsweredWhileABatchRunsAndNeverEncoded) {
  EngineHarness h;
  h.fake->set_open(false);
  ProtocolClient client(h.engine->endpoint());
  client.send(make_request(1, 1));  // holds the executor
  h.fake->wait_running();
  EncodeRequest late = make_request(2, 1);
  late.deadline_unix_ms = unix_ms_from_now(200ms);
  client.send(late);
  client.send(make_request(3, 1));
  const auto start = std::chrono::steady_clock::now();
  auto r = std::get<EncodeResponse>(client.recv(3s));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.request_id, 2u);
  EXPECT_EQ(r.code, ErrorCode::kDeadlineExceeded) << r.error_message;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 1s);  // not when the running batch ends
  h.fake->set_open(true);
  std::set<uint64_t> ok;
  for (int i = 0; i < 2; ++i) {
    auto done = std::get<EncodeResponse>(client.recv());
    EXPECT_EQ(done.code, ErrorCode::kOk);
    ok.insert(done.request_id);
  }
  EXPECT_EQ(ok, (std::set<uint64_t>{1, 3}));
  std::lock_guard<std::mutex> lock(h.fake->mu);
  EXPECT_EQ(std::count(h.fake->seen.begin(), h.fake->seen.end(), "r2-0"), 0) << "an expired item was encoded";
}

TEST(EngineTest, ResponsesSplitQueueAndEncodeTime) {
  EngineHarness h;
  h.fake->set_open(false);
  ProtocolClient client(h.engine->endpoint());
  client.send(make_request(1, 1));
  h.fake->wait_running();
  client.send(make_request(2, 3));  // waits behind request 1's batch
  std::this_thread::sleep_for(150ms);
  h.fake->set_open(true);
  auto first = std::get<EncodeResponse>(client.recv());
  auto second = std::get<EncodeResponse>(client.recv());
  ASSERT_EQ(first.request_id, 1u);
  ASSERT_EQ(second.request_id, 2u);
  EXPECT_GE(first.encode_us, 140000) << "request 1 spent ~150 ms in its batch";
  EXPECT_LT(first.queue_us, 100000);
  EXPECT_GE(second.queue_us, 140000) << "request 2 waited ~150 ms for the executor";
  EXPECT_EQ(first.batch_sizes, (std::vector<int32_t>{1}));
  // Items 0 and 1 are images (one batch of 2), item 2 a video (alone).
  EXPECT_EQ(second.batch_sizes, (std::vector<int32_t>{2, 2, 1}));
}

TEST(EngineTest, MalformedAndDuplicateRequestsGetErrors) {
  EngineHarness h;
  ProtocolClient client(h.engine->endpoint());
  // A request whose payload frame is missing: answered with an error for its id.
  Frames frames = encode_message(make_request(5, 1)).value();
  frames.payloads.clear();
  ASSERT_TRUE(send_frames(client.dealer, frames).ok());
  auto r = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(r.request_id, 5u);
  EXPECT_EQ(r.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error_message.find("payload"), std::string::npos) << r.error_message;
  // An empty request.
  client.send(EncodeRequest{6, {}, 0});
  r = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(r.request_id, 6u);
  EXPECT_EQ(r.code, ErrorCode::kInvalidArgument);
  // A duplicate id while the first is pending.
  h.fake->set_open(false);
  client.send(make_request(7, 1));
  h.fake->wait_running();
  client.send(make_request(7, 1));
  r = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(r.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error_message.find("already pending"), std::string::npos);
  h.fake->set_open(true);
  r = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(r.request_id, 7u);
  EXPECT_EQ(r.code, ErrorCode::kOk);
}

TEST(EngineTest, ShutdownDrainsQueuedWorkThenAcknowledgesAndCleansUp) {
  EngineHarness h({1, 1000});
  ProtocolClient client(h.engine->endpoint());
  h.fake->set_open(false);
  for (uint64_t id = 1; id <= 3; ++id) client.send(make_request(id, 2));
  h.fake->wait_running();
  client.send(Shutdown{50});
  // New work after the shutdown request is refused.
  client.send(make_request(4, 1));
  auto refused = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(refused.request_id, 4u);
  EXPECT_EQ(refused.code, ErrorCode::kUnavailable);
  h.fake->set_open(true);
  std::set<uint64_t> ok;
  for (int i = 0; i < 3; ++i) {
    auto r = std::get<EncodeResponse>(client.recv());
    EXPECT_EQ(r.code, ErrorCode::kOk) << r.error_message;
    ok.insert(r.request_id);
  }
  EXPECT_EQ(ok, (std::set<uint64_t>{1, 2, 3}));
  auto ack = std::get<StatusReply>(client.recv());
  EXPECT_EQ(ack.request_id, 50u);
  EXPECT_FALSE(ack.ready);
  ASSERT_EQ(h.done.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(h.done.get().ok());
  EXPECT_FALSE(fs::exists(h.dir.path() / "engine.sock"));
}

TEST(EngineTest, StopFlagDrainsLikeSigterm) {
  EngineHarness h;
  ProtocolClient client(h.engine->endpoint());
  h.fake->set_open(false);
  client.send(make_request(1, 3));
  h.fake->wait_running();
  h.engine->stop_flag().store(true);
  h.fake->set_open(true);
  auto r = std::get<EncodeResponse>(client.recv());
  EXPECT_EQ(r.code, ErrorCode::kOk);
  ASSERT_EQ(h.done.wait_for(5s), std::future_status::ready);
}

TEST(EngineTest, ExecutorStartFailureEndsRunWithItsError) {
  TempDir dir{"eric_engine_test"};
  Engine engine({dir.str(), {4, 100}, 1s});
  Status st = engine.run([]() -> Result<std::shared_ptr<BatchExecutor>> { return NotFound("no such model 'x'"); });
  EXPECT_EQ(st.code(), ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir.path() / "engine.sock"));
}

}  // namespace
}  // namespace eric::engine
