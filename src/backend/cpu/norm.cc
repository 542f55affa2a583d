// norm.cc — LayerNorm and RMSNorm over the last dimension, one row at a time.
//
// LayerNorm takes two passes over the row (mean, then the sum of squared
// deviations) instead of E[x^2] - E[x]^2: the one-pass form cancels badly when
// |mean| >> std, which residual streams do produce. Each pass keeps two vector
// accumulators, so sums are over ~n/32 terms per lane, well inside 1e-6.
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

// sum over the row of f(x[i]) for a functor f with f(fill) == 0 on padding.
template <typename F>
ERIC_INLINE float row_sum(const float* x, int64_t n, float fill, F f) {
  v16 a0 = simd::splat(0.0f), a1 = simd::splat(0.0f);
  int64_t i = 0;
  for (; i + 2 * simd::kW <= n; i += 2 * simd::kW) {
    a0 += f(simd::load(x + i));
    a1 += f(simd::load(x + i + simd::kW));
  }
  for (; i + simd::kW <= n; i += simd::kW) a0 += f(simd::load(x + i));
  if (i < n) a1 += f(simd::load_partial(x + i, n - i, fill));
  return simd::hsum(a0 + a1);
}

struct Identity {
  ERIC_INLINE v16 operator()(v16 x) const { return x; }
};
struct SquaredDeviation {
  v16 mean;
  ERIC_INLINE v16 operator()(v16 x) const { return (x - mean) * (x - mean); }
};

// y = (x - mean) * rstd * gamma (+ beta); beta may be null.
ERIC_CPU_CLONES void layer_norm_rows(const float* x, float* y, int64_t rows, int64_t n, const float* gamma,
                                     const float* beta, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float mean = row_sum(xr, n, 0.0f, Identity{}) / static_cast<float>(n);
    const float var = row_sum(xr, n, mean, SquaredDeviation{simd::splat(mean)}) / static_cast<float>(n);
    const float rstd = 1.0f / std::sqrt(var + eps);
    for (int64_t i = 0; i < n; ++i) {
      float v = (xr[i] - mean) * rstd * gamma[i];
      yr[i] = beta ? v + beta[i] : v;
    }
  }
}

struct Square {
  ERIC_INLINE v16 operator()(v16 x) const { return x * x; }
};

// y = x * rsqrt(mean(x^2) + eps) * gamma, the order of Qwen2RMSNorm.
ERIC_CPU_CLONES void rms_norm_rows(const float* x, float* y, int64_t rows, int64_t n, const float* gamma,
                                   float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float ms = row_sum(xr, n, 0.0f, Square{}) / static_cast<float>(n);
    const float rstd = 1.0f / std::sqrt(ms + eps);
    for (int64_t i = 0; i < n; ++i) yr[i] = gamma[i] * (xr[i] * rstd);
  }
}

// Validates x and a per-feature vector; returns the contiguous x.
Result<Tensor> prepare(const Tensor& x, const Tensor& gamma, std::string_view op) {
  ERIC_ASSIGN_OR_RETURN(Tensor xc, contiguous_f32(x, op, "x"));
  if (xc.rank() < 1 || xc.dim(-1) == 0) return InvalidArgument("{}: x has shape {}, expected [..., features > 0]", op, xc.shape().to_string());
  ERIC_RETURN_IF_ERROR(check_f32(gamma, op, "weight"));
  ERIC_RETURN_IF_ERROR(check_vector(gamma, xc.dim(-1), op, "weight"));
  return xc;
}

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / cols); }

}  // namespace

Result<Tensor> layer_norm(const Tensor& x, const Tensor& gamma, const Tensor* beta, float eps) {
  profile::Scope timed(profile::OpKind::kNorm);
  ERIC_ASSIGN_OR_RETURN(Tensor xc, prepare(x, gamma, "layer_norm"));
  const int64_t n = xc.dim(-1), rows = leading_rows(xc);
  Tensor g, b;
  ERIC_ASSIGN_OR_RETURN(g, gamma.contiguous());
  if (beta) {
    ERIC_RETURN_IF_ERROR(check_f32(*beta, "layer_norm", "bias"));
    ERIC_RETURN_IF_ERROR(check_vector(*beta, n, "layer_norm", "bias"));
    ERIC_ASSIGN_OR_RETURN(b, beta->contiguous());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor y, Tensor::empty(DType::kF32, xc.shape()));
  const float* px = xc.data<float>();
  const float* pg = g.data<float>();
  const float* pb = beta ? b.data<float>() : nullptr;
  float* py = y.mutable_data<float>();
  ThreadPool::global().parallel_for(rows, row_grain(n), [&](int64_t s, int64_t e) {
    layer_norm_rows(px + s * n, py + s * n, e - s, n, pg, pb, eps);
  });
  return y;
}

Result<Tensor> rms_norm(const Tensor& x, const Tensor& gamma, float eps) {
  profile::Scope timed(profile::OpKind::kNorm);
  ERIC_ASSIGN_OR_RETURN(Tensor xc, prepare(x, gamma, "rms_norm"));
  const int64_t n = xc.dim(-1), rows = leading_rows(xc);
  ERIC_ASSIGN_OR_RETURN(Tensor g, gamma.contiguous());
  ERIC_ASSIGN_OR_RETURN(Tensor y, Tensor::empty(DType::kF32, xc.shape()));
  const float* px = xc.data<float>();
  const float* pg = g.data<float>();
  float* py = y.mutable_data<float>();
  ThreadPool::global().parallel_for(rows, row_grain(n), [&](int64_t s, int64_t e) {
    rms_norm_rows(px + s * n, py + s * n, e - s, n, pg, eps);
  });
  return y;
}

}  // namespace eric::cpu
