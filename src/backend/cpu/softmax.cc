// softmax.cc — softmax over the last dimension, in place: max-subtracted so
// e^x never overflows, float32 throughout (as torch.softmax on float32).
#include <algorithm>
#include <limits>

#include "backend/cpu/check.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/op_profile.h"
#include "backend/cpu/simd.h"
#include "common/thread_pool.h"

namespace eric::cpu {

using simd::v16;

namespace {

ERIC_CPU_CLONES void softmax_rows(float* x, int64_t rows, int64_t n) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * n;
    v16 m = simd::splat(neg_inf);
    int64_t i = 0;
    for (; i + simd::kW <= n; i += simd::kW) m = simd::vmax(m, simd::load(xr + i));
    if (i < n) m = simd::vmax(m, simd::load_partial(xr + i, n - i, neg_inf));
    const v16 mx = simd::splat(simd::hmax(m));
    v16 sum = simd::splat(0.0f);
    for (i = 0; i + simd::kW <= n; i += simd::kW) {
      v16 e = simd::vexp(simd::load(xr + i) - mx);
      simd::store(xr + i, e);
      sum += e;
    }
    if (i < n) {
      v16 e = simd::vexp(simd::load_partial(xr + i, n - i, neg_inf) - mx);  // padding: e^-inf = 0
      simd::store_partial(xr + i, e, n - i);
      sum += e;
    }
    const v16 inv = simd::splat(1.0f / simd::hsum(sum));
    for (i = 0; i + simd::kW <= n; i += simd::kW) simd::store(xr + i, simd::load(xr + i) * inv);
    if (i < n) simd::store_partial(xr + i, simd::load_partial(xr + i, n - i, 0.0f) * inv, n - i);
  }
}

}  // namespace

Status softmax_(Tensor& x) {
  profile::Scope timed(profile::OpKind::kSoftmax);
  ERIC_RETURN_IF_ERROR(check_f32_inplace(x, "softmax_", "x"));
  if (x.rank() < 1) return InvalidArgument("softmax_: x is a scalar {}", x.describe());
  const int64_t n = x.dim(-1), rows = leading_rows(x);
  if (n == 0 || rows == 0) return Status::Ok();
  float* p = x.mutable_data<float>();
  ThreadPool::global().parallel_for(rows, std::max<int64_t>(1, 16384 / n),
                                    [&](int64_t b, int64_t e) { softmax_rows(p + b * n, e - b, n); });
  return Status::Ok();
}

}  // namespace eric::cpu
