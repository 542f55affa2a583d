// 2-D rotary embedding in place, as cpu::apply_rotary_: each thread owns K
// dims d..d+K-1 of the first half of one (token, head) row and the same dims
// of the second half, so the in-place update reads both halves before
// writing either.
//
// One block per token: threadIdx.x over the half's K-wide groups (half / K
// threads, all busy: the vision towers' head_dim 80 left 12 of 32 lanes idle
// and 8 lanes doing a second pass when a warp spanned the half one element at
// a time), threadIdx.y over heads, which share the token's cos/sin (loaded
// once per thread). K = 4 (8-byte bf16, 16-byte float accesses; cos/sin as
// float4) where half % 4 == 0 and the pointers allow it, else 2, else 1.
// Attention's q and k rotate in one launch (x2): one read of the tables and
// twice the bytes in flight per thread.
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/vec_util.cuh"

namespace eric::cuda::kernels {
namespace {
using detail::load_floats;
using detail::store_floats;

constexpr int kThreads = 256;

// K dims of the first half and the same K of the second half of one row.
template <typename T, int K>
struct HalfPair {
  float lo[K], hi[K];
  __device__ __forceinline__ void load(const T* row, int d, int half) {
    load_floats<T, K>(row + d, lo);
    load_floats<T, K>(row + half + d, hi);
  }
};

// x2 (nullable): a second tensor of x's shape rotated by the same tables
// (q and k): both rows are loaded before either is stored.
template <typename T, int K>
__global__ void rotary_kernel(T* x, T* x2, const float* cos, const float* sin, int64_t tokens, int heads, int half) {
  const int groups = half / K;
  const int64_t dim = 2 * int64_t{half};
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
      const int d = g * K;
      HalfPair<float, K> c, s;
      c.load(cos + t * dim, d, half);
      s.load(sin + t * dim, d, half);
      for (int h = threadIdx.y; h < heads; h += blockDim.y) {
        const int64_t row = (t * heads + h) * dim;
        HalfPair<T, K> a, b;
        a.load(x + row, d, half);
        if (x2) b.load(x2 + row, d, half);
        auto rotate_store = [&](T* out, const HalfPair<T, K>& v) {
          float lo[K], hi[K];
#pragma unroll
          for (int k = 0; k < K; ++k) {
            lo[k] = v.lo[k] * c.lo[k] - v.hi[k] * s.lo[k];
            hi[k] = v.hi[k] * c.hi[k] + v.lo[k] * s.hi[k];
          }
          store_floats<T, K>(out + d, lo);
          store_floats<T, K>(out + half + d, hi);
        };
        rotate_store(x + row, a);
        if (x2) rotate_store(x2 + row, b);
      }
    }
  }
}

template <typename T>
cudaError_t rotary_typed(T* x, T* x2, const float* cos, const float* sin, int64_t tokens, int64_t heads,
                         int64_t half, cudaStream_t s) {
  // Row starts are multiples of 2 * half elements and the second half starts
  // half in, so K-aligned bases and half % K == 0 align every access.
  auto fits = [&](int k) {
    return half % k == 0 && reinterpret_cast<uintptr_t>(x) % (sizeof(T) * k) == 0 &&
           reinterpret_cast<uintptr_t>(x2) % (sizeof(T) * k) == 0 &&
           reinterpret_cast<uintptr_t>(cos) % (sizeof(float) * k) == 0 &&
           reinterpret_cast<uintptr_t>(sin) % (sizeof(float) * k) == 0;
  };
  const int k = fits(4) ? 4 : fits(2) ? 2 : 1;
  const int64_t groups = half / k;
  const int bx = static_cast<int>(groups < kThreads ? groups : kThreads);
  const int64_t by_max = kThreads / bx;
  const int by = static_cast<int>(heads < by_max ? heads : by_max);
  const dim3 block(static_cast<unsigned>(bx), static_cast<unsigned>(by));
  const unsigned grid = static_cast<unsigned>(tokens < INT32_MAX ? tokens : INT32_MAX);
  const int h = static_cast<int>(heads), hf = static_cast<int>(half);
  if (k == 4) {
    rotary_kernel<T, 4><<<grid, block, 0, s>>>(x, x2, cos, sin, tokens, h, hf);
  } else if (k == 2) {
    rotary_kernel<T, 2><<<grid, block, 0, s>>>(x, x2, cos, sin, tokens, h, hf);
  } else {
    rotary_kernel<T, 1><<<grid, block, 0, s>>>(x, x2, cos, sin, tokens, h, hf);
  }
  return cudaGetLastError();
}

__global__ void rotary_table_kernel(float* cos, float* sin, const float* angles, int64_t n, int64_t half) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / half, j = i - t * half;
    float s, c;
    sincosf(angles[i], &s, &c);  // accurate (not the __sincosf intrinsic), as std::cos/sin on the CPU
    cos[t * 2 * half + j] = cos[t * 2 * half + half + j] = c;
    sin[t * 2 * half + j] = sin[t * 2 * half + half + j] = s;
  }
}
}  // namespace

cudaError_t rotary_table(float* cos, float* sin, const float* angles, int64_t tokens, int64_t half, cudaStream_t s) {
  const int64_t n = tokens * half;
  if (n == 0) return cudaSuccess;
  rotary_table_kernel<<<detail::grid_for(n, 256), 256, 0, s>>>(cos, sin, angles, n, half);
  return cudaGetLastError();
}

cudaError_t rotary(void* x, void* x2, const float* cos, const float* sin, Elem e, int64_t tokens, int64_t heads,
                   int64_t head_dim, cudaStream_t s) {
  if (tokens * heads == 0 || head_dim < 2) return cudaSuccess;
  // The kernel indexes heads and half-dims with int (ops.cc takes them from
  // tensor shapes; a head count or width beyond int32 is not a tensor that fits).
  if (heads > INT32_MAX || head_dim / 2 > INT32_MAX) return cudaErrorInvalidValue;
  if (e == Elem::kF32) {
    return rotary_typed(static_cast<float*>(x), static_cast<float*>(x2), cos, sin, tokens, heads, head_dim / 2, s);
  }
  return rotary_typed(static_cast<__nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(x2), cos, sin, tokens, heads,
                      head_dim / 2, s);
}

}  // namespace eric::cuda::kernels
