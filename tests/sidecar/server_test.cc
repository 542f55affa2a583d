// Two sidecars in one process, talking TCP over loopback, with producer and
// consumer clients on their control sockets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "../common/free_port.h"
#include "../common/temp_dir.h"
#include "sidecar/client.h"
#include "sidecar/server.h"

namespace eric::sidecar {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using testing::free_port;

class SidecarPair : public ::testing::Test {
 protected:
  void SetUp() override {
    addr_a_ = fmt::format("127.0.0.1:{}", free_port());
    addr_b_ = fmt::format("127.0.0.1:{}", free_port());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
  }
  RankRegistry registry() {
    RankRegistry r;
    EXPECT_TRUE(r.add({"a", addr_a_, {0, 1}}).ok());
    EXPECT_TRUE(r.add({"b", addr_b_, {2, 3}}).ok());
    EXPECT_TRUE(r.add({"gone", "127.0.0.1:1", {9}}).ok());  // nobody listens there
    return r;
  }
  std::unique_ptr<SidecarServer> start(const std::string& node, size_t arena_bytes = 8 << 20,
                                       Millis alloc_wait = 2000ms, Millis ttl = 60s) {
    SidecarOptions o;
    o.node = node;
    o.registry = registry();
    o.control_socket = socket_of(node);
    o.arena_bytes = arena_bytes;
    o.alloc_wait = alloc_wait;
    o.item_ttl = ttl;
    o.reap_interval = 20ms;
    o.wire_chunk_bytes = 64 << 10;  // many chunks even for small tensors
    o.connect_timeout = 500ms;
    o.metrics_address = "127.0.0.1:0";
    auto s = SidecarServer::start(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::string socket_of(const std::string& node) { return dir_.file(node + ".sock"); }
  std::unique_ptr<SidecarClient> client(const std::string& node, int32_t rank) {
    auto c = SidecarClient::connect(socket_of(node), rank, 2000ms);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static nlohmann::json stats(SidecarClient& c) { return nlohmann::json::parse(*c.stats()); }

  testing::TempDir dir_{"eric_sidecar_test"};
  std::string addr_a_, addr_b_;
  std::unique_ptr<SidecarServer> a_, b_;
};

std::vector<float> pattern(size_t n, float seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = seed + static_cast<float>(i) * 0.25f;
  return v;
}

TEST_F(SidecarPair, DeliversToLocalAndRemoteGroupsBeforePutReturns) {
  a_ = start("a");
  b_ = start("b");
  auto producer = client("a", -1);
  auto c0 = client("a", 0);
  auto c2 = client("b", 2);
  ASSERT_TRUE(producer && c0 && c2);
  const auto data = pattern(300 * 1000, 1.5f);  // 1.2 MB: many 64 KiB wire chunks
  Status st = producer->send("item-1", 0, "F32", {300, 1000}, data.data(), data.size() * 4, {{0, 1}, {2, 3}}, 5000ms);
  ASSERT_TRUE(st.ok()) << st.to_string();
  // Acknowledged means already there: no waiting needed on either node.
  for (SidecarClient* c : {c0.get(), c2.get()}) {
    auto v = c->recv("item-1", 0, 0ms);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    EXPECT_EQ(v->dtype, "F32");
    EXPECT_EQ(v->shape, (std::vector<int64_t>{300, 1000}));
    ASSERT_EQ(v->bytes, data.size() * 4);
    EXPECT_EQ(std::memcmp(v->data, data.data(), v->bytes), 0);
    ASSERT_TRUE(c->done("item-1", 0).ok());
  }
  EXPECT_EQ(stats(*c2)["transfers_received"], 1);
  EXPECT_EQ(stats(*c2)["bytes_received"], data.size() * 4);
  EXPECT_EQ(stats(*c0)["arena_allocations"], 1);  // rank 1 has not collected its copy yet
  auto c1 = client("a", 1);
  ASSERT_TRUE(c1->recv("item-1", 0, 0ms).ok());
  ASSERT_TRUE(c1->done("item-1", 0).ok());
  EXPECT_EQ(stats(*c0)["arena_used_bytes"], 0);
}

TEST_F(SidecarPair, ConsumerBlocksUntilTheItemArrives) {
  a_ = start("a");
  b_ = start("b");
  auto c3 = client("b", 3);
  std::thread producer([&] {
    std::this_thread::sleep_for(100ms);
    auto p = client("a", -1);
    int32_t v = 7;
    EXPECT_TRUE(p->send("late", 2, "I32", {1}, &v, 4, {{3}}, 5000ms).ok());
  });
  auto v = c3->recv("late", 2, 5000ms);
  producer.join();
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*static_cast<const int32_t*>(v->data), 7);
  EXPECT_EQ(c3->recv("late", 3, 10ms).status().code(), ErrorCode::kDeadlineExceeded);  // other chunk
}

TEST_F(SidecarPair, ClearErrorsForUnknownUnreachableAndDownReceivers) {
  a_ = start("a");
  auto p = client("a", -1);
  float x = 1;
  Status unknown = p->send("u", 0, "F32", {1}, &x, 4, {{0}, {42}}, 2000ms);
  EXPECT_EQ(unknown.code(), ErrorCode::kNotFound);
  EXPECT_NE(unknown.message().find("receiver rank 42 (group 1) is not served by any sidecar"), std::string::npos)
      << unknown.message();
  // b is in the registry but not running.
  auto t0 = std::chrono::steady_clock::now();
  Status down = p->send("d", 0, "F32", {1}, &x, 4, {{0}, {2}}, 3000ms);
  EXPECT_EQ(down.code(), ErrorCode::kUnavailable) << down.to_string();
  EXPECT_NE(down.message().find("sidecar 'b' (" + addr_b_ + ") is unreachable"), std::string::npos) << down.message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms);
  // The local copy of a failed send was taken back: a retry with the id works once b is up.
  auto c0 = client("a", 0);
  EXPECT_EQ(c0->recv("d", 0, 0ms).status().code(), ErrorCode::kDeadlineExceeded);
  b_ = start("b");
  EXPECT_TRUE(p->send("d", 0, "F32", {1}, &x, 4, {{0}, {2}}, 3000ms).ok());
  // A consumer may only claim ranks of its own sidecar.
  auto wrong = SidecarClient::connect(socket_of("a"), 2, 1000ms);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("rank 2 is served by sidecar 'b', not by 'a'"), std::string::npos);
  // Malformed tensors are refused by the sidecar, naming the item.
  Status bad = p->send("bad", 0, "F32", {3}, &x, 4, {{0}}, 1000ms);
  EXPECT_NE(bad.message().find("item 'bad' chunk 0: 4 bytes for a F32 tensor of 12 bytes"), std::string::npos)
      << bad.message();
  EXPECT_EQ(stats(*c0)["arena_used_bytes"], 4096);  // only 'd' (not yet collected) holds arena space
}

TEST_F(SidecarPair, FullArenaAppliesBackpressureThenFailsTheItem) {
  a_ = start("a", /*arena_bytes=*/1 << 20, /*alloc_wait=*/300ms);
  b_ = start("b", /*arena_bytes=*/1 << 20, /*alloc_wait=*/300ms);
  auto p = client("a", -1);
  auto c2 = client("b", 2);
  std::vector<char> big(768 << 10, 'x');
  ASSERT_TRUE(p->send("first", 0, "U8", {static_cast<int64_t>(big.size())}, big.data(), big.size(), {{2}}, 3000ms).ok());
  // b's arena holds 'first' until rank 2 collects it: 'second' waits, then fails cleanly.
  Status st = p->send("second", 0, "U8", {static_cast<int64_t>(big.size())}, big.data(), big.size(), {{2}}, 3000ms);
  EXPECT_EQ(st.code(), ErrorCode::kResourceExhausted) << st.to_string();
  EXPECT_NE(st.message().find("sidecar 'b'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("stayed full"), std::string::npos) << st.message();
  EXPECT_EQ(stats(*c2)["alloc_failures"], 1);
  // Backpressure, not failure, when the consumer collects during the wait.
  std::thread consumer([&] {
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(c2->recv("first", 0, 0ms).ok());
    EXPECT_TRUE(c2->done("first", 0).ok());
  });
  st = p->send("third", 0, "U8", {static_cast<int64_t>(big.size())}, big.data(), big.size(), {{2}}, 3000ms);
  consumer.join();
  EXPECT_TRUE(st.ok()) << st.to_string();
  // Both arenas are back to what is held: only 'third' on b; nothing on a.
  EXPECT_EQ(stats(*p)["arena_used_bytes"], 0);
  EXPECT_EQ(stats(*c2)["arena_allocations"], 1);
}

TEST_F(SidecarPair, UncollectedItemsAreReclaimedWithACounter) {
  a_ = start("a", 8 << 20, 2000ms, /*ttl=*/200ms);
  auto p = client("a", -1);
  int64_t v = 5;
  ASSERT_TRUE(p->send("forgotten", 0, "I64", {1}, &v, 8, {{1}}, 1000ms).ok());
  EXPECT_EQ(stats(*p)["arena_allocations"], 1);
  std::this_thread::sleep_for(500ms);
  auto s = stats(*p);
  EXPECT_EQ(s["items_reclaimed"], 1);
  EXPECT_EQ(s["arena_allocations"], 0);
  auto c1 = client("a", 1);
  EXPECT_EQ(c1->recv("forgotten", 0, 0ms).status().code(), ErrorCode::kDeadlineExceeded);

  // The same counter for Prometheus, on GET /metrics.
  auto conn = make_tcp_transport()->connect(a_->metrics_address(), 1000ms);
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  std::string get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE((*conn)->write_all({{get.data(), get.size()}}, 1000ms).ok());
  std::string answer;
  char buf[4096];
  for (auto n = (*conn)->read_some(buf, sizeof(buf), 2000ms); n.ok(); n = (*conn)->read_some(buf, sizeof(buf), 2000ms)) {
    answer.append(buf, *n);
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK", 0), 0u) << answer;
  EXPECT_NE(answer.find("# TYPE eric_sidecar_items_reclaimed_total counter\neric_sidecar_items_reclaimed_total{node=\"a\"} 1\n"),
            std::string::npos)
      << answer;
  EXPECT_NE(answer.find("eric_sidecar_arena_used_bytes{node=\"a\"} 0\n"), std::string::npos) << answer;
}

TEST_F(SidecarPair, ConcurrentProducersAreDeliveredExactlyOnce) {
  a_ = start("a", 32 << 20);
  b_ = start("b", 32 << 20);
  constexpr int kProducers = 4, kItems = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      auto p = client("a", -1);
      for (int i = 0; i < kItems; ++i) {
        auto data = pattern(4096 + 100 * i, static_cast<float>(t * 100 + i));
        Status st = p->send(fmt::format("p{}-{}", t, i), 0, "F32", {static_cast<int64_t>(data.size())}, data.data(),
                            data.size() * 4, {{0}, {3}}, 5000ms);
        if (!st.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto c0 = client("a", 0);
  auto c3 = client("b", 3);
  for (int t = 0; t < kProducers; ++t) {
    for (int i = 0; i < kItems; ++i) {
      auto expect = pattern(4096 + 100 * i, static_cast<float>(t * 100 + i));
      for (SidecarClient* c : {c0.get(), c3.get()}) {
        auto v = c->recv(fmt::format("p{}-{}", t, i), 0, 0ms);
        ASSERT_TRUE(v.ok()) << v.status().to_string();
        ASSERT_EQ(v->bytes, expect.size() * 4);
        EXPECT_EQ(std::memcmp(v->data, expect.data(), v->bytes), 0);
        ASSERT_TRUE(c->done(v->id, 0).ok());
        EXPECT_FALSE(c->recv(v->id, 0, 0ms).ok());  // exactly once
      }
    }
  }
  EXPECT_EQ(stats(*c3)["transfers_received"], kProducers * kItems);
  EXPECT_EQ(stats(*c3)["arena_used_bytes"], 0);
  EXPECT_EQ(stats(*c0)["arena_used_bytes"], 0);
}

// A stand-in for sidecar b that reads the hello, the transfer's start and
// `chunks_before_close` data chunks, then either closes (a sidecar dying
// mid-transfer) or, with -1, keeps reading and never acknowledges (too slow).
void fake_peer(const std::string& address, int chunks_before_close, std::atomic<bool>& stop) {
  auto transport = make_tcp_transport();
  auto listener = transport->listen(address);
  ASSERT_TRUE(listener.ok()) << listener.status().to_string();
  std::unique_ptr<Connection> conn;
  while (!stop && !conn) conn = std::move((*listener)->accept(50ms)).value();
  int chunks = 0;
  while (conn && !stop) {
    if (!conn->readable(50ms)) continue;
    auto m = conn->receive(1000ms, 1000ms);
    if (!m.ok()) break;
    if (m->payload_len > 0 && !conn->skip(m->payload_len, 1000ms).ok()) break;
    if (m->type == MsgType::kXferData && ++chunks == chunks_before_close) break;
  }
}

uint64_t used_after_settling(SidecarClient& c) {
  // A failed transfer's range is dropped by the link thread right after the
  // producer hears of it; give it a moment.
  for (int i = 0; i < 100; ++i) {
    auto s = nlohmann::json::parse(*c.stats());
    if (s["arena_used_bytes"] == 0) return 0;
    std::this_thread::sleep_for(20ms);
  }
  return nlohmann::json::parse(*c.stats())["arena_used_bytes"];
}

TEST_F(SidecarPair, PeerDyingMidTransferFailsTheSendAndFreesTheRange) {
  a_ = start("a");
  std::atomic<bool> stop{false};
  std::thread peer([&] { fake_peer(addr_b_, /*chunks_before_close=*/3, stop); });
  std::this_thread::sleep_for(50ms);
  auto p = client("a", -1);
  std::vector<char> big(1 << 20, 'z');  // 16 chunks of 64 KiB
  auto t0 = std::chrono::steady_clock::now();
  Status st = p->send("cut", 0, "U8", {static_cast<int64_t>(big.size())}, big.data(), big.size(), {{0}, {2}}, 5000ms);
  stop = true;
  peer.join();
  EXPECT_EQ(st.code(), ErrorCode::kUnavailable) << st.to_string();
  EXPECT_NE(st.message().find("item 'cut' chunk 0 not delivered to sidecar 'b'"), std::string::npos) << st.message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3000ms);
  EXPECT_EQ(used_after_settling(*p), 0u);  // local copy retracted, transfer dropped
}

TEST_F(SidecarPair, PeerThatNeverAcknowledgesIsATimeout) {
  a_ = start("a");
  std::atomic<bool> stop{false};
  std::thread peer([&] { fake_peer(addr_b_, -1, stop); });
  std::this_thread::sleep_for(50ms);
  auto p = client("a", -1);
  float x = 3;
  Status st = p->send("slow", 0, "F32", {1}, &x, 4, {{2}}, 400ms);
  EXPECT_EQ(st.code(), ErrorCode::kDeadlineExceeded) << st.to_string();
  EXPECT_NE(st.message().find("item 'slow' chunk 0 was not acknowledged by sidecar 'b' within 400 ms"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(used_after_settling(*p), 0u);
  stop = true;
  peer.join();
}

TEST_F(SidecarPair, AConsumerKilledMidReadGivesItsViewBack) {
  a_ = start("a");
  auto p = client("a", -1);
  int32_t v = 11;
  ASSERT_TRUE(p->send("held", 0, "I32", {1}, &v, 4, {{0}}, 1000ms).ok());
  auto first = client("a", 0);
  ASSERT_TRUE(first->recv("held", 0, 0ms).ok());
  auto second = client("a", 0);
  EXPECT_EQ(second->recv("held", 0, 50ms).status().code(), ErrorCode::kDeadlineExceeded);  // being read
  first.reset();  // the consumer process dies: its connection closes without done()
  auto again = second->recv("held", 0, 2000ms);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*static_cast<const int32_t*>(again->data), 11);
  EXPECT_TRUE(second->done("held", 0).ok());
}

TEST_F(SidecarPair, StopRemovesTheArenaAndTheSocket) {
  a_ = start("a");
  const std::string arena = "/dev/shm" + a_->arena_name();
  EXPECT_TRUE(fs::exists(arena));
  EXPECT_TRUE(fs::exists(socket_of("a")));
  EXPECT_EQ(fs::status(socket_of("a")).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  a_->stop();
  EXPECT_FALSE(fs::exists(arena));
  EXPECT_FALSE(fs::exists(socket_of("a")));
}

}  // namespace
}  // namespace eric::sidecar
