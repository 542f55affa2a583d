// The caching allocator's policy with a fake backend: no GPU needed.
#include "backend/cuda/block_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <vector>

namespace eric::cuda {
namespace {

class FakeBackend : public MemoryBackend {
 public:
  Result<void*> malloc(size_t bytes) override {
    if (live_bytes + bytes > capacity) return ResourceExhausted("fake device full");
    void* p = std::malloc(bytes);
    live_bytes += bytes;
    sizes[p] = bytes;
    ++mallocs;
    return p;
  }
  void free(void* p) override {
    live_bytes -= sizes.at(p);
    sizes.erase(p);
    std::free(p);
    ++frees;
  }
  Status mark_freed(void* p, StreamId s) override {
    marks.emplace_back(p, s);
    return Status::Ok();
  }
  Status wait_freed_on(void* p, StreamId s) override {
    waits.emplace_back(p, s);
    return Status::Ok();
  }
  Status synchronize() override {
    ++syncs;
    return Status::Ok();
  }
  size_t capacity = size_t{1} << 30;
  size_t live_bytes = 0;
  std::map<void*, size_t> sizes;
  int mallocs = 0, frees = 0, syncs = 0;
  std::vector<std::pair<void*, StreamId>> marks, waits;
};

TEST(BlockCache, SizeClassesRoundUpWithBoundedWaste) {
  EXPECT_EQ(BlockCache::size_class(0), 512u);
  EXPECT_EQ(BlockCache::size_class(1), 512u);
  EXPECT_EQ(BlockCache::size_class(513), 1024u);
  EXPECT_EQ(BlockCache::size_class(size_t{1} << 20), size_t{1} << 20);
  EXPECT_EQ(BlockCache::size_class((size_t{8} << 20) + 1), size_t{10} << 20);  // 1.25 * 8 MiB
  EXPECT_EQ(BlockCache::size_class((size_t{2} << 20) + 1), size_t{5} << 19);    // 1.25 * 2 MiB
  for (size_t bytes : {size_t{3} << 20, size_t{5} << 20, size_t{100} << 20, size_t{777777777}}) {
    const size_t cls = BlockCache::size_class(bytes);
    EXPECT_GE(cls, bytes);
    EXPECT_LE(static_cast<double>(cls), 1.25 * static_cast<double>(bytes)) << bytes;
    EXPECT_EQ(cls % 512, 0u);
  }
}

TEST(BlockCache, SameStreamReuseNeedsNoWait) {
  FakeBackend be;
  BlockCache cache(be);
  void* a = cache.allocate(1000, 7).value();
  ASSERT_TRUE(cache.release(a, 7).ok());
  void* b = cache.allocate(900, 7).value();  // same 1024-byte class
  EXPECT_EQ(a, b);
  EXPECT_EQ(be.mallocs, 1);
  EXPECT_TRUE(be.waits.empty());
  EXPECT_EQ(cache.stats().cache_hits, 1u);
  EXPECT_EQ(cache.stats().bytes_in_use, 1024u);
  ASSERT_TRUE(cache.release(b, 7).ok());
}

TEST(BlockCache, CrossStreamReuseWaitsForTheFreeingStream) {
  FakeBackend be;
  BlockCache cache(be);
  void* a = cache.allocate(4096, 1).value();
  ASSERT_TRUE(cache.release(a, 1).ok());
  ASSERT_EQ(be.marks.size(), 1u);
  void* b = cache.allocate(4096, 2).value();
  EXPECT_EQ(a, b);
  ASSERT_EQ(be.waits.size(), 1u);
  EXPECT_EQ(be.waits[0].first, a);
  EXPECT_EQ(be.waits[0].second, StreamId{2});
  EXPECT_EQ(cache.stats().cross_stream_reuses, 1u);
  ASSERT_TRUE(cache.release(b, 2).ok());
}

TEST(BlockCache, DifferentClassesDoNotShareBlocks) {
  FakeBackend be;
  BlockCache cache(be);
  void* a = cache.allocate(512, 0).value();
  ASSERT_TRUE(cache.release(a, 0).ok());
  void* b = cache.allocate(2048, 0).value();
  EXPECT_NE(a, b);
  EXPECT_EQ(be.mallocs, 2);
  EXPECT_EQ(cache.stats().bytes_cached, 512u);
  ASSERT_TRUE(cache.release(b, 0).ok());
}

TEST(BlockCache, OutOfMemoryFlushesTheCacheAndRetries) {
  FakeBackend be;
  be.capacity = 3 << 20;
  BlockCache cache(be);
  void* a = cache.allocate(2 << 20, 0).value();  // class 2 MiB
  ASSERT_TRUE(cache.release(a, 0).ok());
  // 2 MiB cached + the 2.5 MiB class exceed 3 MiB: the cache must give its block back first.
  Result<void*> big = cache.allocate((2 << 20) + 1, 0);
  ASSERT_TRUE(big.ok()) << big.status().message();
  EXPECT_EQ(be.frees, 1);
  EXPECT_GE(be.syncs, 1);
  EXPECT_EQ(cache.stats().bytes_cached, 0u);
  Result<void*> more = cache.allocate(1 << 20, 0);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(more.status().message().find("1048576 bytes"), std::string::npos) << more.status().message();
  ASSERT_TRUE(cache.release(big.value(), 0).ok());
}

TEST(BlockCache, FailedFreeMarkFallsBackToADeviceSyncAndKeepsTheBlock) {
  class NoMarkBackend : public FakeBackend {
   public:
    Status mark_freed(void*, StreamId) override { return Internal("stream destroyed"); }
  } be;
  BlockCache cache(be);
  void* a = cache.allocate(1024, 3).value();
  Status st = cache.release(a, 3);
  EXPECT_FALSE(st.ok());  // reported ...
  EXPECT_EQ(be.syncs, 1);  // ... after waiting for the device ...
  EXPECT_EQ(cache.stats().bytes_cached, 1024u);  // ... and the block is reusable, not leaked
  EXPECT_EQ(cache.allocate(1024, 3).value(), a);
  ASSERT_FALSE(cache.release(a, 3).ok());
}

TEST(BlockCache, ReleaseOfUnknownPointerIsAnError) {
  FakeBackend be;
  BlockCache cache(be);
  int x = 0;
  Status st = cache.release(&x, 0);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not allocated by this cache"), std::string::npos);
}

TEST(BlockCache, PeakAndEmptyCache) {
  FakeBackend be;
  BlockCache cache(be);
  std::vector<void*> ptrs;
  for (int i = 0; i < 4; ++i) ptrs.push_back(cache.allocate(1024, 0).value());
  for (void* p : ptrs) ASSERT_TRUE(cache.release(p, 0).ok());
  EXPECT_EQ(cache.stats().peak_bytes_in_use, 4096u);
  EXPECT_EQ(cache.stats().bytes_in_use, 0u);
  EXPECT_EQ(cache.stats().bytes_cached, 4096u);
  ASSERT_TRUE(cache.empty_cache().ok());
  EXPECT_EQ(be.frees, 4);
  EXPECT_EQ(be.live_bytes, 0u);
}


// --cuda-memory-limit: the cap on bytes held from the driver (in use + cached).
constexpr size_t kMiB = size_t{1} << 20;

// What the cache says it holds is what the driver handed out.
void expect_exact(const BlockCache& cache, const FakeBackend& be) {
  const CacheStats st = cache.stats();
  EXPECT_EQ(st.bytes_in_use + st.bytes_cached, be.live_bytes);
}

TEST(BlockCacheLimit, AllocationsUpToTheLimitSucceedAndTheNextIsRefused) {
  FakeBackend be;
  BlockCache cache(be);
  ASSERT_TRUE(cache.set_limit(4096).ok());
  EXPECT_EQ(cache.limit(), 4096u);
  EXPECT_EQ(cache.stats().limit_bytes, 4096u);
  std::vector<void*> ptrs;
  for (int i = 0; i < 4; ++i) {
    Result<void*> p = cache.allocate(1000, 0);  // class 1024: exactly at the limit after four
    ASSERT_TRUE(p.ok()) << i << ": " << p.status().message();
    ptrs.push_back(p.value());
  }
  Result<void*> over = cache.allocate(1, 0);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), ErrorCode::kResourceExhausted);
  const std::string& msg = over.status().message();
  for (const char* part : {"allocation of 1 bytes", "--cuda-memory-limit", "4096 bytes", "4096 bytes in use"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
  }
  EXPECT_EQ(cache.stats().limit_rejections, 1u);
  EXPECT_EQ(be.mallocs, 4);
  // A released block of the class is a cache hit: it holds nothing new.
  ASSERT_TRUE(cache.release(ptrs.back(), 0).ok());
  Result<void*> again = cache.allocate(1024, 0);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again.value(), ptrs.back());
  ptrs.back() = again.value();
  expect_exact(cache, be);
  for (void* p : ptrs) ASSERT_TRUE(cache.release(p, 0).ok());
}

TEST(BlockCacheLimit, OneGranuleOverTheLimitIsRefused) {
  FakeBackend be;
  BlockCache cache(be);
  ASSERT_TRUE(cache.set_limit(1536).ok());
  void* a = cache.allocate(1024, 0).value();
  Result<void*> over = cache.allocate(513, 0);  // class 1024: 2048 > 1536
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), ErrorCode::kResourceExhausted);
  Result<void*> fits = cache.allocate(512, 0);  // class 512: exactly 1536
  ASSERT_TRUE(fits.ok()) << fits.status().message();
  EXPECT_EQ(cache.stats().bytes_in_use, 1536u);
  EXPECT_EQ(cache.stats().peak_bytes_in_use, 1536u);
  expect_exact(cache, be);
  ASSERT_TRUE(cache.release(a, 0).ok());
  ASSERT_TRUE(cache.release(fits.value(), 0).ok());
}

TEST(BlockCacheLimit, CachedBlocksGoBackToTheDriverToMakeRoom) {
  FakeBackend be;
  BlockCache cache(be);
  ASSERT_TRUE(cache.set_limit(4 * kMiB).ok());
  void* one = cache.allocate(kMiB, 1).value();
  void* two = cache.allocate(2 * kMiB, 2).value();
  ASSERT_TRUE(cache.release(one, 1).ok());
  ASSERT_TRUE(cache.release(two, 2).ok());
  ASSERT_EQ(cache.stats().bytes_cached, 3 * kMiB);
  const int syncs_before = be.syncs;
  // 3 MiB cached + a 3 MiB class > 4 MiB: freeing the 2 MiB block is enough
  // (the smallest that makes room), the 1 MiB one stays cached.
  Result<void*> big = cache.allocate(3 * kMiB, 1);
  ASSERT_TRUE(big.ok()) << big.status().message();
  EXPECT_EQ(be.frees, 1);
  EXPECT_GT(be.syncs, syncs_before);  // waited for pending work before freeing
  EXPECT_EQ(be.sizes.count(two), 0u);
  EXPECT_EQ(be.sizes.count(one), 1u);
  EXPECT_EQ(cache.stats().bytes_cached, kMiB);
  EXPECT_EQ(cache.stats().bytes_in_use, 3 * kMiB);
  EXPECT_EQ(cache.stats().limit_rejections, 0u);
  expect_exact(cache, be);
  EXPECT_EQ(cache.allocate(kMiB, 1).value(), one);  // the kept block is still served
  ASSERT_TRUE(cache.release(one, 1).ok());
  ASSERT_TRUE(cache.release(big.value(), 1).ok());
}

TEST(BlockCacheLimit, SeveralCachedBlocksAreFreedWhenNoneAloneIsEnough) {
  FakeBackend be;
  BlockCache cache(be);
  std::vector<void*> ptrs;
  for (int i = 0; i < 4; ++i) ptrs.push_back(cache.allocate(kMiB, 0).value());
  for (void* p : ptrs) ASSERT_TRUE(cache.release(p, 0).ok());
  ASSERT_TRUE(cache.set_limit(4 * kMiB).ok());
  Result<void*> p = cache.allocate(2 * kMiB, 0);  // 4 MiB cached + 2 MiB > 4 MiB: two 1 MiB blocks must go
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(be.frees, 2);
  EXPECT_EQ(cache.stats().bytes_cached, 2 * kMiB);
  expect_exact(cache, be);
  ASSERT_TRUE(cache.release(p.value(), 0).ok());
}

TEST(BlockCacheLimit, WhenTheBlocksInUseLeaveNoRoomTheCacheIsKept) {
  FakeBackend be;
  BlockCache cache(be);
  ASSERT_TRUE(cache.set_limit(2 * kMiB).ok());
  void* used = cache.allocate(kMiB + kMiB / 2, 0).value();  // class 1.5 MiB
  void* spare = cache.allocate(kMiB / 2, 0).value();
  ASSERT_TRUE(cache.release(spare, 0).ok());
  Result<void*> over = cache.allocate(kMiB, 0);  // 1.5 MiB in use + 1 MiB > 2 MiB whatever is cached
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("1572864 bytes in use"), std::string::npos) << over.status().message();
  EXPECT_NE(over.status().message().find("524288 cached"), std::string::npos) << over.status().message();
  EXPECT_EQ(be.frees, 0);  // freeing the cache could not have helped
  EXPECT_EQ(cache.stats().bytes_cached, kMiB / 2);
  EXPECT_EQ(cache.allocate(kMiB / 2, 0).value(), spare);
  expect_exact(cache, be);
  ASSERT_TRUE(cache.release(used, 0).ok());
  ASSERT_TRUE(cache.release(spare, 0).ok());
}

TEST(BlockCacheLimit, LoweringTheLimitTrimsTheCacheAndBlocksInUseStayValid) {
  FakeBackend be;
  BlockCache cache(be);
  std::vector<void*> ptrs;
  for (int i = 0; i < 4; ++i) ptrs.push_back(cache.allocate(1024, 0).value());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache.release(ptrs[i], 0).ok());
  ASSERT_TRUE(cache.set_limit(2048).ok());  // 1024 in use + 3072 cached -> 2048 held
  EXPECT_EQ(be.frees, 2);
  EXPECT_EQ(cache.stats().bytes_cached, 1024u);
  expect_exact(cache, be);
  ASSERT_TRUE(cache.set_limit(512).ok());  // below what is in use: the cache empties, the block stays
  EXPECT_EQ(cache.stats().bytes_cached, 0u);
  EXPECT_EQ(cache.stats().bytes_in_use, 1024u);
  EXPECT_FALSE(cache.allocate(1, 0).ok());
  ASSERT_TRUE(cache.release(ptrs[3], 0).ok());  // released blocks are cached even above the limit
  EXPECT_EQ(cache.stats().bytes_cached, 1024u);
  expect_exact(cache, be);
}

TEST(BlockCacheLimit, ZeroMeansNoLimit) {
  FakeBackend be;
  BlockCache cache(be);
  EXPECT_EQ(cache.limit(), 0u);
  ASSERT_TRUE(cache.set_limit(4096).ok());
  EXPECT_FALSE(cache.allocate(8192, 0).ok());
  ASSERT_TRUE(cache.set_limit(0).ok());
  EXPECT_EQ(cache.stats().limit_bytes, 0u);
  Result<void*> big = cache.allocate(64 * kMiB, 0);
  ASSERT_TRUE(big.ok()) << big.status().message();
  EXPECT_EQ(cache.stats().limit_rejections, 1u);  // only the refusal under the old limit
  ASSERT_TRUE(cache.release(big.value(), 0).ok());
}

}  // namespace
}  // namespace eric::cuda
