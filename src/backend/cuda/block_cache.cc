#include "backend/cuda/block_cache.h"

#include <algorithm>
#include <bit>
#include <iterator>

namespace eric::cuda {

namespace {
constexpr size_t kSmallGranule = 512;
constexpr size_t kSmallLimit = size_t{1} << 20;

double gib(size_t bytes) { return static_cast<double>(bytes) / static_cast<double>(size_t{1} << 30); }
}  // namespace

BlockCache::~BlockCache() {
  std::lock_guard lock(mu_);
  (void)free_all_cached_locked();  // live blocks belong to their owners' lifetimes
}

size_t BlockCache::size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmallLimit) return (bytes + kSmallGranule - 1) / kSmallGranule * kSmallGranule;
  size_t pow2 = std::bit_floor(bytes);
  size_t step = pow2 / 4;
  return (bytes + step - 1) / step * step;  // next quarter step above 2^k
}

Result<void*> BlockCache::allocate(size_t bytes, StreamId stream) {
  const size_t cls = size_class(bytes);
  std::lock_guard lock(mu_);
  auto take = [&](std::multimap<size_t, void*>& list) -> void* {
    auto it = list.find(cls);
    if (it == list.end()) return nullptr;
    void* p = it->second;
    list.erase(it);
    return p;
  };
  void* ptr = nullptr;
  if (auto it = free_.find(stream); it != free_.end()) ptr = take(it->second);
  if (ptr == nullptr) {
    for (auto& [other, list] : free_) {
      if (other == stream) continue;
      ptr = take(list);
      if (ptr != nullptr) {
        ERIC_RETURN_IF_ERROR(backend_.wait_freed_on(ptr, stream));
        ++stats_.cross_stream_reuses;
        break;
      }
    }
  }
  if (ptr != nullptr) {
    ++stats_.cache_hits;
    stats_.bytes_cached -= cls;
  } else {
    const size_t limit = stats_.limit_bytes;
    if (limit != 0 && held_locked() + cls > limit) {
      // Trimming helps only if the blocks in use leave room; otherwise keep
      // the cache (it serves the next, smaller batches) and refuse at once.
      if (stats_.bytes_in_use + cls <= limit) ERIC_RETURN_IF_ERROR(trim_cached_locked(limit - cls));
      if (held_locked() + cls > limit) {
        ++stats_.limit_rejections;
        return ResourceExhausted(
            "device allocation of {} bytes (size class {}) would exceed --cuda-memory-limit {} bytes ({:.2f} GiB): "
            "{} bytes in use, {} cached (raise --cuda-memory-limit or lower --max-batch-tokens)",
            bytes, cls, limit, gib(limit), stats_.bytes_in_use, stats_.bytes_cached);
      }
    }
    Result<void*> got = backend_.malloc(cls);
    if (!got.ok()) {
      ERIC_RETURN_IF_ERROR(free_all_cached_locked());
      got = backend_.malloc(cls);
      if (!got.ok()) {
        return ResourceExhausted("device allocation of {} bytes (class {}) failed with {} in use: {}", bytes, cls,
                                 stats_.bytes_in_use, got.status().message());
      }
    }
    ptr = got.value();
    ++stats_.driver_mallocs;
  }
  live_.emplace(ptr, cls);
  stats_.bytes_in_use += cls;
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return ptr;
}

Status BlockCache::release(void* ptr, StreamId stream) {
  if (ptr == nullptr) return Status::Ok();
  std::lock_guard lock(mu_);
  auto it = live_.find(ptr);
  if (it == live_.end()) return InvalidArgument("release of device pointer {} not allocated by this cache", ptr);
  const size_t cls = it->second;
  live_.erase(it);
  Status marked = backend_.mark_freed(ptr, stream);
  if (!marked.ok()) {
    // E.g. the stream is gone. Wait for the whole device instead, so the block
    // is idle and still reusable rather than leaked; report the cause.
    Status synced = backend_.synchronize();
    if (!synced.ok()) return synced;
  }
  free_[stream].emplace(cls, ptr);
  stats_.bytes_in_use -= cls;
  stats_.bytes_cached += cls;
  return marked;
}

Status BlockCache::empty_cache() {
  std::lock_guard lock(mu_);
  return free_all_cached_locked();
}

Status BlockCache::set_limit(size_t bytes) {
  std::lock_guard lock(mu_);
  stats_.limit_bytes = bytes;
  if (bytes == 0) return Status::Ok();
  return trim_cached_locked(std::min(bytes, held_locked()));
}

size_t BlockCache::limit() const {
  std::lock_guard lock(mu_);
  return stats_.limit_bytes;
}

Status BlockCache::trim_cached_locked(size_t target) {
  if (held_locked() <= target || stats_.bytes_cached == 0) return Status::Ok();
  // Cached blocks may still be read by work pending on their streams.
  ERIC_RETURN_IF_ERROR(backend_.synchronize());
  using Entry = std::pair<StreamId, std::multimap<size_t, void*>::iterator>;
  std::multimap<size_t, Entry> by_class;  // every cached block, smallest class first
  for (auto& [stream, list] : free_) {
    for (auto it = list.begin(); it != list.end(); ++it) by_class.emplace(it->first, Entry{stream, it});
  }
  while (held_locked() > target && !by_class.empty()) {
    // Best fit: the smallest block that alone makes room keeps the most of
    // the cache; else the largest, and go on.
    auto pick = by_class.lower_bound(held_locked() - target);
    if (pick == by_class.end()) pick = std::prev(by_class.end());
    auto [stream, it] = pick->second;
    backend_.free(it->second);
    stats_.bytes_cached -= pick->first;
    free_[stream].erase(it);
    by_class.erase(pick);
  }
  std::erase_if(free_, [](const auto& kv) { return kv.second.empty(); });
  return Status::Ok();
}

Status BlockCache::free_all_cached_locked() {
  if (stats_.bytes_cached == 0 && free_.empty()) return Status::Ok();
  // Cached blocks may still be read by work pending on their streams.
  ERIC_RETURN_IF_ERROR(backend_.synchronize());
  for (auto& [stream, list] : free_) {
    for (auto& [cls, p] : list) backend_.free(p);
  }
  free_.clear();
  stats_.bytes_cached = 0;
  return Status::Ok();
}

CacheStats BlockCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace eric::cuda
