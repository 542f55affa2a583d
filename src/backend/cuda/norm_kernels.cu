// LayerNorm, RMSNorm and softmax: one block per row, float32 statistics.
// The row is read from global memory once per pass (2-3 passes); rows of the
// vision towers (1280-5120 floats) stay in L1/L2 between passes.
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {
namespace {
using detail::load;
using detail::store;
constexpr int kThreads = 256;
using bf16 = __nv_bfloat16;

// x in Tx; gamma, beta and out in To (a float32 residual stream normalised
// into bf16 GEMM input, or one dtype throughout).
template <typename Tx, typename To>
__global__ void layer_norm_kernel(To* out, const Tx* x, const To* gamma, const To* beta, int64_t cols, float eps) {
  __shared__ float scratch[32];
  const int64_t base = blockIdx.x * cols;
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += load(x, base + c);
  const float mean = detail::block_reduce<false>(sum, scratch) / static_cast<float>(cols);
  float sq = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = load(x, base + c) - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(detail::block_reduce<false>(sq, scratch) / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = (load(x, base + c) - mean) * rstd * load(gamma, c);
    if (beta) v += load(beta, c);
    store(out, base + c, v);
  }
}

template <typename Tx, typename To>
__global__ void rms_norm_kernel(To* out, const Tx* x, const To* gamma, int64_t cols, float eps) {
  __shared__ float scratch[32];
  const int64_t base = blockIdx.x * cols;
  float sq = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = load(x, base + c);
    sq += v * v;
  }
  const float r = rsqrtf(detail::block_reduce<false>(sq, scratch) / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) store(out, base + c, load(x, base + c) * r * load(gamma, c));
}

template <typename T>
__global__ void softmax_kernel(T* x, int64_t cols) {
  __shared__ float scratch[32];
  const int64_t base = blockIdx.x * cols;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, load(x, base + c));
  m = detail::block_reduce<true>(m, scratch);
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(load(x, base + c) - m);
  const float inv = 1.0f / detail::block_reduce<false>(sum, scratch);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) store(x, base + c, expf(load(x, base + c) - m) * inv);
}

}  // namespace

namespace {
template <typename Tx, typename To>
void launch_norm(void* out, const void* x, const void* gamma, const void* beta, bool rms, int64_t rows, int64_t cols,
                 float eps, cudaStream_t s) {
  if (rms) {
    rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
        static_cast<To*>(out), static_cast<const Tx*>(x), static_cast<const To*>(gamma), cols, eps);
  } else {
    layer_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
        static_cast<To*>(out), static_cast<const Tx*>(x), static_cast<const To*>(gamma), static_cast<const To*>(beta),
        cols, eps);
  }
}

cudaError_t norm(void* out, const void* x, const void* gamma, const void* beta, bool rms, Elem x_elem, Elem out_elem,
                 int64_t rows, int64_t cols, float eps, cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (x_elem == Elem::kF32 && out_elem == Elem::kF32) {
    launch_norm<float, float>(out, x, gamma, beta, rms, rows, cols, eps, s);
  } else if (x_elem == Elem::kF32) {
    launch_norm<float, bf16>(out, x, gamma, beta, rms, rows, cols, eps, s);
  } else if (out_elem == Elem::kF32) {
    launch_norm<bf16, float>(out, x, gamma, beta, rms, rows, cols, eps, s);
  } else {
    launch_norm<bf16, bf16>(out, x, gamma, beta, rms, rows, cols, eps, s);
  }
  return cudaGetLastError();
}
}  // namespace

cudaError_t layer_norm(void* out, const void* x, const void* gamma, const void* beta, Elem x_elem, Elem out_elem,
                       int64_t rows, int64_t cols, float eps, cudaStream_t s) {
  return norm(out, x, gamma, beta, false, x_elem, out_elem, rows, cols, eps, s);
}

cudaError_t rms_norm(void* out, const void* x, const void* gamma, Elem x_elem, Elem out_elem, int64_t rows,
                     int64_t cols, float eps, cudaStream_t s) {
  return norm(out, x, gamma, nullptr, true, x_elem, out_elem, rows, cols, eps, s);
}

cudaError_t softmax(void* x, Elem e, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (e == Elem::kF32) {
    softmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(static_cast<float*>(x), cols);
  } else {
    softmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(static_cast<bf16*>(x), cols);
  }
  return cudaGetLastError();
}

}  // namespace eric::cuda::kernels
