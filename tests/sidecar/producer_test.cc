// The worker's side: EmbeddingSender::deliver_batch against a real in-process
// sidecar, as rank 0 runs it after each batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "../common/temp_dir.h"
#include "sidecar/producer.h"
#include "sidecar/server.h"

namespace eric::sidecar {
namespace {

using namespace std::chrono_literals;

class ProducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SidecarOptions o;
    o.node = "a";
    ASSERT_TRUE(o.registry.add({"a", "127.0.0.1:0", {0, 1}}).ok());
    o.control_socket = dir_.file("a.sock");
    o.arena_bytes = 64 << 10;
    o.alloc_wait = 200ms;
    auto s = SidecarServer::start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    server_ = std::move(s).value();
  }
  void TearDown() override {
    server_.reset();
  }
  engine::EncodeRequest request(std::vector<std::vector<std::vector<int32_t>>> receivers) {
    engine::EncodeRequest r;
    r.request_id = 5;
    for (size_t i = 0; i < receivers.size(); ++i) {
      engine::EncodeItem it;
      it.item_id = fmt::format("item-{}", i);
      it.receiver_sidecar_ranks = receivers[i];
      r.items.push_back(std::move(it));
    }
    return r;
  }
  engine::EncodeResponse response(size_t n, int64_t rows) {
    engine::EncodeResponse resp;
    resp.request_id = 5;
    for (size_t i = 0; i < n; ++i) {
      std::vector<float> v(static_cast<size_t>(rows) * 8);
      for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(i * 1000 + k);
      resp.items.push_back({fmt::format("item-{}", i), *Tensor::from_vector(v, Shape{rows, 8})});
    }
    return resp;
  }
  testing::TempDir dir_{"eric_sidecar_producer"};
  std::unique_ptr<SidecarServer> server_;
};

TEST_F(ProducerTest, DeliversItemsWithReceiversAndLeavesTheOthers) {
  EmbeddingSender sender(dir_.file("a.sock"), 2000ms);
  auto req = request({{{0}}, {}, {{1}}});
  auto resp = response(3, 4);
  sender.deliver_batch(req, resp);
  ASSERT_EQ(resp.code, ErrorCode::kOk) << resp.error_message;
  EXPECT_EQ(resp.items.size(), 3u);
  auto c1 = SidecarClient::connect(dir_.file("a.sock"), 1);
  ASSERT_TRUE(c1.ok());
  auto v = (*c1)->recv("item-2", 0, 0ms);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->dtype, "F32");
  EXPECT_EQ(v->shape, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(static_cast<const float*>(v->data)[1], 2001.0f);
  EXPECT_EQ((*c1)->recv("item-1", 0, 0ms).status().code(), ErrorCode::kDeadlineExceeded);  // no receivers: not sent
}

TEST_F(ProducerTest, AFullArenaFailsOnlyTheItemThatDidNotFitNamingItAs503) {
  EmbeddingSender sender(dir_.file("a.sock"), 2000ms);
  // 64 KiB arena; each item is 32 rows x 8 floats = 1 KiB -> 4 KiB pages: the 17th cannot fit.
  std::vector<std::vector<std::vector<int32_t>>> receivers(17, {{0}});
  auto req = request(receivers);
  auto resp = response(17, 32);
  sender.deliver_batch(req, resp);
  // The batch as a whole succeeded; only item-16 carries an error.
  EXPECT_EQ(resp.code, ErrorCode::kOk) << resp.error_message;
  ASSERT_EQ(resp.items.size(), 17u);
  for (size_t i = 0; i < 16; ++i) EXPECT_FALSE(resp.items[i].failed()) << i << ": " << resp.items[i].error_message;
  const auto& failed = resp.items[16];
  EXPECT_EQ(failed.error_code, ErrorCode::kUnavailable);
  EXPECT_NE(failed.error_message.find("item 'item-16': sidecar delivery failed"), std::string::npos)
      << failed.error_message;
  EXPECT_NE(failed.error_message.find("stayed full for 200 ms"), std::string::npos) << failed.error_message;
  EXPECT_FALSE(failed.embedding.defined());
}

TEST_F(ProducerTest, AnUnknownReceiverFailsOnlyItsItemAndTheNextItemIsStillDelivered) {
  EmbeddingSender sender(dir_.file("a.sock"), 2000ms);
  auto req = request({{{0}}, {{7}}, {{1}}});  // rank 7 is in no sidecar's registry entry
  auto resp = response(3, 2);
  sender.deliver_batch(req, resp);
  EXPECT_EQ(resp.code, ErrorCode::kOk) << resp.error_message;
  ASSERT_EQ(resp.items.size(), 3u);
  EXPECT_FALSE(resp.items[0].failed());
  EXPECT_FALSE(resp.items[2].failed());
  EXPECT_EQ(resp.items[1].error_code, ErrorCode::kNotFound);
  EXPECT_NE(resp.items[1].error_message.find("item 'item-1': sidecar delivery failed"), std::string::npos)
      << resp.items[1].error_message;
  EXPECT_NE(resp.items[1].error_message.find("receiver rank 7"), std::string::npos) << resp.items[1].error_message;
  auto c1 = SidecarClient::connect(dir_.file("a.sock"), 1);
  ASSERT_TRUE(c1.ok());
  auto v = (*c1)->recv("item-2", 0, 0ms);  // delivered after its batch-mate failed
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(static_cast<const float*>(v->data)[1], 2001.0f);
}

TEST_F(ProducerTest, ReconnectsAfterTheSidecarRestarted) {
  EmbeddingSender sender(dir_.file("a.sock"), 2000ms);
  auto req = request({{{0}}});
  auto resp = response(1, 1);
  sender.deliver_batch(req, resp);
  ASSERT_EQ(resp.code, ErrorCode::kOk) << resp.error_message;
  TearDown();
  SetUp();
  req.items[0].item_id = "again";
  resp = response(1, 1);
  sender.deliver_batch(req, resp);
  EXPECT_EQ(resp.code, ErrorCode::kOk) << resp.error_message;
}

TEST_F(ProducerTest, WithoutASidecarItemsWithReceiversAreRefused) {
  auto req = request({{}, {{0, 1}}});
  auto resp = response(2, 1);
  reject_undeliverable(req, resp);
  EXPECT_EQ(resp.code, ErrorCode::kOk) << resp.error_message;  // only item-1 fails, not its batch
  ASSERT_EQ(resp.items.size(), 2u);
  EXPECT_FALSE(resp.items[0].failed());
  EXPECT_TRUE(resp.items[0].embedding.defined());
  EXPECT_EQ(resp.items[1].error_code, ErrorCode::kInvalidArgument);
  EXPECT_NE(resp.items[1].error_message.find("item 'item-1' names receiver_sidecar_ranks"), std::string::npos)
      << resp.items[1].error_message;
  auto plain = request({{}});
  auto ok = response(1, 1);
  reject_undeliverable(plain, ok);
  EXPECT_EQ(ok.code, ErrorCode::kOk);
  EXPECT_FALSE(ok.items[0].failed());
}

}  // namespace
}  // namespace eric::sidecar
