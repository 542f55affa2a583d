// Tensor: typed, shaped, strided view onto a Storage. Copying a Tensor shares
// its storage (like torch.Tensor); clone()/contiguous() make real copies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace eric {

template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::kF32;
  else if constexpr (std::is_same_v<T, uint8_t>) return DType::kU8;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::kI32;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::kI64;
  else if constexpr (std::is_same_v<T, bool>) return DType::kBool;
  else static_assert(sizeof(T) == 0, "no DType for this C++ type (bf16/f16 are uint16_t: use raw_data)");
}

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor

  static Result<Tensor> empty(DType dtype, Shape shape, Device device = Device::cpu());
  static Result<Tensor> zeros(DType dtype, Shape shape);
  template <typename T>
  static Result<Tensor> from_vector(const std::vector<T>& values, Shape shape);
  // A contiguous tensor over existing storage starting at offset_bytes.
  static Result<Tensor> from_storage(std::shared_ptr<Storage> storage, size_t offset_bytes, DType dtype,
                                     Shape shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_.dim(i); }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool is_contiguous() const;
  bool read_only() const { return storage_ && storage_->read_only(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Address of element [0, 0, ...].
  const void* raw_data() const;
  void* mutable_raw_data();  // aborts on read-only (mmap) storage

  template <typename T>
  const T* data() const {
    ERIC_CHECK(dtype_ == dtype_of<T>(), "tensor is {}, accessed as {}", dtype_name(dtype_),
               dtype_name(dtype_of<T>()));
    return static_cast<const T*>(raw_data());
  }
  template <typename T>
  T* mutable_data() {
    ERIC_CHECK(dtype_ == dtype_of<T>(), "tensor is {}, accessed as {}", dtype_name(dtype_),
               dtype_name(dtype_of<T>()));
    return static_cast<T*>(mutable_raw_data());
  }

  // ---- views (share storage) ----
  // New shape with the same number of elements; one dim may be -1. Needs a
  // contiguous tensor.
  Result<Tensor> reshape(std::vector<int64_t> dims) const;
  // Elements [start, end) along `dim`.
  Result<Tensor> slice(int dim, int64_t start, int64_t end) const;
  Result<Tensor> permute(const std::vector<int>& order) const;
  Result<Tensor> transpose(int a, int b) const;

  // ---- copies ----
  Result<Tensor> contiguous() const;  // returns *this when already contiguous
  Result<Tensor> clone() const;       // always a fresh contiguous copy
  Result<Tensor> to(DType dtype) const;
  // Copies src's elements into this tensor (same shape and dtype).
  Status copy_from(const Tensor& src);

  // ---- checks that produce clear errors ----
  Status expect_shape(const Shape& expected, std::string_view what) const;
  Status expect_dtype(DType expected, std::string_view what) const;

  // "float32[2, 3] cpu"
  std::string describe() const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::vector<int64_t> strides_;  // in elements
};

// The rows (dim 0) of `parts` one after the other, in a new contiguous CPU
// tensor: [sum of their dim 0, ...rest]. The parts must share dtype, rank (>= 1)
// and the dims after the first; strided views are read through their strides.
Result<Tensor> concat_rows(const std::vector<Tensor>& parts);

template <typename T>
Result<Tensor> Tensor::from_vector(const std::vector<T>& values, Shape shape) {
  if (static_cast<int64_t>(values.size()) != shape.numel()) {
    return InvalidArgument("from_vector: {} values do not fill shape {}", values.size(), shape.to_string());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(dtype_of<T>(), std::move(shape)));
  T* out = t.mutable_data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

}  // namespace eric
