// An in-test engine: a thread with a ROUTER socket speaking the real
// protocol (engine/zmq_transport.h), with scriptable behaviour. Embeddings it
// returns are a function of the item's pixel_values, so tests can tell the
// items' tensors travelled intact.
#pragma once

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "engine/protocol.h"

namespace eric::router::testing {

class FakeEngine {
 public:
  explicit FakeEngine(const std::string& run_dir);
  ~FakeEngine();

  std::string endpoint() const { return endpoint_; }

  std::atomic<bool> ready{true};
  std::atomic<bool> answer_encodes{true};     // false: swallow encode requests (timeouts)
  std::atomic<int> fail_code{0};              // non-zero: answer encodes with this ErrorCode
  std::atomic<int> delay_ms{0};               // before each encode answer
  std::atomic<int> encodes_received{0};
  std::atomic<int> shutdowns_received{0};

  // The embedding the fake returns for an item: [num_tokens, 2] float32 with
  // row r = {sum(pixel_values) , r}.
  static engine::ItemResult embed(const engine::EncodeItem& item);

 private:
  void loop();

  std::string endpoint_;
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::router};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace eric::router::testing
