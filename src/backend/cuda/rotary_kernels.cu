// 2-D rotary embedding in place, as cpu::apply_rotary_: each thread owns the
// pair (d, d + D/2) of one (token, head) so the in-place update reads both
// halves before writing either.
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {
namespace {
using detail::load;
using detail::store;

// One (token, head) row per threadIdx.y, its first-half dims over
// threadIdx.x: one division per thread instead of three 64-bit ones per
// element.
constexpr int kRowsPerBlock = 8;

template <typename T>
__global__ void rotary_kernel(T* x, const float* cos, const float* sin, int64_t rows, int heads, int dim) {
  const int64_t r = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;  // token * heads + head
  if (r >= rows) return;
  const int half = dim / 2;
  const int64_t t = r / heads;
  T* row = x + r * dim;
  const float* c = cos + t * dim;
  const float* s = sin + t * dim;
  for (int d = threadIdx.x; d < half; d += blockDim.x) {
    const float lo = load(row, d), hi = load(row, d + half);
    store(row, d, lo * c[d] - hi * s[d]);
    store(row, d + half, hi * c[d + half] + lo * s[d + half]);
  }
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

cudaError_t rotary(void* x, const float* cos, const float* sin, Elem e, int64_t tokens, int64_t heads,
                   int64_t head_dim, cudaStream_t s) {
  const int64_t rows = tokens * heads;
  if (rows == 0 || head_dim < 2) return cudaSuccess;
  const dim3 block(32, kRowsPerBlock);
  const dim3 grid(static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock));
  if (e == Elem::kF32) {
    rotary_kernel<<<grid, block, 0, s>>>(static_cast<float*>(x), cos, sin, rows, static_cast<int>(heads),
                                         static_cast<int>(head_dim));
  } else {
    rotary_kernel<<<grid, block, 0, s>>>(static_cast<__nv_bfloat16*>(x), cos, sin, rows, static_cast<int>(heads),
                                         static_cast<int>(head_dim));
  }
  return cudaGetLastError();
}

}  // namespace eric::cuda::kernels
