// activation.cc — element-wise ops: GELU (erf, tanh), QuickGELU, SiLU, the
// gated SiLU product, residual add and bias add.
//
// The sigmoid-type activations all reduce to x * sigmoid(z) = x / (1 + e^-z)
// with simd::vexp (exact identity for the tanh GELU: 0.5 x (1 + tanh u) =
// x * sigmoid(2u)), so they vectorise and stay accurate for large |x|.
// gelu_erf uses std::erf per element: in the supported models it only runs in
// the patch merger (tokens/4 rows), far from the hot path.
#include <algorithm>
#include <cmath>

#include "backend/cpu/check.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/op_profile.h"
#include "backend/cpu/simd.h"
#include "common/thread_pool.h"

namespace eric::cpu {

using simd::v16;

namespace {

// Elements per parallel_for chunk: big enough that scheduling is noise.
constexpr int64_t kGrain = 1 << 15;

struct QuickGelu {
  ERIC_INLINE v16 operator()(v16 x) const { return simd::vsigmoid_mul(x, x * simd::splat(1.702f)); }
};
struct Silu {
  ERIC_INLINE v16 operator()(v16 x) const { return simd::vsigmoid_mul(x, x); }
};
struct GeluTanh {
  ERIC_INLINE v16 operator()(v16 x) const {
    const v16 k = simd::splat(0.7978845608028654f);  // sqrt(2/pi)
    v16 u = k * (x + simd::splat(0.044715f) * x * x * x);
    return simd::vsigmoid_mul(x, u + u);
  }
};

template <typename F>
ERIC_INLINE void map_inplace(float* x, int64_t n, F f) {
  int64_t i = 0;
  for (; i + simd::kW <= n; i += simd::kW) simd::store(x + i, f(simd::load(x + i)));
  if (i < n) simd::store_partial(x + i, f(simd::load_partial(x + i, n - i, 0.0f)), n - i);
}

ERIC_CPU_CLONES void quick_gelu_span(float* x, int64_t n) { map_inplace(x, n, QuickGelu{}); }
ERIC_CPU_CLONES void silu_span(float* x, int64_t n) { map_inplace(x, n, Silu{}); }
ERIC_CPU_CLONES void gelu_tanh_span(float* x, int64_t n) { map_inplace(x, n, GeluTanh{}); }

void gelu_erf_span(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

ERIC_CPU_CLONES void silu_mul_span(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + simd::kW <= n; i += simd::kW) {
    v16 g = simd::load(gate + i);
    simd::store(out + i, simd::vsigmoid_mul(g, g) * simd::load(up + i));
  }
  if (i < n) {
    v16 g = simd::load_partial(gate + i, n - i, 0.0f);
    simd::store_partial(out + i, simd::vsigmoid_mul(g, g) * simd::load_partial(up + i, n - i, 0.0f), n - i);
  }
}

ERIC_CPU_CLONES void add_span(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

ERIC_CPU_CLONES void add_bias_rows(float* x, const float* bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    for (int64_t j = 0; j < cols; ++j) row[j] += bias[j];
  }
}

// Runs span(x + b, e - b) over the tensor's elements on the global pool.
template <typename Span>
Status apply_inplace(Tensor& x, std::string_view op, Span span) {
  profile::Scope timed(profile::OpKind::kActivation);
  ERIC_RETURN_IF_ERROR(check_f32_inplace(x, op, "x"));
  float* p = x.mutable_data<float>();
  ThreadPool::global().parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) { span(p + b, e - b); });
  return Status::Ok();
}

}  // namespace

Status gelu_erf_(Tensor& x) { return apply_inplace(x, "gelu_erf_", gelu_erf_span); }
Status gelu_tanh_(Tensor& x) { return apply_inplace(x, "gelu_tanh_", gelu_tanh_span); }
Status quick_gelu_(Tensor& x) { return apply_inplace(x, "quick_gelu_", quick_gelu_span); }
Status silu_(Tensor& x) { return apply_inplace(x, "silu_", silu_span); }

Status add_(Tensor& x, const Tensor& y) {
  profile::Scope timed(profile::OpKind::kElementwise);
  ERIC_RETURN_IF_ERROR(check_f32_inplace(x, "add_", "x"));
  ERIC_ASSIGN_OR_RETURN(Tensor yc, contiguous_f32(y, "add_", "y"));
  if (yc.shape() != x.shape()) {
    return InvalidArgument("add_: x has shape {} but y has shape {}", x.shape().to_string(), yc.shape().to_string());
  }
  float* px = x.mutable_data<float>();
  const float* py = yc.data<float>();
  ThreadPool::global().parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) { add_span(px + b, py + b, e - b); });
  return Status::Ok();
}

Status add_bias_(Tensor& x, const Tensor& bias) {
  profile::Scope timed(profile::OpKind::kElementwise);
  ERIC_RETURN_IF_ERROR(check_f32_inplace(x, "add_bias_", "x"));
  if (x.rank() < 1) return InvalidArgument("add_bias_: x is a scalar {}", x.describe());
  const int64_t cols = x.dim(-1), rows = leading_rows(x);
  ERIC_ASSIGN_OR_RETURN(Tensor bc, contiguous_f32(bias, "add_bias_", "bias"));
  ERIC_RETURN_IF_ERROR(check_vector(bc, cols, "add_bias_", "bias"));
  float* px = x.mutable_data<float>();
  const float* pb = bc.data<float>();
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1));
  ThreadPool::global().parallel_for(rows, grain,
                                    [&](int64_t b, int64_t e) { add_bias_rows(px + b * cols, pb, e - b, cols); });
  return Status::Ok();
}

Result<Tensor> silu_mul(const Tensor& gate, const Tensor& up) {
  profile::Scope timed(profile::OpKind::kActivation);
  ERIC_ASSIGN_OR_RETURN(Tensor g, contiguous_f32(gate, "silu_mul", "gate"));
  ERIC_ASSIGN_OR_RETURN(Tensor u, contiguous_f32(up, "silu_mul", "up"));
  if (g.shape() != u.shape()) {
    return InvalidArgument("silu_mul: gate has shape {} but up has shape {}", g.shape().to_string(),
                           u.shape().to_string());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, g.shape()));
  const float* pg = g.data<float>();
  const float* pu = u.data<float>();
  float* po = out.mutable_data<float>();
  ThreadPool::global().parallel_for(g.numel(), kGrain,
                                    [&](int64_t b, int64_t e) { silu_mul_span(pg + b, pu + b, po + b, e - b); });
  return out;
}

}  // namespace eric::cpu
