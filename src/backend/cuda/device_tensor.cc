#include "backend/cuda/device_tensor.h"

namespace eric::cuda {

Result<DeviceTensor> DeviceTensor::empty(DType dtype, Shape shape, int device, cudaStream_t stream) {
  for (int64_t d : shape.dims()) {
    if (d < 0) return InvalidArgument("device tensor shape {} has a negative dim", shape.to_string());
  }
  DeviceTensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  ERIC_ASSIGN_OR_RETURN(t.buffer_, DeviceBuffer::allocate(t.nbytes(), device, stream));
  return t;
}

Result<DeviceTensor> DeviceTensor::reshape(std::vector<int64_t> dims) const {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (infer >= 0) return InvalidArgument("reshape of {}: more than one -1", shape_.to_string());
      infer = static_cast<int>(i);
    } else {
      known *= dims[i];
    }
  }
  if (infer >= 0 && known > 0) dims[static_cast<size_t>(infer)] = numel() / known;
  Shape s(std::move(dims));
  if (s.numel() != numel()) {
    return InvalidArgument("reshape of {} to {}: element counts differ", shape_.to_string(), s.to_string());
  }
  DeviceTensor t = *this;
  t.shape_ = std::move(s);
  return t;
}

Result<DeviceTensor> DeviceTensor::slice_rows(int64_t begin, int64_t end) const {
  if (rank() < 1 || begin < 0 || end < begin || end > dim(0)) {
    return OutOfRange("rows [{}, {}) of device tensor {}", begin, end, shape_.to_string());
  }
  DeviceTensor t = *this;
  const int64_t row = dim(0) == 0 ? 0 : numel() / dim(0);
  t.offset_bytes_ += static_cast<size_t>(begin * row) * dtype_size(dtype_);
  std::vector<int64_t> d = shape_.dims();
  d[0] = end - begin;
  t.shape_ = Shape(std::move(d));
  return t;
}

Status DeviceTensor::expect_shape(const Shape& expected, std::string_view what) const {
  if (shape_ != expected) {
    return InvalidArgument("{}: expected shape {}, got {}", what, expected.to_string(), shape_.to_string());
  }
  return Status::Ok();
}

Status DeviceTensor::expect_dtype(DType expected, std::string_view what) const {
  if (dtype_ != expected) {
    return InvalidArgument("{}: expected {}, got {}", what, dtype_name(expected), dtype_name(dtype_));
  }
  return Status::Ok();
}

}  // namespace eric::cuda
