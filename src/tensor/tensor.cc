#include "tensor/tensor.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace eric {

namespace {

// Checks dims are non-negative and the byte size does not overflow.
Status validate_shape(const Shape& shape, DType dtype) {
  uint64_t n = 1;
  for (int64_t d : shape.dims()) {
    if (d < 0) return InvalidArgument("negative dimension in shape {}", shape.to_string());
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(d)) {
      return ResourceExhausted("shape {} is too large", shape.to_string());
    }
    n *= static_cast<uint64_t>(d);
  }
  (void)dtype;
  return Status::Ok();
}

// Copies a strided tensor's elements into a contiguous buffer.
void gather_strided(const uint8_t* base, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides,
                    size_t elem, uint8_t* out) {
  const int rank = static_cast<int>(dims.size());
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (total == 0) return;
  if (rank == 0) {
    std::memcpy(out, base, elem);
    return;
  }
  // Innermost run: contiguous when the last stride is 1.
  const int64_t inner = dims[rank - 1];
  const bool inner_contig = strides[rank - 1] == 1;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t done = 0; done < total; done += inner) {
    int64_t off = 0;
    for (int i = 0; i < rank - 1; ++i) off += idx[i] * strides[i];
    const uint8_t* src = base + off * static_cast<int64_t>(elem);
    if (inner_contig) {
      std::memcpy(out, src, static_cast<size_t>(inner) * elem);
    } else {
      for (int64_t j = 0; j < inner; ++j) {
        std::memcpy(out + j * static_cast<int64_t>(elem), src + j * strides[rank - 1] * static_cast<int64_t>(elem),
                    elem);
      }
    }
    out += inner * static_cast<int64_t>(elem);
    for (int i = rank - 2; i >= 0; --i) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
}

}  // namespace

Result<Tensor> Tensor::empty(DType dtype, Shape shape, Device device) {
  if (!device.is_cpu()) {
    return Unimplemented("Tensor::empty on {} (device tensors are created by the device backend)",
                         device.to_string());
  }
  ERIC_RETURN_IF_ERROR(validate_shape(shape, dtype));
  ERIC_ASSIGN_OR_RETURN(auto storage,
                        Storage::allocate(static_cast<size_t>(shape.numel()) * dtype_size(dtype)));
  return from_storage(std::move(storage), 0, dtype, std::move(shape));
}

Result<Tensor> Tensor::zeros(DType dtype, Shape shape) {
  ERIC_ASSIGN_OR_RETURN(Tensor t, empty(dtype, std::move(shape)));
  std::memset(t.mutable_raw_data(), 0, t.nbytes());
  return t;
}

Result<Tensor> Tensor::from_storage(std::shared_ptr<Storage> storage, size_t offset_bytes, DType dtype,
                                    Shape shape) {
  if (!storage) return InvalidArgument("from_storage: null storage");
  ERIC_RETURN_IF_ERROR(validate_shape(shape, dtype));
  size_t need = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  if (offset_bytes > storage->size_bytes() || need > storage->size_bytes() - offset_bytes) {
    return OutOfRange("tensor {} {} at byte offset {} does not fit in storage of {} bytes",
                      dtype_name(dtype), shape.to_string(), offset_bytes, storage->size_bytes());
  }
  Tensor t;
  t.storage_ = std::move(storage);
  t.offset_bytes_ = offset_bytes;
  t.dtype_ = dtype;
  t.strides_ = shape.contiguous_strides();
  t.shape_ = std::move(shape);
  return t;
}

bool Tensor::is_contiguous() const { return strides_ == shape_.contiguous_strides() || numel() <= 1; }

const void* Tensor::raw_data() const {
  ERIC_CHECK(defined(), "{}", "raw_data() of an undefined tensor");
  return static_cast<const uint8_t*>(storage_->data()) + offset_bytes_;
}

void* Tensor::mutable_raw_data() {
  ERIC_CHECK(defined(), "{}", "mutable_raw_data() of an undefined tensor");
  ERIC_CHECK(!storage_->read_only(), "{}", "write access to read-only (memory-mapped) tensor storage");
  return static_cast<uint8_t*>(storage_->data()) + offset_bytes_;
}

Result<Tensor> Tensor::reshape(std::vector<int64_t> dims) const {
  if (!is_contiguous()) return InvalidArgument("reshape of a non-contiguous tensor {}", describe());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (infer >= 0) return InvalidArgument("reshape: more than one -1 in the new shape");
      infer = static_cast<int>(i);
    } else if (dims[i] < 0) {
      return InvalidArgument("reshape: negative dimension {}", dims[i]);
    } else {
      known *= dims[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0) {
      return InvalidArgument("reshape: cannot infer -1 for {} elements into {}", numel(), Shape(dims).to_string());
    }
    dims[static_cast<size_t>(infer)] = numel() / known;
  }
  Shape ns(std::move(dims));
  if (ns.numel() != numel()) {
    return InvalidArgument("reshape: shape {} has {} elements, tensor {} has {}", ns.to_string(), ns.numel(),
                           shape_.to_string(), numel());
  }
  Tensor t = *this;
  t.strides_ = ns.contiguous_strides();
  t.shape_ = std::move(ns);
  return t;
}

Result<Tensor> Tensor::slice(int dim, int64_t start, int64_t end) const {
  if (dim < 0) dim += rank();
  if (dim < 0 || dim >= rank()) return OutOfRange("slice: dim {} out of range for rank {}", dim, rank());
  if (start < 0 || end < start || end > shape_[dim]) {
    return OutOfRange("slice: [{}, {}) out of range for dim {} of size {}", start, end, dim, shape_[dim]);
  }
  Tensor t = *this;
  t.offset_bytes_ += static_cast<size_t>(start * strides_[static_cast<size_t>(dim)]) * dtype_size(dtype_);
  t.shape_[dim] = end - start;
  return t;
}

Result<Tensor> Tensor::permute(const std::vector<int>& order) const {
  if (static_cast<int>(order.size()) != rank()) {
    return InvalidArgument("permute: order has {} entries for a rank-{} tensor", order.size(), rank());
  }
  std::vector<bool> seen(static_cast<size_t>(rank()), false);
  std::vector<int64_t> dims(order.size()), strides(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    int o = order[i];
    if (o < 0 || o >= rank() || seen[static_cast<size_t>(o)]) {
      return InvalidArgument("permute: invalid order");
    }
    seen[static_cast<size_t>(o)] = true;
    dims[i] = shape_[o];
    strides[i] = strides_[static_cast<size_t>(o)];
  }
  Tensor t = *this;
  t.shape_ = Shape(std::move(dims));
  t.strides_ = std::move(strides);
  return t;
}

Result<Tensor> Tensor::transpose(int a, int b) const {
  if (a < 0) a += rank();
  if (b < 0) b += rank();
  if (a < 0 || b < 0 || a >= rank() || b >= rank()) return OutOfRange("transpose: dims out of range");
  std::vector<int> order(static_cast<size_t>(rank()));
  for (int i = 0; i < rank(); ++i) order[static_cast<size_t>(i)] = i;
  std::swap(order[static_cast<size_t>(a)], order[static_cast<size_t>(b)]);
  return permute(order);
}

Result<Tensor> Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Result<Tensor> Tensor::clone() const {
  if (!defined()) return InvalidArgument("clone of an undefined tensor");
  ERIC_ASSIGN_OR_RETURN(Tensor out, empty(dtype_, shape_));
  ERIC_RETURN_IF_ERROR(out.copy_from(*this));
  return out;
}

Result<Tensor> Tensor::to(DType dtype) const {
  if (dtype == dtype_) return clone();
  ERIC_ASSIGN_OR_RETURN(Tensor src, contiguous());
  ERIC_ASSIGN_OR_RETURN(Tensor out, empty(dtype, shape_));
  ERIC_RETURN_IF_ERROR(
      convert_elements(src.raw_data(), dtype_, out.mutable_raw_data(), dtype, static_cast<size_t>(numel())));
  return out;
}

Status Tensor::copy_from(const Tensor& src) {
  ERIC_RETURN_IF_ERROR(src.expect_shape(shape_, "copy_from source"));
  ERIC_RETURN_IF_ERROR(src.expect_dtype(dtype_, "copy_from source"));
  if (!is_contiguous()) return Unimplemented("copy_from into a non-contiguous tensor");
  auto* out = static_cast<uint8_t*>(mutable_raw_data());
  if (src.is_contiguous()) {
    std::memmove(out, src.raw_data(), nbytes());
  } else {
    gather_strided(static_cast<const uint8_t*>(src.raw_data()), src.shape_.dims(), src.strides_,
                   dtype_size(dtype_), out);
  }
  return Status::Ok();
}

Status Tensor::expect_shape(const Shape& expected, std::string_view what) const {
  if (shape_ != expected) {
    return InvalidArgument("{}: expected shape {}, got {}", what, expected.to_string(), shape_.to_string());
  }
  return Status::Ok();
}

Status Tensor::expect_dtype(DType expected, std::string_view what) const {
  if (dtype_ != expected) {
    return InvalidArgument("{}: expected dtype {}, got {}", what, dtype_name(expected), dtype_name(dtype_));
  }
  return Status::Ok();
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return fmt::format("{}{} {}", dtype_name(dtype_), shape_.to_string(), device().to_string());
}

Result<Tensor> concat_rows(const std::vector<Tensor>& parts) {
  if (parts.empty()) return InvalidArgument("concat_rows: no tensors to concatenate");
  const Tensor& first = parts[0];
  if (first.rank() < 1) return InvalidArgument("concat_rows: part 0 is a scalar");
  std::vector<int64_t> dims = first.shape().dims();
  int64_t rows = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    bool same_rest = p.rank() == first.rank();
    for (int d = 1; same_rest && d < first.rank(); ++d) same_rest = p.dim(d) == first.dim(d);
    if (p.dtype() != first.dtype() || !same_rest) {
      return InvalidArgument("concat_rows: part {} is {}, part 0 is {}", i, p.describe(), first.describe());
    }
    rows += p.dim(0);
  }
  dims[0] = rows;
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(first.dtype(), Shape(dims)));
  int64_t at = 0;
  for (const Tensor& p : parts) {
    ERIC_ASSIGN_OR_RETURN(Tensor dst, out.slice(0, at, at + p.dim(0)));
    ERIC_RETURN_IF_ERROR(dst.copy_from(p));
    at += p.dim(0);
  }
  return out;
}

}  // namespace eric
