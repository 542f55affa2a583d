// The caching device allocator (one per GPU, process-wide) and DeviceBuffer,
// an RAII block of device memory. Policy: block_cache.h.
#pragma once

#include <cuda_runtime.h>

#include <memory>

#include "backend/cuda/block_cache.h"
#include "common/status.h"

namespace eric::cuda {

class DeviceAllocator {
 public:
  // The allocator of `device` (created on first use; lives until exit).
  static Result<DeviceAllocator*> for_device(int device);

  Result<void*> allocate(size_t bytes, cudaStream_t stream);
  Status release(void* ptr, cudaStream_t stream);
  Status empty_cache() { return cache_->empty_cache(); }
  // Caps this GPU's bytes held by eric (in use + cached; 0 = none), process-
  // wide: `--cuda-memory-limit`, set by the encoder before it uploads its
  // weights. Past it, allocations fail with ResourceExhausted (block_cache.h).
  Status set_limit(size_t bytes) { return cache_->set_limit(bytes); }
  size_t limit() const { return cache_->limit(); }
  CacheStats stats() const { return cache_->stats(); }
  int device() const { return device_; }

  ~DeviceAllocator();

 private:
  explicit DeviceAllocator(int device);
  int device_;
  std::unique_ptr<MemoryBackend> backend_;
  std::unique_ptr<BlockCache> cache_;
};

// Owns one allocation; returning it to the cache on `stream()` when destroyed.
// Whoever uses the buffer on another stream must set_stream() to that stream
// first (the last user's stream orders the reuse).
class DeviceBuffer {
 public:
  static Result<std::shared_ptr<DeviceBuffer>> allocate(size_t bytes, int device, cudaStream_t stream);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  int device() const { return alloc_->device(); }
  cudaStream_t stream() const { return stream_; }
  void set_stream(cudaStream_t s) { stream_ = s; }

 private:
  DeviceBuffer(DeviceAllocator* alloc, void* ptr, size_t bytes, cudaStream_t stream)
      : alloc_(alloc), ptr_(ptr), bytes_(bytes), stream_(stream) {}
  DeviceAllocator* alloc_;
  void* ptr_;
  size_t bytes_;
  cudaStream_t stream_;
};

}  // namespace eric::cuda
