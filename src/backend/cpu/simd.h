// simd.h — 16-float vectors and the vector math the CPU kernels share.
//
// Why GCC/Clang vector extensions plus target_clones instead of intrinsics:
// every kernel marked ERIC_CPU_CLONES is compiled three times (AVX-512,
// AVX2+FMA, baseline x86-64) and the loader picks the best one for the CPU it
// runs on, so one binary runs on any x86-64 yet uses zmm registers where they
// exist. A v16 is one zmm on AVX-512, two ymm on AVX2, four xmm on SSE2.
//
// Everything here is always_inline: a baseline-target helper may be inlined
// into an AVX-512 clone (and is then compiled for AVX-512), but a call across
// the boundary would run the slow baseline code. Lambdas passed to templates
// are separate functions, so kernels use functor structs with ERIC_INLINE
// operator() instead.
#pragma once

#include <cstdint>

#if defined(__clang__)
// Clang (the fuzz preset) rejects passing a v16 between functions compiled
// for different targets even when the callee is always_inline, so clang
// builds get the baseline kernels only; they exist for fuzzing, not speed.
#define ERIC_CPU_CLONES
#else
#define ERIC_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#define ERIC_INLINE inline __attribute__((always_inline))

namespace eric::cpu::simd {

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
constexpr int kW = 16;  // lanes per v16

// `v16{} + f` costs a scalar add (0 + f is no identity for f = -0.0) but
// measured fastest: GCC 12 lowers a 16-fold initialiser to 16 masked
// inserts and __builtin_shufflevector to a slow permute (attention: 66 vs 25
// vs 10 GFLOP/s).
ERIC_INLINE v16 splat(float f) { return v16{} + f; }
ERIC_INLINE v16 load(const float* p) {
  v16 v;
  __builtin_memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}
ERIC_INLINE void store(float* p, v16 v) { __builtin_memcpy(p, &v, sizeof v); }
// The first n (< 16) lanes from p, the rest `fill`.
ERIC_INLINE v16 load_partial(const float* p, int64_t n, float fill) {
  v16 v = splat(fill);
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
ERIC_INLINE void store_partial(float* p, v16 v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}
ERIC_INLINE v16 vmax(v16 a, v16 b) { return a > b ? a : b; }
ERIC_INLINE v16 vmin(v16 a, v16 b) { return a < b ? a : b; }
ERIC_INLINE float hsum(v16 v) {
  // Pairwise halving: fewer rounding steps than a left fold, and GCC turns it
  // into shuffles.
  float s[16];
  __builtin_memcpy(s, &v, sizeof v);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) s[i] += s[i + w];
  return s[0];
}
ERIC_INLINE float hmax(v16 v) {
  float m = v[0];
  for (int i = 1; i < kW; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

// e^x, Cephes expf scheme: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split
// of ln2 so r is exact), e^r by a degree-7 polynomial, 2^n by building the
// exponent bits. Relative error <= 2 ulp over the normal range. Inputs below
// ln(FLT_MIN) (including -inf) give exactly 0, which the online softmax
// relies on for masked scores; above ln(FLT_MAX) they saturate at FLT_MAX*.
ERIC_INLINE v16 vexp(v16 x) {
  const v16 hi = splat(88.3762626647949f);
  const v16 lo = splat(-87.3365447505531f);
  v16 xc = vmin(vmax(x, lo), hi);
  // Round to nearest integer with the 1.5*2^23 trick (valid for |v| < 2^22).
  const v16 magic = splat(12582912.0f);
  v16 n = (xc * splat(1.44269504088896341f) + magic) - magic;
  v16 r = xc - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  v16 p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * r * r + r + splat(1.0f);
  v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
  v16 y = p * (v16)e;
  y = x < lo ? splat(0.0f) : y;
  return x != x ? x : y;  // NaN in, NaN out
}

// x / (1 + e^-x) written so that large |x| neither overflows nor loses
// precision: e^-x saturates (finite), the quotient goes to 0 or x.
ERIC_INLINE v16 vsigmoid_mul(v16 x, v16 z) { return x / (splat(1.0f) + vexp(-z)); }

}  // namespace eric::cpu::simd
