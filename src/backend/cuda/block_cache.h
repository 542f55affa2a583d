// BlockCache: the policy half of the caching device allocator, free of CUDA
// headers so the CPU-only CI unit-tests it with a fake backend.
//
// Design (why not cudaMallocAsync): cudaMallocAsync's pools are stream-ordered
// too, but their caching policy (release threshold, cross-stream reuse
// attributes) is opaque and only observable on a GPU. Owning the policy here
// gives (1) a deterministic, CPU-testable size-class cache, (2) exact
// statistics (bytes in use / cached / peak) for OOM messages and metrics, and
// (3) the same behaviour on every driver. The raw memory still comes from
// cudaMalloc, called rarely: steady-state encoder batches hit the cache.
//
// Stream ordering: a block freed on stream S goes onto S's free list at once.
// Work later enqueued on S runs after the work that used the block, so S can
// reuse it with no synchronisation. Another stream T may take it only after
// waiting for the event recorded at the free (backend.wait_free_on), which
// orders T behind S's pending work without blocking the host.
//
// Limit (`--cuda-memory-limit`): an optional cap on the bytes held from the
// driver (in use + cached), for sharing a GPU with e.g. an LLM server. Only
// driver mallocs can pass it (a cache hit holds nothing new), so the check
// sits there: a size class that would pass the limit first returns cached
// blocks to the driver (largest first, just enough), then fails with
// ResourceExhausted. The CUDA context and library handles are not counted:
// they are not allocated here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace eric::cuda {

using StreamId = uintptr_t;  // a cudaStream_t's bits; 0 = legacy default stream

// Raw memory and stream-order primitives; CudaMemoryBackend in
// device_allocator.cc is the real one.
class MemoryBackend {
 public:
  virtual ~MemoryBackend() = default;
  virtual Result<void*> malloc(size_t bytes) = 0;
  // Returns the memory to the driver; called only for idle cached blocks.
  virtual void free(void* ptr) = 0;
  // Record that `ptr` was released on `stream` (after the work enqueued so far).
  virtual Status mark_freed(void* ptr, StreamId stream) = 0;
  // Make `stream` wait (device-side) for the mark recorded for `ptr`.
  virtual Status wait_freed_on(void* ptr, StreamId stream) = 0;
  // Block the host until all device work is done (before handing memory back).
  virtual Status synchronize() = 0;
};

struct CacheStats {
  size_t bytes_in_use = 0;     // handed out, by size class
  size_t bytes_cached = 0;     // on free lists
  size_t peak_bytes_in_use = 0;
  uint64_t driver_mallocs = 0;  // backend.malloc calls that succeeded
  uint64_t cache_hits = 0;      // served from a free list
  uint64_t cross_stream_reuses = 0;
  size_t limit_bytes = 0;          // cap on in use + cached; 0 = none
  uint64_t limit_rejections = 0;   // allocations refused by the limit
};

class BlockCache {
 public:
  explicit BlockCache(MemoryBackend& backend) : backend_(backend) {}
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // Size class of a request: multiples of 512 B up to 1 MiB; above, the next
  // of 2^k * {1, 1.25, 1.5, 1.75} (at most 25% waste, and few classes, so
  // blocks are reused across slightly different batch shapes).
  static size_t size_class(size_t bytes);

  // A block of at least `bytes` usable on `stream` in stream order. On driver
  // OOM, frees every cached block and retries once; then ResourceExhausted.
  // Past the limit: ResourceExhausted naming the request, the limit and the
  // bytes in use (after trimming the cache where that makes room).
  Result<void*> allocate(size_t bytes, StreamId stream);
  // Caps the bytes held from the driver (0 = no limit). A lower limit than
  // what is held now trims the cache at once; blocks in use stay valid, and
  // further driver allocations fail until enough are released.
  Status set_limit(size_t bytes);
  size_t limit() const;
  // Returns a block from allocate(); the stream is where it was last used.
  Status release(void* ptr, StreamId stream);
  // Hands every cached (free) block back to the driver.
  Status empty_cache();
  CacheStats stats() const;

 private:
  Status free_all_cached_locked();
  // Returns cached blocks, largest first, until at most `target` bytes are
  // held (in use + cached) or the cache is empty.
  Status trim_cached_locked(size_t target);
  size_t held_locked() const { return stats_.bytes_in_use + stats_.bytes_cached; }

  MemoryBackend& backend_;
  mutable std::mutex mu_;
  // stream -> size class -> blocks
  std::unordered_map<StreamId, std::multimap<size_t, void*>> free_;
  std::unordered_map<void*, size_t> live_;  // ptr -> size class
  CacheStats stats_;
};

}  // namespace eric::cuda
