// Aligned vector access for the memory-bound kernels: N elements of T move
// as one load or store (N = kVec16<T>: 16 bytes, 8 bf16 or 4 float) and are
// converted to and from float32 for the maths. A 16-byte access per thread is
// what it takes to approach the card's copy rate; 2- and 4-byte accesses
// leave too few bytes in flight per thread. Included by nvcc only.
//
// The elements travel as 32-bit words and every access is one uint4 / uint2 /
// uint32_t. Stores go through __stwb (st.global.wb.v4: the default write-back
// policy, in inline PTX): plain vector stores in an unrolled loop were split
// into 4- or 2-byte stores by nvcc for all but the first unrolled iteration
// (seen in the PTX).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "backend/cuda/kernel_util.cuh"

namespace eric::cuda::kernels::detail {

// Elements of T in 16 bytes.
template <typename T>
inline constexpr int kVec16 = static_cast<int>(16 / sizeof(T));

// N elements of T (float or bf16) as 32-bit words: N * sizeof(T) must be 4,
// 8 or 16 bytes. bf16 element 2i is the low half of word i.
template <typename T, int N>
struct Vec {
  static constexpr int kWords = static_cast<int>(N * sizeof(T) / 4);
  static_assert(kWords == 1 || kWords == 2 || kWords == 4, "a Vec is one 4-, 8- or 16-byte access");
  uint32_t w[kWords];
};

// Whether p (null counts as aligned: an absent operand) may be accessed as N
// elements of T at a time.
template <typename T, int N>
inline bool vec_aligned(const void* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % (sizeof(T) * N) == 0;
}

template <typename T, int N>
__device__ __forceinline__ Vec<T, N> load_vec(const T* p) {
  Vec<T, N> v;
  if constexpr (Vec<T, N>::kWords == 4) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    v.w[0] = u.x;
    v.w[1] = u.y;
    v.w[2] = u.z;
    v.w[3] = u.w;
  } else if constexpr (Vec<T, N>::kWords == 2) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    v.w[0] = u.x;
    v.w[1] = u.y;
  } else {
    v.w[0] = *reinterpret_cast<const uint32_t*>(p);
  }
  return v;
}

template <typename T, int N>
__device__ __forceinline__ void store_vec(T* p, const Vec<T, N>& v) {
  if constexpr (Vec<T, N>::kWords == 4) {
    __stwb(reinterpret_cast<uint4*>(p), make_uint4(v.w[0], v.w[1], v.w[2], v.w[3]));
  } else if constexpr (Vec<T, N>::kWords == 2) {
    __stwb(reinterpret_cast<uint2*>(p), make_uint2(v.w[0], v.w[1]));
  } else {
    __stwb(reinterpret_cast<unsigned int*>(p), v.w[0]);
  }
}

// The N elements as floats (bf16 widens exactly: its bits are a float's top half).
template <typename T, int N>
__device__ __forceinline__ void unpack(const Vec<T, N>& v, float (&f)[N]) {
  if constexpr (std::is_same_v<T, float>) {
#pragma unroll
    for (int i = 0; i < N; ++i) f[i] = __uint_as_float(v.w[i]);
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "Vec holds float or bf16");
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      f[2 * i] = __uint_as_float(v.w[i] << 16);
      f[2 * i + 1] = __uint_as_float(v.w[i] & 0xffff0000u);
    }
  }
}

// f as N elements of T, bf16 rounded to nearest even (one cvt.rn.bf16x2.f32
// per pair, as __float2bfloat16 would round each).
template <typename T, int N>
__device__ __forceinline__ Vec<T, N> pack(const float (&f)[N]) {
  Vec<T, N> v;
  if constexpr (std::is_same_v<T, float>) {
#pragma unroll
    for (int i = 0; i < N; ++i) v.w[i] = __float_as_uint(f[i]);
  } else {
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const __nv_bfloat162 two = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
      v.w[i] = static_cast<uint32_t>(__bfloat16_as_ushort(two.x)) |
               (static_cast<uint32_t>(__bfloat16_as_ushort(two.y)) << 16);
    }
  }
  return v;
}

// K elements of T at p (aligned to K elements) as floats, and back: one
// access where it is at least 4 bytes, else one element at a time.
template <typename T, int K>
__device__ __forceinline__ void load_floats(const T* p, float (&f)[K]) {
  if constexpr (K * sizeof(T) >= 4) {
    unpack(load_vec<T, K>(p), f);
  } else {
#pragma unroll
    for (int i = 0; i < K; ++i) f[i] = load(p, i);
  }
}
template <typename T, int K>
__device__ __forceinline__ void store_floats(T* p, const float (&f)[K]) {
  if constexpr (K * sizeof(T) >= 4) {
    store_vec(p, pack<T, K>(f));
  } else {
#pragma unroll
    for (int i = 0; i < K; ++i) store(p, i, f[i]);
  }
}

}  // namespace eric::cuda::kernels::detail
