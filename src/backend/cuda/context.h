// Context: what every CUDA op runs with — one device, one stream, the
// cuBLASLt handle and its workspace, and the pinned staging buffers for
// host-to-device copies. One per worker thread (not thread-safe).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <array>
#include <memory>

#include "backend/cuda/device_tensor.h"
#include "backend/cuda/host_transfer.h"
#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::cuda {

// Page-locked host memory, grown on demand, so cudaMemcpyAsync really is
// asynchronous. Two slots used in turn: filling one while the other's copy is
// in flight; a slot is reused only after its previous copy's event fired.
class PinnedStaging {
 public:
  PinnedStaging() = default;
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  // A slot of at least `bytes`, free for the host to write into.
  Result<void*> acquire(size_t bytes);
  // After enqueuing the copy out of (or into) the slot acquire() returned last.
  Status release_after(cudaStream_t stream);
  // The slot acquire() returned last, and waiting for the copy release_after
  // recorded on a slot: downloads read a slot back once the copy into it is done.
  int current_slot() const { return current_; }
  Status wait(int slot);

 private:
  struct Slot {
    void* ptr = nullptr;
    size_t bytes = 0;
    cudaEvent_t done = nullptr;  // recorded after the copy out of ptr
  };
  std::array<Slot, 2> slots_;
  int current_ = 0;
};

class Context {
 public:
  // A context on `device` with its own non-blocking stream.
  static Result<std::unique_ptr<Context>> create(int device);
  ~Context();

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t lt() const { return lt_; }
  void* workspace() const { return workspace_.raw_data(); }
  size_t workspace_bytes() const { return workspace_.nbytes(); }
  PinnedStaging& staging() { return staging_; }
  // Use TF32 tensor cores for float32 GEMMs (off by default: f32 matches CPU).
  bool allow_tf32 = false;

  Result<DeviceTensor> empty(DType dtype, Shape shape) {
    return DeviceTensor::empty(dtype, std::move(shape), device_, stream_);
  }
  Status synchronize();

 private:
  Context() = default;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  DeviceTensor workspace_;
  PinnedStaging staging_;
};

// Host tensor -> device, converted to `dtype` (f32 or bf16 from f32/bf16/f16;
// i32 from i32/i64) on the host while packing into pinned memory, then
// asynchronous copies on ctx's stream (float32/bf16 sources through
// upload_rows: parallel conversion, chunks overlapping the copies). Weights
// are uploaded once at load with it; rotary angles per forward.
Result<DeviceTensor> upload(const Tensor& host, DType dtype, Context& ctx);
// Device -> host float32 (bf16 widened); waits for ctx's stream.
Result<Tensor> download_f32(const DeviceTensor& dev, Context& ctx);

// Pinned chunk of the pipelined row transfers: big enough that each copy
// runs near PCIe speed (~45 GB/s on PCIe 5: 8 MiB is ~0.2 ms, well above a
// copy's ~10 us start cost), small enough that filling the first chunk (not
// overlapped with a copy) is short and the two slots stay small.
inline constexpr size_t kTransferChunkBytes = size_t{8} << 20;

// `src`'s packed rows into `dst` (device [src.rows(), src.width()], float32
// or bf16) without packing them on the host first: chunk by chunk, the host
// converts rows into one pinned slot (split over ThreadPool::global()) while
// the previous chunk's copy out of the other slot runs. Enqueued on ctx's
// stream; the host blocks may be freed on return (the last chunk waits in
// pinned memory).
Status upload_rows(const RowBlocks& src, const DeviceTensor& dst, Context& ctx,
                   size_t chunk_bytes = kTransferChunkBytes);
// The reverse: `src` (device [dst.rows(), dst.width()], float32 or bf16)
// into `dst`'s blocks (float32, or src's dtype), each row straight into its
// block: chunk i+1 is copied into one pinned slot while the host widens
// chunk i out of the other. Waits for ctx's stream.
Status download_rows(const DeviceTensor& src, RowBlocks& dst, Context& ctx,
                     size_t chunk_bytes = kTransferChunkBytes);

}  // namespace eric::cuda
