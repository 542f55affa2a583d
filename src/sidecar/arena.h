// The sidecar's shared-memory arena: one private segment (0600, unpredictable
// name, see distributed/shm_segment.h) that producers write tensors into and
// consumers map read-only, so a tensor crosses processes on one node without
// a copy. The sidecar owns the bookkeeping: ArenaAllocator hands out aligned
// [offset, offset + size) ranges first-fit and coalesces freed ones; when the
// arena is full, allocate() waits for a free() up to a deadline (backpressure)
// and then fails with ResourceExhausted naming the request.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "distributed/shm_segment.h"

namespace eric::sidecar {

inline constexpr size_t kArenaAlignment = 4096;  // page-aligned: friendly to DMA and to numpy

class ArenaAllocator {
 public:
  explicit ArenaAllocator(size_t capacity);

  // An aligned range of `bytes` (> 0), waiting up to `timeout` for space.
  // `what` names the request in errors.
  Result<uint64_t> allocate(size_t bytes, std::chrono::milliseconds timeout, const std::string& what);
  // Gives back a range from allocate(); unknown offsets are an error (double free).
  Status free(uint64_t offset);

  size_t capacity() const { return capacity_; }
  size_t used() const;
  size_t allocations() const;
  // Wakes every waiter (they fail with Unavailable): the arena is shutting down.
  void close();

 private:
  std::optional<uint64_t> try_allocate(size_t bytes);  // mu_ held
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::map<uint64_t, size_t> free_;  // offset -> size, coalesced
  std::map<uint64_t, size_t> used_;  // offset -> size
  size_t used_bytes_ = 0;
  bool closed_ = false;
};

// The segment plus its allocator.
class Arena {
 public:
  static Result<std::unique_ptr<Arena>> create(size_t bytes);
  const std::string& name() const { return segment_.name(); }
  size_t size() const { return allocator_.capacity(); }
  char* data() const { return static_cast<char*>(segment_.data()); }
  ArenaAllocator& allocator() { return allocator_; }
  // Removes the segment's name (mappings stay valid until unmapped).
  void unlink() { segment_.unlink(); }

 private:
  Arena(distributed::ShmSegment segment, size_t bytes) : segment_(std::move(segment)), allocator_(bytes) {}
  distributed::ShmSegment segment_;
  ArenaAllocator allocator_;
};

}  // namespace eric::sidecar
