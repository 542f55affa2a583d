#include "distributed/shm_collective.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <thread>

#include "distributed/futex.h"

namespace eric::distributed {

namespace {

constexpr uint32_t kMagic = 0x45524152;  // "ERAR"
constexpr size_t kAlign = 64;
constexpr int kSpinIterations = 20000;  // ~tens of microseconds before sleeping

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct alignas(64) Header {
  uint32_t magic;
  uint32_t world_size;
  uint64_t chunk_floats;
  std::atomic<uint32_t> arrived;
  std::atomic<uint32_t> generation;  // futex word: bumped when a barrier opens
  std::atomic<uint32_t> broken;      // set when a rank gave up waiting
};

size_t segment_bytes(int world_size, size_t chunk_floats) {
  return align_up(sizeof(Header)) + (static_cast<size_t>(world_size) + 1) * align_up(chunk_floats * sizeof(float));
}

class ShmCollective final : public Collective {
 public:
  ShmCollective(ShmSegment segment, int rank, std::chrono::milliseconds timeout)
      : segment_(std::move(segment)), rank_(rank), timeout_(timeout) {
    header_ = static_cast<Header*>(segment_.data());
    world_ = static_cast<int>(header_->world_size);
    chunk_ = header_->chunk_floats;
    auto* base = static_cast<uint8_t*>(segment_.data()) + align_up(sizeof(Header));
    const size_t stride = align_up(chunk_ * sizeof(float));
    for (int r = 0; r <= world_; ++r) buffers_.push_back(reinterpret_cast<float*>(base + r * stride));
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }

  Status all_reduce_sum(Tensor& tensor) override {
    ERIC_RETURN_IF_ERROR(tensor.expect_dtype(DType::kF32, "all_reduce_sum"));
    if (!tensor.is_contiguous()) return InvalidArgument("all_reduce_sum needs a contiguous tensor, got {}", tensor.describe());
    if (!tensor.device().is_cpu()) return InvalidArgument("shared-memory all_reduce_sum of a {} tensor", tensor.describe());
    if (world_ == 1 || tensor.numel() == 0) return Status::Ok();
    float* data = tensor.mutable_data<float>();
    const size_t n = static_cast<size_t>(tensor.numel());
    float* result = buffers_[world_];
    for (size_t start = 0; start < n; start += chunk_) {
      const size_t len = std::min(chunk_, n - start);
      std::memcpy(buffers_[rank_], data + start, len * sizeof(float));
      ERIC_RETURN_IF_ERROR(barrier());
      const size_t lo = len * rank_ / world_, hi = len * (rank_ + 1) / world_;
      for (size_t i = lo; i < hi; ++i) {
        float s = buffers_[0][i];
        for (int r = 1; r < world_; ++r) s += buffers_[r][i];
        result[i] = s;
      }
      ERIC_RETURN_IF_ERROR(barrier());
      std::memcpy(data + start, result, len * sizeof(float));
      // No third barrier: the next write to `result` happens only after the
      // next chunk's first barrier, which every rank reaches after copying.
    }
    return Status::Ok();
  }

 private:
  Status barrier() {
    if (header_->broken.load(std::memory_order_acquire)) return broken_error();
    const uint32_t gen = header_->generation.load(std::memory_order_acquire);
    if (header_->arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<uint32_t>(world_)) {
      header_->arrived.store(0, std::memory_order_relaxed);
      header_->generation.fetch_add(1, std::memory_order_acq_rel);
      futex_wake_all(&header_->generation);
      return Status::Ok();
    }
    for (int i = 0; i < kSpinIterations; ++i) {
      if (header_->generation.load(std::memory_order_acquire) != gen) return Status::Ok();
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (header_->generation.load(std::memory_order_acquire) == gen) {
      if (header_->broken.load(std::memory_order_acquire)) return broken_error();
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        header_->broken.store(1, std::memory_order_release);
        header_->generation.fetch_add(1, std::memory_order_acq_rel);  // wake the others to fail too
        futex_wake_all(&header_->generation);
        return DeadlineExceeded(
            "all_reduce_sum: rank {} waited {} ms at a barrier for the other {} ranks (a peer died or is stuck)",
            rank_, timeout_.count(), world_ - 1);
      }
      futex_wait(&header_->generation, gen, std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(100)));
    }
    if (header_->broken.load(std::memory_order_acquire)) return broken_error();
    return Status::Ok();
  }

  Status broken_error() const {
    return Unavailable("all_reduce_sum: the shared-memory communicator {} is broken (a rank timed out waiting for a peer)",
                       segment_.name());
  }

  ShmSegment segment_;
  Header* header_ = nullptr;
  int rank_ = 0;
  int world_ = 1;
  size_t chunk_ = 0;
  std::chrono::milliseconds timeout_;
  std::vector<float*> buffers_;  // world_ staging buffers, then the result
};

}  // namespace

Result<std::unique_ptr<ShmCollectiveGroup>> ShmCollectiveGroup::create(const ShmCollectiveOptions& options) {
  if (options.world_size < 1 || options.world_size > 1024) {
    return InvalidArgument("shared-memory collective: world size {} out of range [1, 1024]", options.world_size);
  }
  if (options.chunk_floats == 0) return InvalidArgument("shared-memory collective: chunk_floats must be > 0");
  auto group = std::unique_ptr<ShmCollectiveGroup>(new ShmCollectiveGroup());
  ERIC_ASSIGN_OR_RETURN(group->segment_,
                        ShmSegment::create("allreduce", segment_bytes(options.world_size, options.chunk_floats)));
  auto* h = new (group->segment_.data()) Header();
  h->world_size = static_cast<uint32_t>(options.world_size);
  h->chunk_floats = options.chunk_floats;
  h->arrived.store(0);
  h->generation.store(0);
  h->broken.store(0);
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = kMagic;
  return group;
}

Result<std::shared_ptr<Collective>> open_shm_collective(const std::string& name, int rank, int world_size,
                                                        std::chrono::milliseconds timeout) {
  ERIC_ASSIGN_OR_RETURN(ShmSegment seg, ShmSegment::open(name));
  if (seg.size() < sizeof(Header)) return DataLoss("shared memory {} is too small for a collective", name);
  auto* h = static_cast<Header*>(seg.data());
  if (h->magic != kMagic) return DataLoss("shared memory {} is not an eric collective", name);
  if (static_cast<int>(h->world_size) != world_size) {
    return InvalidArgument("collective {} has world size {}, but this rank expects {}", name, h->world_size, world_size);
  }
  if (rank < 0 || rank >= world_size) return InvalidArgument("rank {} out of range for world size {}", rank, world_size);
  if (seg.size() < segment_bytes(world_size, h->chunk_floats)) {
    return DataLoss("shared memory {} is smaller than its header says", name);
  }
  return std::shared_ptr<Collective>(std::make_shared<ShmCollective>(std::move(seg), rank, timeout));
}

}  // namespace eric::distributed
