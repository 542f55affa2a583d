// ProtocolClient: one DEALER socket speaking the engine protocol over ipc://,
// as the router does; shared by the engine tests (fake executors) and the
// executor tests (the engine with real worker processes).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>

#include "engine/zmq_transport.h"

namespace eric::testing {

struct ProtocolClient {
  zmq::context_t ctx{1};
  zmq::socket_t dealer{ctx, zmq::socket_type::dealer};  // public: tests also send raw frames

  explicit ProtocolClient(const std::string& endpoint) {
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(endpoint);
  }

  void send(const engine::Message& m) { ASSERT_TRUE(engine::send_message(dealer, m).ok()); }

  // The next message, or nothing when none (or no valid one) comes within timeout.
  std::optional<engine::Message> try_recv(std::chrono::milliseconds timeout) {
    auto got = engine::receive_message(dealer, false, timeout);
    if (!got.ok() || !got->has_value() || !(*got)->status.ok()) return std::nullopt;
    return std::move((*got)->message);
  }

  // The next message, which must come within timeout and decode.
  engine::Message recv(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto got = engine::receive_message(dealer, false, timeout);
    EXPECT_TRUE(got.ok() && got->has_value()) << "no answer from the engine";
    if (!got.ok() || !got->has_value()) return engine::Message{};
    EXPECT_TRUE((*got)->status.ok()) << (*got)->status.to_string();
    return std::move((*got)->message);
  }

  // Asks for status until the engine says ready or timeout passes; the last reply.
  engine::StatusReply wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    engine::StatusReply last;
    for (uint64_t q = 1'000'000; std::chrono::steady_clock::now() < deadline; ++q) {
      EXPECT_TRUE(engine::send_message(dealer, engine::StatusQuery{q}).ok());
      auto m = try_recv(std::chrono::seconds(2));
      if (m && std::holds_alternative<engine::StatusReply>(*m)) {
        last = std::get<engine::StatusReply>(*m);
        if (last.ready) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return last;
  }
};

}  // namespace eric::testing
