// 2^x as a polynomial on the FMA pipes, for the tensor-core attention's
// softmax (FlashAttention-4's offload): at head_dim 80 the special-function
// unit's ex2 (16 results per clock per SM) costs nearly as much as the two
// matrix products, while the FMA pipes (128 per clock) sit half idle, so a
// variant computes a share of the exponentials this way instead.
//
// 2^x = 2^floor(x) * 2^f with f = x - floor(x) in [0, 1): 2^f from a cubic
// (Remez fit for relative error, p(0) = 1 exactly; max relative error 8.6e-5,
// far below the bf16 rounding P gets before its matrix product), 2^floor(x)
// added straight into the exponent bits. Shared by host and device so the
// host test checks the same polynomial and bit assembly the kernel runs.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define ERIC_EXP2_HD __host__ __device__ __forceinline__
#else
#define ERIC_EXP2_HD inline
#endif

namespace eric::cuda::kernels {

// Inputs below this give 0 (2^-127 is below float32's normal range; the
// kernels flush denormals anyway).
constexpr float kExp2PolyMinInput = -127.0f;

// 2^f for f in [0, 1].
ERIC_EXP2_HD float exp2_fraction_poly(float f) {
  return fmaf(fmaf(fmaf(7.706703991e-02f, f, 2.276449949e-01f), f, 6.951167583e-01f), f, 1.0f);
}

// p * 2^j for p in [1, 2] (the polynomial's range) and j >= -127: j added to
// the exponent field. j = -127 gives a denormal pattern of p's mantissa, i.e.
// a value below 2^-126 that the kernels' flush-to-zero treats as 0.
ERIC_EXP2_HD float scale_by_pow2(float p, int32_t j) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(__float_as_int(p) + static_cast<int32_t>(static_cast<uint32_t>(j) << 23));
#else
  uint32_t bits;
  std::memcpy(&bits, &p, sizeof bits);
  bits += static_cast<uint32_t>(j) << 23;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
#endif
}

// The host statement of the device's exp2_poly (attention_mma_kernels.cu),
// which finds floor(x) with a round-down add instead of floorf: identical for
// x in [kExp2PolyMinInput, 2^22).
inline float exp2_poly_host(float x) {
  x = std::fmax(x, kExp2PolyMinInput);
  const float j = std::floor(x);
  return scale_by_pow2(exp2_fraction_poly(x - j), static_cast<int32_t>(j));
}

}  // namespace eric::cuda::kernels

#undef ERIC_EXP2_HD
