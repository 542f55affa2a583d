#include "router/engine_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include <signal.h>

#include <filesystem>

#include "router/deadline_timer.h"
#include "router/engine_supervisor.h"
#include "router/metrics.h"

#include "fake_engine.h"
#include "test_fixtures.h"

namespace eric::router {
namespace {

engine::EncodeRequest one_item(const std::string& id, float value) {
  engine::EncodeRequest r;
  engine::EncodeItem item;
  item.item_id = id;
  item.modality = "image";
  item.model_id = "m";
  item.num_tokens = 3;
  item.return_embedding = true;
  item.tensors.emplace_back("pixel_values", *Tensor::from_vector<float>({value, value}, Shape{1, 2}));
  r.items.push_back(std::move(item));
  return r;
}

std::future<Result<engine::EncodeResponse>> submit(EngineClient& c, engine::EncodeRequest r,
                                                   std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
  auto p = std::make_shared<std::promise<Result<engine::EncodeResponse>>>();
  auto f = p->get_future();
  c.submit(std::move(r), [p](Result<engine::EncodeResponse> res) { p->set_value(std::move(res)); }, timeout);
  return f;
}

TEST(EngineClient, RoundTripsManyRequestsFromManyThreads) {
  testing::TempDir dir;
  testing::FakeEngine engine(dir.str());
  auto client = *EngineClient::connect(EngineClientOptions{engine.endpoint()});
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        float v = static_cast<float>(t * 100 + i);
        auto res = submit(*client, one_item("x", v)).get();
        if (res.ok() && res->code == ErrorCode::kOk && res->items.size() == 1 &&
            res->items[0].embedding.data<float>()[0] == 2 * v && res->items[0].embedding.dim(0) == 3) {
          good++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good, 100);
  EXPECT_EQ(client->pending(), 0u);
}

TEST(EngineClient, StatusQuery) {
  testing::TempDir dir;
  testing::FakeEngine engine(dir.str());
  auto client = *EngineClient::connect(EngineClientOptions{engine.endpoint()});
  std::promise<Result<engine::StatusReply>> p;
  client->query_status([&](Result<engine::StatusReply> r) { p.set_value(std::move(r)); }, std::chrono::seconds(5));
  auto reply = p.get_future().get();
  ASSERT_TRUE(reply.ok()) << reply.status().to_string();
  EXPECT_TRUE(reply->ready);
  EXPECT_EQ(reply->workers_total, 1);
}

TEST(EngineClient, TimeoutFailsTheRequestOnce) {
  testing::TempDir dir;
  testing::FakeEngine engine(dir.str());
  engine.answer_encodes = false;
  auto client = *EngineClient::connect(EngineClientOptions{engine.endpoint()});
  auto res = submit(*client, one_item("x", 1), std::chrono::milliseconds(100)).get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(client->pending(), 0u);
}

TEST(EngineClient, MarkDeadFailsPendingAndLaterRequests) {
  testing::TempDir dir;
  testing::FakeEngine engine(dir.str());
  engine.answer_encodes = false;
  auto client = *EngineClient::connect(EngineClientOptions{engine.endpoint()});
  auto pending = submit(*client, one_item("x", 1));
  while (engine.encodes_received == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  client->mark_dead("engine process exited with code 3");
  auto res = pending.get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(res.status().message().find("exited with code 3"), std::string::npos);
  auto later = submit(*client, one_item("y", 1)).get();
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("exited with code 3"), std::string::npos);
  EXPECT_TRUE(client->dead());
}

TEST(EngineClient, NoEngineTimesOutInsteadOfHanging) {
  testing::TempDir dir;
  auto client = *EngineClient::connect(EngineClientOptions{"ipc://" + dir.file("engine.sock")});
  auto res = submit(*client, one_item("x", 1), std::chrono::milliseconds(100)).get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), ErrorCode::kDeadlineExceeded);
}

TEST(EngineClient, ShutdownReachesTheEngineAndDestructionFailsPending) {
  testing::TempDir dir;
  testing::FakeEngine engine(dir.str());
  engine.answer_encodes = false;
  auto client = *EngineClient::connect(EngineClientOptions{engine.endpoint()});
  auto pending = submit(*client, one_item("x", 1));
  client->send_shutdown();
  while (engine.shutdowns_received == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  client.reset();
  auto res = pending.get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), ErrorCode::kUnavailable);
}

Result<engine::StatusReply> status_of(EngineClient& c, std::chrono::milliseconds timeout) {
  std::promise<Result<engine::StatusReply>> p;
  c.query_status([&](Result<engine::StatusReply> r) { p.set_value(std::move(r)); }, timeout);
  return p.get_future().get();
}

// The router's path through an engine restart: dead (encodes refused, status
// probes still sent), a new engine on the same endpoint, reconnect, alive.
TEST(EngineClient, ReconnectsToARestartedEngine) {
  testing::TempDir dir;
  auto first = std::make_unique<testing::FakeEngine>(dir.str());
  auto client = *EngineClient::connect(EngineClientOptions{first->endpoint()});
  ASSERT_TRUE(submit(*client, one_item("x", 1)).get().ok());
  first.reset();  // the engine dies
  client->mark_dead("engine process killed by signal 9");
  auto refused = submit(*client, one_item("y", 1)).get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnavailable);
  // Nobody listens: a probe times out instead of hanging.
  auto probe = status_of(*client, std::chrono::milliseconds(100));
  EXPECT_FALSE(probe.ok());

  testing::FakeEngine second(dir.str());
  second.ready = false;  // still loading
  client->reconnect();
  auto loading = status_of(*client, std::chrono::seconds(5));
  ASSERT_TRUE(loading.ok()) << loading.status().to_string();
  EXPECT_FALSE(loading->ready);
  EXPECT_TRUE(client->dead()) << "encodes wait for mark_alive()";
  second.ready = true;
  client->mark_alive();
  EXPECT_FALSE(client->dead());
  auto res = submit(*client, one_item("z", 3)).get();
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  EXPECT_EQ(res->code, ErrorCode::kOk);
  EXPECT_EQ(res->items[0].embedding.data<float>()[0], 6.0f);
  EXPECT_EQ(second.encodes_received, 1);
  EXPECT_EQ(client->pending(), 0u);
}

TEST(DeadlineTimer, FiresInOrderAtTheirTimesAndCancelledOnesNever) {
  DeadlineTimer timer;
  std::mutex mu;
  std::vector<int> fired;
  const auto start = DeadlineTimer::Clock::now();
  auto record = [&](int v) {
    return [&, v] {
      std::lock_guard<std::mutex> lock(mu);
      fired.push_back(v);
    };
  };
  timer.schedule(start + std::chrono::milliseconds(120), record(3));
  timer.schedule(start + std::chrono::milliseconds(40), record(1));
  const uint64_t cancelled = timer.schedule(start + std::chrono::milliseconds(80), record(2));
  timer.schedule(start - std::chrono::milliseconds(5), record(0));  // already due: at once
  timer.cancel(cancelled);
  timer.cancel(cancelled);  // twice: harmless
  timer.cancel(12345);      // unknown: harmless
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(fired, (std::vector<int>{0}));
  }
  while (timer.pending() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(DeadlineTimer::Clock::now() - start, std::chrono::milliseconds(120));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 3}));
}

TEST(DeadlineTimer, DestructionDropsTimersNotYetDue) {
  std::atomic<int> fired{0};
  {
    DeadlineTimer timer;
    timer.schedule(DeadlineTimer::Clock::now() + std::chrono::hours(1), [&] { fired++; });
    EXPECT_EQ(timer.pending(), 1u);
  }
  EXPECT_EQ(fired, 0);
}

// The supervisor with stand-in engine processes (/bin/sleep, /bin/false) and
// the in-test FakeEngine answering on the run folder's endpoint.
TEST(EngineSupervisor, KilledEngineIsReplacedAndServesAgainOnProbationInACrashLoop) {
  testing::TempDir dir;
  Metrics metrics;
  auto process = *EngineProcess::spawn({"/bin/sleep", "30"});
  const pid_t first_pid = process->pid();
  auto engine = std::make_unique<testing::FakeEngine>(dir.str());
  auto client = *EngineClient::connect(EngineClientOptions{engine->endpoint()});
  EngineSupervisorOptions o;
  o.engine_argv = {"/bin/sleep", "30"};
  o.run_dir = dir.str();
  o.restart_backoff_initial = std::chrono::milliseconds(100);
  o.start_timeout = std::chrono::seconds(10);
  o.crash_loop_threshold = 1;  // this one death already counts as a crash loop
  int cleanups = 0;
  o.cleanup_dead_engine = [&] { cleanups++; };
  EngineSupervisor supervisor(o, process, *client, metrics);

  ASSERT_EQ(::kill(first_pid, SIGKILL), 0);
  const auto killed_at = std::chrono::steady_clock::now();
  while (!client->dead() && std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(5)) {
    supervisor.tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(client->dead());
  EXPECT_EQ(cleanups, 1);
  EXPECT_FALSE(std::filesystem::exists(dir.file("engine.sock"))) << "the dead engine's socket file stays";
  EXPECT_NE(metrics.serialize().find("eric_engine_up 0"), std::string::npos);
  // The "new engine" binds the endpoint; the supervisor starts its process
  // after the backoff, reconnects and goes back to serving once it is ready.
  engine = std::make_unique<testing::FakeEngine>(dir.str());
  while (client->dead() && std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(10)) {
    supervisor.tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(std::chrono::steady_clock::now() - killed_at, std::chrono::milliseconds(100)) << "no backoff";
  ASSERT_FALSE(client->dead());
  EXPECT_EQ(supervisor.restarts(), 1);
  EXPECT_NE(process->pid(), first_pid);
  EXPECT_NE(metrics.serialize().find("eric_engine_up 1"), std::string::npos);
  // Serving, but on probation (/health 503) until a request succeeds.
  EXPECT_NE(client->probation().find("crash loop"), std::string::npos) << client->probation();
  auto res = submit(*client, one_item("after", 2)).get();
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  EXPECT_EQ(res->code, ErrorCode::kOk);
  EXPECT_EQ(client->probation(), "");
}

TEST(EngineSupervisor, CrashingEngineIsRetriedWithDoublingBackoff) {
  testing::TempDir dir;
  Metrics metrics;
  auto process = *EngineProcess::spawn({"/bin/false"});
  auto client = *EngineClient::connect(EngineClientOptions{"ipc://" + dir.file("engine.sock")});
  EngineSupervisorOptions o;
  o.engine_argv = {"/bin/false"};  // dies at once, every time
  o.run_dir = dir.str();
  o.restart_backoff_initial = std::chrono::milliseconds(50);
  o.restart_backoff_max = std::chrono::milliseconds(400);
  EngineSupervisor supervisor(o, process, *client, metrics);
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500)) {
    supervisor.tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Backoffs 50, 100, 200, 400, 400 ... ms: about 5 restarts in 1.5 s
  // (without backoff it would be hundreds), and never serving.
  EXPECT_GE(supervisor.restarts(), 3);
  EXPECT_LE(supervisor.restarts(), 7);
  EXPECT_TRUE(client->dead());
  EXPECT_NE(metrics.serialize().find("eric_engine_up 0"), std::string::npos);
}

}  // namespace
}  // namespace eric::router
