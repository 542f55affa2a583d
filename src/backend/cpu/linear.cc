// linear.cc — torch.nn.Linear: y = x W^T + b, one sgemm over all rows.
//
// Half-precision weights (bf16, f16) are widened to a float32 temporary per
// call rather than cached: a cache keyed by storage would outlive or alias the
// weights it describes. Layers that care convert once at load.
#include <algorithm>

#include "backend/cpu/check.h"
#include "backend/cpu/ops.h"
#include "common/thread_pool.h"

namespace eric::cpu {

namespace {

constexpr std::string_view kOp = "linear";

// The weight as contiguous float32: itself, a copy, or a widened copy.
Result<Tensor> weight_f32(const Tensor& w) {
  if (!w.defined()) return InvalidArgument("linear: weight is an undefined tensor");
  if (!w.device().is_cpu()) return InvalidArgument("linear: weight is {}, expected a CPU tensor", w.describe());
  if (w.dtype() == DType::kF32) return w.contiguous();
  if (w.dtype() != DType::kBF16 && w.dtype() != DType::kF16) {
    return InvalidArgument("linear: weight is {}, expected float32, bfloat16 or float16", w.describe());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor wc, w.contiguous());
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, wc.shape()));
  const auto* src = static_cast<const uint8_t*>(wc.raw_data());
  float* dst = out.mutable_data<float>();
  const DType dt = wc.dtype();
  // Widening is exact and cannot fail for these dtypes; parallel because it
  // is memory-bound.
  ThreadPool::global().parallel_for(wc.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    Status s = convert_elements(src + b * 2, dt, dst + b, DType::kF32, static_cast<size_t>(e - b));
    ERIC_CHECK(s.ok(), "linear: widening weight: {}", s.to_string());
  });
  return out;
}

Status check_shapes(const Tensor& x, const Tensor& w, const Tensor* bias) {
  if (w.rank() != 2) return InvalidArgument("linear: weight has shape {}, expected [out, in]", w.shape().to_string());
  if (x.rank() < 1 || x.dim(-1) != w.dim(1)) {
    return InvalidArgument("linear: x has shape {} but weight has shape {} (x's last dimension must be {})",
                           x.shape().to_string(), w.shape().to_string(), w.dim(1));
  }
  if (bias) {
    ERIC_RETURN_IF_ERROR(check_f32(*bias, kOp, "bias"));
    ERIC_RETURN_IF_ERROR(check_vector(*bias, w.dim(0), kOp, "bias"));
  }
  return Status::Ok();
}

Shape output_shape(const Tensor& x, int64_t out_features) {
  std::vector<int64_t> dims = x.shape().dims();
  dims.back() = out_features;
  return Shape(std::move(dims));
}

}  // namespace

Status linear_out(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& out) {
  ERIC_ASSIGN_OR_RETURN(Tensor xc, contiguous_f32(x, kOp, "x"));
  ERIC_RETURN_IF_ERROR(check_shapes(xc, weight, bias));
  ERIC_RETURN_IF_ERROR(check_f32_inplace(out, kOp, "out"));
  const Shape want = output_shape(xc, weight.dim(0));
  if (out.shape() != want) {
    return InvalidArgument("linear: out has shape {}, expected {} for x {} and weight {}", out.shape().to_string(),
                           want.to_string(), xc.shape().to_string(), weight.shape().to_string());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor w, weight_f32(weight));
  const int64_t m = leading_rows(xc), k = w.dim(1), n = w.dim(0);
  sgemm(false, true, m, n, k, 1.0f, xc.data<float>(), k, w.data<float>(), k, 0.0f, out.mutable_data<float>(), n);
  if (bias) ERIC_RETURN_IF_ERROR(add_bias_(out, *bias));
  return Status::Ok();
}

Result<Tensor> linear(const Tensor& x, const Tensor& weight, const Tensor* bias) {
  ERIC_RETURN_IF_ERROR(check_f32(x, kOp, "x"));
  ERIC_RETURN_IF_ERROR(check_shapes(x, weight, bias));
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, output_shape(x, weight.dim(0))));
  ERIC_RETURN_IF_ERROR(linear_out(x, weight, bias, out));
  return out;
}

}  // namespace eric::cpu
