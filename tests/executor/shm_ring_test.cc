// The broadcast ring with reader threads and forked reader processes.
#include "executor/shm_ring.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "../distributed/fork_helpers.h"

namespace eric::executor {
namespace {

using namespace std::chrono_literals;

// Message i: `len(i)` bytes of a pattern depending on i, so corruption,
// reordering or loss is caught.
size_t len_of(int i, size_t big) { return i % 3 == 0 ? big + static_cast<size_t>(i) : static_cast<size_t>(i * 7); }
std::string message(int i, size_t big) {
  std::string s(len_of(i, big), '\0');
  for (size_t k = 0; k < s.size(); ++k) s[k] = static_cast<char>((k * 31 + static_cast<size_t>(i)) & 0xff);
  return s;
}

int read_all(const std::string& name, int index, int count, size_t big, std::chrono::milliseconds delay = 0ms) {
  auto reader = ShmRingReader::open(name, index);
  if (!reader.ok()) return 10;
  for (int i = 0; i < count; ++i) {
    auto m = (*reader)->read(10s);
    if (!m.ok()) return 11;
    if (*m != message(i, big)) return 12;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
  }
  // After the last message the writer closes the ring.
  auto end = (*reader)->read(10s);
  if (end.ok() || end.status().code() != ErrorCode::kUnavailable) return 13;
  return 0;
}

TEST(ShmRingTest, ThreeReaderThreadsGetEveryMessageInOrder) {
  auto w = ShmRingWriter::create({3, 4, 4096});
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  constexpr int kCount = 200;
  constexpr size_t kBig = 20000;  // ~5 slots per big message: chunked
  std::vector<int> codes(3, -1);
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) readers.emplace_back([&, r] { codes[r] = read_all((*w)->name(), r, kCount, kBig); });
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE((*w)->write(message(i, kBig), 10s).ok()) << i;
  (*w)->close();
  for (auto& t : readers) t.join();
  EXPECT_EQ(codes, (std::vector<int>{0, 0, 0}));
}

TEST(ShmRingTest, ForkedReaderProcessesWithLargeChunkedMessages) {
  auto w = ShmRingWriter::create({2, 3, 64 * 1024});
  ASSERT_TRUE(w.ok());
  constexpr int kCount = 30;
  constexpr size_t kBig = 3 * 1024 * 1024;  // 3 MiB over 64 KiB slots: ~48 chunks, 16x the ring
  const std::string name = (*w)->name();
  std::thread writer([&] {
    for (int i = 0; i < kCount; ++i) ASSERT_TRUE((*w)->write(message(i, kBig), 10s).ok()) << i;
    (*w)->close();
  });
  auto codes = testing::run_forked(2, [&](int r) { return read_all(name, r, kCount, kBig); });
  writer.join();
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

TEST(ShmRingTest, GatheredPartsArriveAsOneMessage) {
  auto w = ShmRingWriter::create({1, 2, 128});
  ASSERT_TRUE(w.ok());
  auto r = ShmRingReader::open((*w)->name(), 0);
  ASSERT_TRUE(r.ok());
  std::string a(150, 'a'), b, c(10, 'c');
  std::thread writer([&] { ASSERT_TRUE((*w)->write({a, b, c}, 5s).ok()); });
  auto m = (*r)->read(5s);
  writer.join();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, a + c);
  // An empty message is still a message.
  ASSERT_TRUE((*w)->write(std::string_view(), 5s).ok());
  auto e = (*r)->read(5s);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->empty());
}

TEST(ShmRingTest, SlowReaderHoldsTheWriterBack) {
  auto w = ShmRingWriter::create({2, 2, 256});
  ASSERT_TRUE(w.ok());
  constexpr int kCount = 12;
  std::vector<int> codes(2, -1);
  std::thread fast([&] { codes[0] = read_all((*w)->name(), 0, kCount, 100); });
  std::thread slow([&] { codes[1] = read_all((*w)->name(), 1, kCount, 100, 20ms); });
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE((*w)->write(message(i, 100), 10s).ok());
  // With 2 slots, the writer can be at most 2 messages ahead of the slow reader.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms * (kCount - 3));
  (*w)->close();
  fast.join();
  slow.join();
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

TEST(ShmRingTest, ReaderIdleTimeoutIsDeadlineExceeded) {
  auto w = ShmRingWriter::create({1, 2, 256});
  ASSERT_TRUE(w.ok());
  auto r = ShmRingReader::open((*w)->name(), 0);
  ASSERT_TRUE(r.ok());
  auto m = (*r)->read(30ms);
  EXPECT_EQ(m.status().code(), ErrorCode::kDeadlineExceeded);
}

TEST(ShmRingTest, DeadReaderFailsTheWriterQuickly) {
  auto w = ShmRingWriter::create({2, 2, 256});
  ASSERT_TRUE(w.ok());
  const std::string name = (*w)->name();
  std::thread alive([&] {
    auto r = ShmRingReader::open(name, 0);
    while (r.ok() && (*r)->read(5s).ok()) {}
  });
  // Reader 1 attaches in a child process, reads one message and dies.
  pid_t child = fork();
  if (child == 0) {
    auto r = ShmRingReader::open(name, 1);
    if (r.ok()) (void)(*r)->read(5s);
    _exit(0);
  }
  ASSERT_TRUE((*w)->write(std::string("first"), 5s).ok());
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const auto start = std::chrono::steady_clock::now();
  Status st;
  for (int i = 0; i < 5 && st.ok(); ++i) st = (*w)->write(std::string("more"), 30s);
  EXPECT_EQ(st.code(), ErrorCode::kUnavailable) << st.to_string();
  EXPECT_NE(st.message().find("reader 1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("died"), std::string::npos) << st.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  (*w)->close();
  alive.join();
}

TEST(ShmRingTest, ReaderNoticesDeadWriter) {
  // The writer lives in a child that publishes one message and dies
  // without closing; the segment name is passed back through a pipe.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {
    auto w = ShmRingWriter::create({1, 2, 256});
    if (!w.ok()) _exit(1);
    std::string n = (*w)->name();
    (void)!write(fds[1], n.data(), n.size());
    char c;
    (void)!read(go[0], &c, 1);  // wait for the reader to attach
    (void)(*w)->write(std::string("hello"), std::chrono::milliseconds(5000));
    _exit(0);  // dies without unlinking or closing
  }
  char buf[256] = {};
  ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
  ASSERT_GT(n, 0);
  auto r = ShmRingReader::open(std::string(buf, static_cast<size_t>(n)), 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(write(go[1], "x", 1), 1);
  auto first = (*r)->read(5s);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "hello");
  waitpid(child, nullptr, 0);
  const auto start = std::chrono::steady_clock::now();
  auto next = (*r)->read(10s);
  EXPECT_EQ(next.status().code(), ErrorCode::kUnavailable) << next.status().to_string();
  EXPECT_NE(next.status().message().find("writer"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  distributed::cleanup_stale_shm_segments();
  for (int fd : {fds[0], fds[1], go[0], go[1]}) close(fd);
}

TEST(ShmRingTest, RejectsBadOptionsAndReaderIndex) {
  EXPECT_FALSE(ShmRingWriter::create({0, 2, 4096}).ok());
  EXPECT_FALSE(ShmRingWriter::create({65, 2, 4096}).ok());
  EXPECT_FALSE(ShmRingWriter::create({1, 0, 4096}).ok());
  EXPECT_FALSE(ShmRingWriter::create({1, 2, 16}).ok());
  auto w = ShmRingWriter::create({2, 2, 4096});
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(ShmRingReader::open((*w)->name(), 2).ok());
  EXPECT_FALSE(ShmRingReader::open((*w)->name(), -1).ok());
}

}  // namespace
}  // namespace eric::executor
