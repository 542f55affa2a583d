#include <gtest/gtest.h>

#include <sys/stat.h>

#include <thread>

#include "sidecar/arena.h"
#include "sidecar/item_store.h"

namespace eric::sidecar {
namespace {

using namespace std::chrono_literals;

TEST(SidecarArena, AllocatesAlignedRangesAndCoalescesFreedOnes) {
  ArenaAllocator a(16 * kArenaAlignment);
  auto x = a.allocate(1, 0ms, "x");
  auto y = a.allocate(kArenaAlignment + 1, 0ms, "y");
  auto z = a.allocate(kArenaAlignment, 0ms, "z");
  ASSERT_TRUE(x.ok() && y.ok() && z.ok());
  EXPECT_EQ(*x, 0u);
  EXPECT_EQ(*y, kArenaAlignment);
  EXPECT_EQ(*z, 3 * kArenaAlignment);
  EXPECT_EQ(a.used(), 4 * kArenaAlignment);
  ASSERT_TRUE(a.free(*x).ok());
  ASSERT_TRUE(a.free(*y).ok());
  // x and y merged: a 3-page range fits at 0 again.
  auto w = a.allocate(3 * kArenaAlignment, 0ms, "w");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, 0u);
  EXPECT_FALSE(a.free(12345).ok());  // never allocated
  ASSERT_TRUE(a.free(*w).ok());
  EXPECT_FALSE(a.free(*w).ok());     // double free
  ASSERT_TRUE(a.free(*z).ok());
  EXPECT_EQ(a.used(), 0u);
  EXPECT_TRUE(a.allocate(16 * kArenaAlignment, 0ms, "all").ok());
}

TEST(SidecarArena, FullArenaWaitsForAFreeThenFailsAtTheDeadline) {
  ArenaAllocator a(4 * kArenaAlignment);
  auto big = a.allocate(4 * kArenaAlignment, 0ms, "big");
  ASSERT_TRUE(big.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto fail = a.allocate(kArenaAlignment, 150ms, "item 'late'");
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(fail.status().message().find("item 'late'"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 140ms);
  // A free during the wait lets the waiter through (backpressure, not failure).
  std::thread freer([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(a.free(*big).ok());
  });
  auto ok = a.allocate(kArenaAlignment, 5000ms, "waiter");
  freer.join();
  EXPECT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(a.allocate(5 * kArenaAlignment, 0ms, "never").status().code(), ErrorCode::kResourceExhausted);
  EXPECT_FALSE(a.allocate(0, 0ms, "zero").ok());
}

TEST(SidecarArena, CloseWakesWaiters) {
  ArenaAllocator a(kArenaAlignment);
  ASSERT_TRUE(a.allocate(1, 0ms, "all").ok());
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    a.close();
  });
  auto r = a.allocate(1, 10000ms, "waiter");
  closer.join();
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
}

TEST(SidecarArena, SharedSegmentIsPrivate) {
  auto arena = Arena::create(1 << 20);
  ASSERT_TRUE(arena.ok());
  EXPECT_EQ((*arena)->name().rfind("/eric-", 0), 0u);
  struct stat st;
  ASSERT_EQ(stat(("/dev/shm" + (*arena)->name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

ItemDesc desc(const std::string& id) { return ItemDesc{id, 0, "U8", {16}, 16}; }

TEST(SidecarItemStore, EachRankReceivesOnceAndTheLastDoneFreesTheRange) {
  ArenaAllocator a(8 * kArenaAlignment);
  ItemStore store(60s);
  auto off = a.allocate(16, 0ms, "x");
  ASSERT_TRUE(off.ok());
  ASSERT_TRUE(store.publish(desc("x"), make_region(a, *off, 16), {0, 1}).ok());
  EXPECT_FALSE(store.publish(desc("x"), make_region(a, *a.allocate(16, 0ms, "dup"), 16), {0}).ok());
  EXPECT_EQ(a.allocations(), 1u);  // the refused duplicate's range was freed

  auto r0 = store.recv("x", 0, 0, /*holder=*/1, 0ms);
  ASSERT_TRUE(r0.ok());
  EXPECT_EQ(r0->offset, *off);
  EXPECT_EQ(store.recv("x", 0, 2, 1, 10ms).status().code(), ErrorCode::kDeadlineExceeded);  // not a receiver
  ASSERT_TRUE(store.done("x", 0, 0).ok());
  EXPECT_EQ(store.recv("x", 0, 0, 1, 10ms).status().code(), ErrorCode::kDeadlineExceeded);  // once per rank
  EXPECT_FALSE(store.done("x", 0, 0).ok());
  EXPECT_EQ(a.allocations(), 1u);
  ASSERT_TRUE(store.recv("x", 0, 1, 2, 0ms).ok());
  ASSERT_TRUE(store.done("x", 0, 1).ok());
  EXPECT_EQ(a.allocations(), 0u);
  EXPECT_EQ(store.stats().collected, 1u);
}

TEST(SidecarItemStore, RecvBlocksUntilPublished) {
  ArenaAllocator a(8 * kArenaAlignment);
  ItemStore store(60s);
  std::thread producer([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(store.publish(desc("late"), make_region(a, *a.allocate(16, 0ms, "late"), 16), {3}).ok());
  });
  auto r = store.recv("late", 0, 3, 1, 5000ms);
  producer.join();
  EXPECT_TRUE(r.ok()) << r.status().to_string();
}

TEST(SidecarItemStore, AViewOfAClosedConnectionGoesBack) {
  ArenaAllocator a(8 * kArenaAlignment);
  ItemStore store(60s);
  ASSERT_TRUE(store.publish(desc("x"), make_region(a, *a.allocate(16, 0ms, "x"), 16), {0}).ok());
  ASSERT_TRUE(store.recv("x", 0, 0, /*holder=*/7, 0ms).ok());
  // Another consumer of rank 0 waits while holder 7 reads...
  EXPECT_EQ(store.recv("x", 0, 0, 8, 20ms).status().code(), ErrorCode::kDeadlineExceeded);
  // ...and gets it once holder 7's connection is gone.
  store.release_holder(7);
  EXPECT_TRUE(store.recv("x", 0, 0, 8, 0ms).ok());
}

TEST(SidecarItemStore, UncollectedItemsAreReclaimedAndCounted) {
  ArenaAllocator a(8 * kArenaAlignment);
  ItemStore store(30ms);
  ASSERT_TRUE(store.publish(desc("never"), make_region(a, *a.allocate(16, 0ms, "n"), 16), {0}).ok());
  ASSERT_TRUE(store.publish(desc("reading"), make_region(a, *a.allocate(16, 0ms, "r"), 16), {0}).ok());
  ASSERT_TRUE(store.recv("reading", 0, 0, 1, 0ms).ok());
  EXPECT_EQ(store.reclaim_expired(), 0);  // too young
  std::this_thread::sleep_for(40ms);
  EXPECT_EQ(store.reclaim_expired(), 1);  // the one being read stays
  EXPECT_EQ(store.stats().reclaimed, 1u);
  EXPECT_EQ(a.allocations(), 1u);
  EXPECT_EQ(store.recv("never", 0, 0, 1, 0ms).status().code(), ErrorCode::kDeadlineExceeded);
}

TEST(SidecarItemStore, RetractOnlyUntouchedItems) {
  ArenaAllocator a(8 * kArenaAlignment);
  ItemStore store(60s);
  ASSERT_TRUE(store.publish(desc("a"), make_region(a, *a.allocate(16, 0ms, "a"), 16), {0}).ok());
  ASSERT_TRUE(store.publish(desc("b"), make_region(a, *a.allocate(16, 0ms, "b"), 16), {0}).ok());
  ASSERT_TRUE(store.recv("b", 0, 0, 1, 0ms).ok());
  EXPECT_TRUE(store.retract("a", 0));
  EXPECT_FALSE(store.retract("b", 0));
  EXPECT_EQ(a.allocations(), 1u);
}

}  // namespace
}  // namespace eric::sidecar
