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

}  // namespace
}  // namespace eric::cuda
