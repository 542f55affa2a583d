#include "backend/cpu/check.h"

namespace eric::cpu {

Status check_f32(const Tensor& t, std::string_view op, std::string_view what) {
  if (!t.defined()) return InvalidArgument("{}: {} is an undefined tensor", op, what);
  if (!t.device().is_cpu()) return InvalidArgument("{}: {} is {}, expected a CPU tensor", op, what, t.describe());
  if (t.dtype() != DType::kF32) {
    return InvalidArgument("{}: {} is {}, expected float32", op, what, t.describe());
  }
  return Status::Ok();
}

Status check_f32_inplace(const Tensor& t, std::string_view op, std::string_view what) {
  ERIC_RETURN_IF_ERROR(check_f32(t, op, what));
  if (!t.is_contiguous()) return InvalidArgument("{}: {} {} is not contiguous", op, what, t.describe());
  if (t.read_only()) return InvalidArgument("{}: {} {} is read-only (memory-mapped)", op, what, t.describe());
  return Status::Ok();
}

Status check_last_dim(const Tensor& t, int64_t cols, std::string_view op, std::string_view what) {
  if (t.rank() < 1 || t.dim(-1) != cols) {
    return InvalidArgument("{}: {} has shape {}, expected last dimension {}", op, what, t.shape().to_string(),
                           cols);
  }
  return Status::Ok();
}

Status check_vector(const Tensor& t, int64_t n, std::string_view op, std::string_view what) {
  if (t.rank() != 1 || t.dim(0) != n) {
    return InvalidArgument("{}: {} has shape {}, expected [{}]", op, what, t.shape().to_string(), n);
  }
  return Status::Ok();
}

int64_t leading_rows(const Tensor& t) {
  int64_t rows = 1;
  for (int i = 0; i + 1 < t.rank(); ++i) rows *= t.dim(i);
  return rows;
}

Result<Tensor> contiguous_f32(const Tensor& t, std::string_view op, std::string_view what) {
  ERIC_RETURN_IF_ERROR(check_f32(t, op, what));
  return t.contiguous();
}

}  // namespace eric::cpu
