// The shared-memory all-reduce across forked processes (and threads).
#include "distributed/shm_collective.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "distributed/shm_segment.h"
#include "fork_helpers.h"

namespace eric::distributed {
namespace {

float value_of(int rank, size_t i) { return static_cast<float>((rank + 1) * 1000 + static_cast<int>(i % 997)); }

// Each rank fills a tensor with value_of(rank, i), all-reduces `calls` times
// tensors of length n; returns 0 when every element equals the sum over ranks.
int reduce_and_check(const std::string& name, int rank, int world, size_t n, int calls) {
  auto coll = open_shm_collective(name, rank, world, std::chrono::seconds(20));
  if (!coll.ok()) return 10;
  if ((*coll)->rank() != rank || (*coll)->world_size() != world) return 11;
  for (int c = 0; c < calls; ++c) {
    Tensor t = Tensor::empty(DType::kF32, {static_cast<int64_t>(n)}).value();
    float* d = t.mutable_data<float>();
    for (size_t i = 0; i < n; ++i) d[i] = value_of(rank, i) + static_cast<float>(c);
    if (!(*coll)->all_reduce_sum(t).ok()) return 12;
    for (size_t i = 0; i < n; ++i) {
      float expect = 0;
      for (int r = 0; r < world; ++r) expect += value_of(r, i) + static_cast<float>(c);
      if (d[i] != expect) return 13;
    }
  }
  return 0;
}

void run_world(int world, size_t chunk, std::vector<size_t> sizes) {
  auto group = ShmCollectiveGroup::create({world, chunk, std::chrono::seconds(20)});
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  const std::string name = (*group)->name();
  for (size_t n : sizes) {
    auto codes = testing::run_forked(world, [&](int rank) { return reduce_and_check(name, rank, world, n, 3); });
    for (int r = 0; r < world; ++r) EXPECT_EQ(codes[r], 0) << "world " << world << " n " << n << " rank " << r;
  }
}

TEST(ShmCollectiveTest, WorldTwoForkedProcesses) { run_world(2, 1 << 16, {1, 7, 1000, 200000}); }
TEST(ShmCollectiveTest, WorldThreeForkedProcessesChunked) { run_world(3, 1000, {2, 999, 1000, 1001, 12345}); }
TEST(ShmCollectiveTest, OddWorldFiveSmallerThanWorld) { run_world(5, 64, {1, 3, 5, 130}); }

TEST(ShmCollectiveTest, WorldOneIsIdentity) {
  auto group = ShmCollectiveGroup::create({1, 16});
  ASSERT_TRUE(group.ok());
  auto coll = open_shm_collective((*group)->name(), 0, 1);
  ASSERT_TRUE(coll.ok());
  Tensor t = Tensor::from_vector<float>({1, 2, 3}, {3}).value();
  ASSERT_TRUE((*coll)->all_reduce_sum(t).ok());
  EXPECT_EQ(t.data<float>()[2], 3.0f);
}

TEST(ShmCollectiveTest, ThreadsAsRanksMatchAcrossRanks) {
  auto group = ShmCollectiveGroup::create({4, 256});
  ASSERT_TRUE(group.ok());
  std::vector<int> codes(4, -1);
  std::vector<std::thread> threads;
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] { codes[r] = reduce_and_check((*group)->name(), r, 4, 3000, 5); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(codes, (std::vector<int>{0, 0, 0, 0}));
}

TEST(ShmCollectiveTest, MissingPeerTimesOutAndBreaksTheCommunicator) {
  auto group = ShmCollectiveGroup::create({2, 16});
  ASSERT_TRUE(group.ok());
  auto coll = open_shm_collective((*group)->name(), 0, 2, std::chrono::milliseconds(200));
  ASSERT_TRUE(coll.ok());
  Tensor t = Tensor::zeros(DType::kF32, {4}).value();
  auto start = std::chrono::steady_clock::now();
  Status st = (*coll)->all_reduce_sum(t);
  EXPECT_EQ(st.code(), ErrorCode::kDeadlineExceeded) << st.to_string();
  EXPECT_NE(st.message().find("peer died"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // Later calls fail at once: the group must be recreated.
  auto again = (*coll)->all_reduce_sum(t);
  EXPECT_EQ(again.code(), ErrorCode::kUnavailable);
}

TEST(ShmCollectiveTest, RejectsWrongDtypeWorldAndRank) {
  auto group = ShmCollectiveGroup::create({2, 16});
  ASSERT_TRUE(group.ok());
  EXPECT_FALSE(open_shm_collective((*group)->name(), 0, 3).ok());
  EXPECT_FALSE(open_shm_collective((*group)->name(), 2, 2).ok());
  EXPECT_FALSE(open_shm_collective("/eric-does-not-exist", 0, 2).ok());
  auto coll = open_shm_collective((*group)->name(), 0, 2);
  ASSERT_TRUE(coll.ok());
  Tensor i = Tensor::zeros(DType::kI32, {2}).value();
  EXPECT_FALSE((*coll)->all_reduce_sum(i).ok());
}

TEST(ShmSegmentTest, PrivateModeUnlinkOnDestroyAndStaleCleanup) {
  std::string name;
  {
    auto seg = ShmSegment::create("test", 4096);
    ASSERT_TRUE(seg.ok());
    name = seg->name();
    struct stat st;
    ASSERT_EQ(stat(("/dev/shm" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  struct stat st;
  EXPECT_NE(stat(("/dev/shm" + name).c_str(), &st), 0) << "segment left behind after destruction";

  // A segment whose creator died without unlinking is removed by the cleanup.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t child = fork();
  if (child == 0) {
    auto seg = ShmSegment::create("stale", 4096);
    std::string n = seg.ok() ? seg->name() : "";
    (void)!write(pipefd[1], n.data(), n.size());
    _exit(0);  // no destructors: the segment stays behind
  }
  close(pipefd[1]);
  char buf[256] = {};
  ssize_t got = read(pipefd[0], buf, sizeof(buf) - 1);
  close(pipefd[0]);
  waitpid(child, nullptr, 0);
  ASSERT_GT(got, 0);
  std::string stale(buf, static_cast<size_t>(got));
  ASSERT_EQ(stat(("/dev/shm" + stale).c_str(), &st), 0);
  auto live = ShmSegment::create("live", 64);  // ours: must survive the cleanup
  ASSERT_TRUE(live.ok());
  EXPECT_GE(cleanup_stale_shm_segments(), 1);
  EXPECT_NE(stat(("/dev/shm" + stale).c_str(), &st), 0);
  EXPECT_EQ(stat(("/dev/shm" + live->name()).c_str(), &st), 0);
}

}  // namespace
}  // namespace eric::distributed
