#include "sidecar/arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace eric::sidecar {

namespace {
size_t round_up(size_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }
}  // namespace

ArenaAllocator::ArenaAllocator(size_t capacity) : capacity_(capacity / kArenaAlignment * kArenaAlignment) {
  if (capacity_ > 0) free_[0] = capacity_;
}

std::optional<uint64_t> ArenaAllocator::try_allocate(size_t bytes) {
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < bytes) continue;
    uint64_t off = it->first;
    size_t left = it->second - bytes;
    free_.erase(it);
    if (left > 0) free_[off + bytes] = left;
    used_[off] = bytes;
    used_bytes_ += bytes;
    return off;
  }
  return std::nullopt;
}

Result<uint64_t> ArenaAllocator::allocate(size_t bytes, std::chrono::milliseconds timeout, const std::string& what) {
  if (bytes == 0) return InvalidArgument("{}: cannot allocate 0 bytes in the sidecar arena", what);
  const size_t need = round_up(bytes);
  if (need > capacity_ || need < bytes) {
    return ResourceExhausted("{}: {} bytes can never fit the sidecar arena of {} bytes (raise --arena-bytes)", what,
                             bytes, capacity_);
  }
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (closed_) return Unavailable("{}: the sidecar is shutting down", what);
    if (auto off = try_allocate(need)) return *off;
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (closed_) return Unavailable("{}: the sidecar is shutting down", what);
      if (auto off = try_allocate(need)) return *off;
      return ResourceExhausted(
          "{}: the sidecar arena stayed full for {} ms ({} of {} bytes in use by {} tensors; consumers are not "
          "collecting)",
          what, timeout.count(), used_bytes_, capacity_, used_.size());
    }
  }
}

Status ArenaAllocator::free(uint64_t offset) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = used_.find(offset);
    if (it == used_.end()) return NotFound("sidecar arena offset {} is not allocated", offset);
    size_t size = it->second;
    used_.erase(it);
    used_bytes_ -= size;
    // Insert and merge with the neighbours.
    auto [ins, _] = free_.emplace(offset, size);
    auto next = std::next(ins);
    if (next != free_.end() && ins->first + ins->second == next->first) {
      ins->second += next->second;
      free_.erase(next);
    }
    if (ins != free_.begin()) {
      auto prev = std::prev(ins);
      if (prev->first + prev->second == ins->first) {
        prev->second += ins->second;
        free_.erase(ins);
      }
    }
  }
  freed_.notify_all();
  return Status::Ok();
}

size_t ArenaAllocator::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_bytes_;
}

size_t ArenaAllocator::allocations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_.size();
}

void ArenaAllocator::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  freed_.notify_all();
}

Result<std::unique_ptr<Arena>> Arena::create(size_t bytes) {
  if (bytes < kArenaAlignment) return InvalidArgument("sidecar arena of {} bytes is too small (at least {})", bytes, kArenaAlignment);
  ERIC_ASSIGN_OR_RETURN(auto seg, distributed::ShmSegment::create("sidecar", bytes));
  // Reserve every page now: a sparse segment larger than what /dev/shm can
  // hold would SIGBUS a producer, consumer or this process at first touch of
  // a missing page. Failing here, at start, is the clear error instead.
  int fd = shm_open(seg.name().c_str(), O_RDWR, 0);
  if (fd < 0) return IoError("cannot reopen the sidecar arena {}: {}", seg.name(), std::strerror(errno));
  int err = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  close(fd);
  if (err != 0) {
    return ResourceExhausted("cannot reserve a sidecar arena of {} MiB in /dev/shm: {} (lower --arena-mib)", bytes >> 20,
                             std::strerror(err));
  }
  return std::unique_ptr<Arena>(new Arena(std::move(seg), bytes));
}

}  // namespace eric::sidecar
