#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <vector>

namespace eric {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 1000, 12345}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n;
    }
  }
}

TEST(ThreadPoolTest, GrainLimitsChunks) {
  ThreadPool pool(4);
  std::atomic<int> chunks{0};
  pool.parallel_for(10, 100, [&](int64_t b, int64_t e) {
    chunks++;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 10);
  });
  EXPECT_EQ(chunks.load(), 1);
}

TEST(ThreadPoolTest, SubmitReturnsFutures) {
  ThreadPool pool(2);
  std::vector<std::future<int>> futs;
  for (int i = 0; i < 50; ++i) futs.push_back(pool.submit([i] { return i * i; }));
  int sum = 0;
  for (auto& f : futs) sum += f.get();
  int expect = 0;
  for (int i = 0; i < 50; ++i) expect += i * i;
  EXPECT_EQ(sum, expect);
}

TEST(ThreadPoolTest, NestedSubmitAndParallelFor) {
  // parallel_for from inside a submitted task must not deadlock.
  ThreadPool pool(3);
  auto f = pool.submit([&pool] {
    std::atomic<int64_t> total{0};
    pool.parallel_for(100, 1, [&](int64_t b, int64_t e) { total += e - b; });
    return total.load();
  });
  EXPECT_EQ(f.get(), 100);
}

}  // namespace
}  // namespace eric
