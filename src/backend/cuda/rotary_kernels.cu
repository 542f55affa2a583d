// 2-D rotary embedding in place, as cpu::apply_rotary_: each thread owns the
// pair (d, d + D/2) of one (token, head) so the in-place update reads both
// halves before writing either.
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {
namespace {
using detail::load;
using detail::store;

template <typename T>
__global__ void rotary_kernel(T* x, const float* cos, const float* sin, int64_t tokens, int64_t heads, int64_t dim) {
  const int64_t half = dim / 2;
  const int64_t n = tokens * heads * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t d = i % half;
    const int64_t th = i / half;  // token * heads + head
    const int64_t t = th / heads;
    T* row = x + th * dim;
    const float lo = load(row, d), hi = load(row, d + half);
    const float* c = cos + t * dim;
    const float* s = sin + t * dim;
    store(row, d, lo * c[d] - hi * s[d]);
    store(row, d + half, hi * c[d + half] + lo * s[d + half]);
  }
}
}  // namespace

cudaError_t rotary(void* x, const float* cos, const float* sin, Elem e, int64_t tokens, int64_t heads,
                   int64_t head_dim, cudaStream_t s) {
  const int64_t n = tokens * heads * (head_dim / 2);
  if (n == 0) return cudaSuccess;
  const unsigned g = detail::grid_for(n, 256);
  if (e == Elem::kF32) {
    rotary_kernel<<<g, 256, 0, s>>>(static_cast<float*>(x), cos, sin, tokens, heads, head_dim);
  } else {
    rotary_kernel<<<g, 256, 0, s>>>(static_cast<__nv_bfloat16*>(x), cos, sin, tokens, heads, head_dim);
  }
  return cudaGetLastError();
}

}  // namespace eric::cuda::kernels
