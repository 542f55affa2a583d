// DeviceTensor: a contiguous, row-major tensor in GPU memory (float32 or
// bfloat16 for compute; int32 for indices such as cu_seqlens). Copies share
// the buffer, like eric::Tensor. Allocation goes through the caching
// allocator on the tensor's stream.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "backend/cuda/device_allocator.h"
#include "common/status.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"

namespace eric::cuda {

class DeviceTensor {
 public:
  DeviceTensor() = default;
  static Result<DeviceTensor> empty(DType dtype, Shape shape, int device, cudaStream_t stream);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_.dim(i); }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  int device() const { return buffer_ ? buffer_->device() : -1; }
  bool defined() const { return buffer_ != nullptr; }

  void* raw_data() const { return static_cast<char*>(buffer_->data()) + offset_bytes_; }
  template <typename T>
  T* data() const { return static_cast<T*>(raw_data()); }

  // Same storage, new shape (same numel; one dim may be -1).
  Result<DeviceTensor> reshape(std::vector<int64_t> dims) const;
  // Rows [begin, end) of dim 0, sharing storage.
  Result<DeviceTensor> slice_rows(int64_t begin, int64_t end) const;
  // The buffer is returned to the cache on this stream: call when a tensor
  // made on one stream is last used on another.
  void set_stream(cudaStream_t s) const { buffer_->set_stream(s); }

  Status expect_shape(const Shape& expected, std::string_view what) const;
  Status expect_dtype(DType expected, std::string_view what) const;

 private:
  std::shared_ptr<DeviceBuffer> buffer_;
  size_t offset_bytes_ = 0;
  DType dtype_ = DType::kF32;
  Shape shape_;
};

}  // namespace eric::cuda
