// Protocol messages over real ZeroMQ ipc:// sockets between two threads.
#include "engine/zmq_transport.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "../common/temp_dir.h"

namespace eric::engine {
namespace {

using testing::TempDir;

TEST(ZmqTransportTest, RouterDealerRoundTripOverIpc) {
  TempDir dir{"eric_zmq_test"};
  const std::string endpoint = "ipc://" + dir.file("engine.sock");
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(endpoint);

  constexpr int kFloats = 1 << 20;  // 4 MiB payload
  std::thread client([&] {
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(endpoint);
    EncodeRequest req;
    req.request_id = 5;
    EncodeItem item;
    item.item_id = "big";
    item.modality = "image";
    item.model_id = "m";
    item.num_tokens = 3;
    {
      // The only reference to the tensor goes into the message: the frame
      // must keep the bytes alive after this scope ends.
      Tensor t = Tensor::empty(DType::kF32, {kFloats}).value();
      for (int i = 0; i < kFloats; ++i) t.mutable_data<float>()[i] = static_cast<float>(i);
      item.tensors.emplace_back("pixel_values", t);
    }
    req.items.push_back(std::move(item));
    ASSERT_TRUE(send_message(dealer, req).ok());
    req.items.clear();

    auto got = receive_message(dealer, /*with_routing_id=*/false, std::chrono::seconds(10));
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_TRUE(got->has_value());
    ASSERT_TRUE((*got)->status.ok()) << (*got)->status.to_string();
    const auto& resp = std::get<EncodeResponse>((*got)->message);
    EXPECT_EQ(resp.request_id, 5u);
    ASSERT_EQ(resp.items.size(), 1u);
    const Tensor& e = resp.items[0].embedding;
    EXPECT_EQ(e.shape(), (Shape{3, 2}));
    EXPECT_EQ(e.data<float>()[5], 5.5f);
  });

  auto got = receive_message(router, /*with_routing_id=*/true, std::chrono::seconds(10));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_TRUE(got->has_value());
  ReceivedMessage& m = **got;
  ASSERT_TRUE(m.status.ok()) << m.status.to_string();
  EXPECT_FALSE(m.routing_id.empty());
  EXPECT_EQ(m.request_id, 5u);
  const auto& req = std::get<EncodeRequest>(m.message);
  const Tensor& pv = req.items[0].tensors[0].second;
  EXPECT_EQ(pv.shape(), (Shape{kFloats}));
  // Borrowed from the received frame, not copied into owned storage.
  EXPECT_FALSE(pv.storage()->owned());
  bool all_match = true;
  for (int i = 0; i < kFloats; ++i) all_match &= pv.data<float>()[i] == static_cast<float>(i);
  EXPECT_TRUE(all_match);

  EncodeResponse resp;
  resp.request_id = 5;
  resp.items.push_back({"big", Tensor::from_vector<float>({0, 1.1f, 2, 3, 4, 5.5f}, {3, 2}).value()});
  ASSERT_TRUE(send_message(router, resp, m.routing_id).ok());
  client.join();
}

TEST(ZmqTransportTest, ReceiveTimesOutWithNothing) {
  TempDir dir{"eric_zmq_test"};
  zmq::context_t ctx;
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  pull.set(zmq::sockopt::linger, 0);
  pull.bind("ipc://" + dir.file("x.sock"));
  auto start = std::chrono::steady_clock::now();
  auto got = receive_message(pull, false, std::chrono::milliseconds(50));
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(45));
}

TEST(ZmqTransportTest, MalformedMessageReportsErrorAndRequestId) {
  TempDir dir{"eric_zmq_test"};
  const std::string endpoint = "ipc://" + dir.file("x.sock");
  zmq::context_t ctx;
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  pull.set(zmq::sockopt::linger, 0);
  pull.bind(endpoint);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 0);
  push.connect(endpoint);
  // A valid request header with one payload frame missing.
  EncodeRequest req;
  req.request_id = 77;
  EncodeItem item;
  item.item_id = "a";
  item.modality = "image";
  item.model_id = "m";
  item.tensors.emplace_back("x", Tensor::zeros(DType::kF32, {2}).value());
  req.items.push_back(item);
  Frames frames = encode_message(req).value();
  frames.payloads.clear();
  ASSERT_TRUE(send_frames(push, frames).ok());
  auto got = receive_message(pull, false, std::chrono::seconds(5));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_FALSE((*got)->status.ok());
  EXPECT_NE((*got)->status.message().find("payload frame"), std::string::npos) << (*got)->status.to_string();
  EXPECT_EQ((*got)->request_id, 77u);
}

}  // namespace
}  // namespace eric::engine
