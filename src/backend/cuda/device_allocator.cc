#include "backend/cuda/device_allocator.h"

#include <mutex>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_error.h"
#include "common/logging.h"

namespace eric::cuda {

namespace {

// Restores the caller's current device on scope exit.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    cudaGetDevice(&prev_);
    if (prev_ != device) cudaSetDevice(device);
  }
  ~DeviceGuard() { cudaSetDevice(prev_); }

 private:
  int prev_ = 0;
};

// cudaMalloc/cudaFree, plus one reusable event per block for stream order.
class CudaMemoryBackend final : public MemoryBackend {
 public:
  explicit CudaMemoryBackend(int device) : device_(device) {}
  ~CudaMemoryBackend() override {
    for (auto& [p, ev] : events_) cudaEventDestroy(ev);
  }

  Result<void*> malloc(size_t bytes) override {
    DeviceGuard g(device_);
    void* p = nullptr;
    ERIC_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, bytes), "cudaMalloc");
    return p;
  }
  void free(void* ptr) override {
    DeviceGuard g(device_);
    if (auto it = events_.find(ptr); it != events_.end()) {
      cudaEventDestroy(it->second);
      events_.erase(it);
    }
    cudaFree(ptr);
  }
  Status mark_freed(void* ptr, StreamId stream) override {
    DeviceGuard g(device_);
    cudaEvent_t& ev = events_[ptr];
    if (ev == nullptr) ERIC_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "event create");
    ERIC_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev, reinterpret_cast<cudaStream_t>(stream)), "event record");
    return Status::Ok();
  }
  Status wait_freed_on(void* ptr, StreamId stream) override {
    auto it = events_.find(ptr);
    if (it == events_.end()) return Status::Ok();
    DeviceGuard g(device_);
    ERIC_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(stream), it->second, 0),
                              "stream wait event");
    return Status::Ok();
  }
  Status synchronize() override {
    DeviceGuard g(device_);
    ERIC_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "device synchronize");
    return Status::Ok();
  }

 private:
  int device_;
  // Guarded by BlockCache's mutex: every call comes from inside it.
  std::unordered_map<void*, cudaEvent_t> events_;
};

}  // namespace

DeviceAllocator::DeviceAllocator(int device)
    : device_(device),
      backend_(std::make_unique<CudaMemoryBackend>(device)),
      cache_(std::make_unique<BlockCache>(*backend_)) {}

DeviceAllocator::~DeviceAllocator() { cache_.reset(); }

Result<DeviceAllocator*> DeviceAllocator::for_device(int device) {
  static std::mutex mu;
  // Leaked on purpose: buffers in static objects may outlive main().
  static auto* allocators = new std::unordered_map<int, DeviceAllocator*>();
  std::lock_guard lock(mu);
  if (auto it = allocators->find(device); it != allocators->end()) return it->second;
  int count = 0;
  ERIC_CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count), "device count");
  if (device < 0 || device >= count) return InvalidArgument("CUDA device {} does not exist ({} visible)", device, count);
  auto* a = new DeviceAllocator(device);
  allocators->emplace(device, a);
  return a;
}

Result<void*> DeviceAllocator::allocate(size_t bytes, cudaStream_t stream) {
  return cache_->allocate(bytes, reinterpret_cast<StreamId>(stream));
}

Status DeviceAllocator::release(void* ptr, cudaStream_t stream) {
  return cache_->release(ptr, reinterpret_cast<StreamId>(stream));
}

Result<std::shared_ptr<DeviceBuffer>> DeviceBuffer::allocate(size_t bytes, int device, cudaStream_t stream) {
  ERIC_ASSIGN_OR_RETURN(DeviceAllocator * alloc, DeviceAllocator::for_device(device));
  ERIC_ASSIGN_OR_RETURN(void* p, alloc->allocate(bytes, stream));
  return std::shared_ptr<DeviceBuffer>(new DeviceBuffer(alloc, p, bytes, stream));
}

DeviceBuffer::~DeviceBuffer() {
  Status st = alloc_->release(ptr_, stream_);
  // After a sticky error every release fails alike, and the process is on
  // its way out (the worker stops): one logged cause is enough.
  if (!st.ok() && context_lost().ok()) spdlog::error("device buffer release: {}", st.message());
}

}  // namespace eric::cuda
