#include "router/engine_client.h"

#include <gtest/gtest.h>

#include <future>

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
  testing::FakeEngine engine(dir.path);
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
  testing::FakeEngine engine(dir.path);
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
  testing::FakeEngine engine(dir.path);
  engine.answer_encodes = false;
  auto client = *EngineClient::connect(EngineClientOptions{engine.endpoint()});
  auto res = submit(*client, one_item("x", 1), std::chrono::milliseconds(100)).get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(client->pending(), 0u);
}

TEST(EngineClient, MarkDeadFailsPendingAndLaterRequests) {
  testing::TempDir dir;
  testing::FakeEngine engine(dir.path);
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
  auto client = *EngineClient::connect(EngineClientOptions{"ipc://" + dir.path + "/engine.sock"});
  auto res = submit(*client, one_item("x", 1), std::chrono::milliseconds(100)).get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), ErrorCode::kDeadlineExceeded);
}

TEST(EngineClient, ShutdownReachesTheEngineAndDestructionFailsPending) {
  testing::TempDir dir;
  testing::FakeEngine engine(dir.path);
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

}  // namespace
}  // namespace eric::router
