// Bias + activation, residual add and the SiLU gate: memory-bound, one
// grid-stride loop each, float32 math on bf16 or f32 storage.
//
// Where every pointer allows it, each thread moves two elements at a time
// (float2 / bfloat162: half the memory instructions), and indices are 32-bit
// when the tensor fits (a 64-bit modulo per element costs more than the
// element's memory traffic). The residual add may mix dtypes: a float32
// residual stream plus a bf16 branch output.
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {
namespace {
using bf16 = __nv_bfloat16;
using detail::load;
using detail::store;

__device__ __forceinline__ float activate(float x, Act act) {
  switch (act) {
    case Act::kGeluErf: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Act::kGeluTanh: {
      const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tanhf(u));
    }
    // __expf (ex2.approx, ~2 ulp) rather than expf: the sigmoid's error stays
    // near float32 rounding, and these run over the MLP's widest activation.
    case Act::kQuickGelu: return x / (1.0f + __expf(-1.702f * x));
    case Act::kSilu: return x / (1.0f + __expf(-x));
    case Act::kNone: break;
  }
  return x;
}

// Pair i (elements 2i, 2i+1) as two floats.
__device__ __forceinline__ float2 load2(const float* p, int64_t i) { return reinterpret_cast<const float2*>(p)[i]; }
__device__ __forceinline__ float2 load2(const bf16* p, int64_t i) {
  return __bfloat1622float2(reinterpret_cast<const __nv_bfloat162*>(p)[i]);
}
__device__ __forceinline__ void store2(float* p, int64_t i, float2 v) { reinterpret_cast<float2*>(p)[i] = v; }
__device__ __forceinline__ void store2(bf16* p, int64_t i, float2 v) {
  reinterpret_cast<__nv_bfloat162*>(p)[i] = __float22bfloat162_rn(v);
}

template <typename Index>
__device__ __forceinline__ Index thread_index() {
  return static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
}
template <typename Index>
__device__ __forceinline__ Index grid_stride() {
  return static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
}

// Scalar versions: any alignment, any n.
template <typename T, typename Index>
__global__ void bias_act_kernel(T* x, const T* bias, Index n, Index cols, Act act) {
  for (Index i = thread_index<Index>(); i < n; i += grid_stride<Index>()) {
    float v = load(x, i);
    if (bias) v += load(bias, i % cols);
    store(x, i, activate(v, act));
  }
}
template <typename T, typename U, typename Index>
__global__ void add_kernel(T* x, const U* y, Index n) {
  for (Index i = thread_index<Index>(); i < n; i += grid_stride<Index>()) store(x, i, load(x, i) + load(y, i));
}
template <typename T, typename Index>
__global__ void silu_mul_kernel(T* out, const T* gate, const T* up, Index n) {
  for (Index i = thread_index<Index>(); i < n; i += grid_stride<Index>()) {
    const float g = load(gate, i);
    store(out, i, g / (1.0f + expf(-g)) * load(up, i));
  }
}

// Paired versions: n (and cols) even, pointers aligned to two elements.
template <typename T, typename Index>
__global__ void bias_act_pairs_kernel(T* x, const T* bias, Index pairs, Index col_pairs, Act act) {
  for (Index i = thread_index<Index>(); i < pairs; i += grid_stride<Index>()) {
    float2 v = load2(x, i);
    if (bias) {
      const float2 b = load2(bias, i % col_pairs);
      v.x += b.x;
      v.y += b.y;
    }
    store2(x, i, make_float2(activate(v.x, act), activate(v.y, act)));
  }
}
template <typename T, typename U, typename Index>
__global__ void add_pairs_kernel(T* x, const U* y, Index pairs) {
  for (Index i = thread_index<Index>(); i < pairs; i += grid_stride<Index>()) {
    const float2 a = load2(x, i), b = load2(y, i);
    store2(x, i, make_float2(a.x + b.x, a.y + b.y));
  }
}
template <typename T, typename Index>
__global__ void silu_mul_pairs_kernel(T* out, const T* gate, const T* up, Index pairs) {
  for (Index i = thread_index<Index>(); i < pairs; i += grid_stride<Index>()) {
    const float2 g = load2(gate, i), u = load2(up, i);
    store2(out, i, make_float2(g.x / (1.0f + __expf(-g.x)) * u.x, g.y / (1.0f + __expf(-g.y)) * u.y));
  }
}

template <typename To, typename Ti, typename Index>
__global__ void convert_kernel(To* out, const Ti* x, Index n) {
  for (Index i = thread_index<Index>(); i < n; i += grid_stride<Index>()) store(out, i, load(x, i));
}

constexpr int kThreads = 256;

template <typename T>
bool pair_aligned(const T* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % (2 * sizeof(T)) == 0;
}
// i + grid stride must not overflow either (grid_for caps the grid at 65535 * 8 blocks).
bool fits_int32(int64_t n) { return n < (int64_t{1} << 31) - int64_t{kThreads} * 65535 * 8; }

// Launches over `work` items (elements, or pairs of them) with a 32-bit
// index where it fits: launch(work as int32_t or int64_t, grid size).
template <typename Launch>
cudaError_t launch_indexed(int64_t work, Launch&& launch) {
  const unsigned g = detail::grid_for(work, kThreads);
  if (fits_int32(work)) {
    launch(static_cast<int32_t>(work), g);
  } else {
    launch(work, g);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t bias_act_typed(T* x, const T* bias, int64_t rows, int64_t cols, Act act, cudaStream_t s) {
  const int64_t n = rows * cols;
  const bool pairs = cols % 2 == 0 && pair_aligned(x) && pair_aligned(bias);
  return launch_indexed(pairs ? n / 2 : n, [&](auto work, unsigned g) {
    using Index = decltype(work);
    if (pairs) {
      bias_act_pairs_kernel<T, Index><<<g, kThreads, 0, s>>>(x, bias, work, static_cast<Index>(cols / 2), act);
    } else {
      bias_act_kernel<T, Index><<<g, kThreads, 0, s>>>(x, bias, work, static_cast<Index>(cols), act);
    }
  });
}

template <typename T, typename U>
cudaError_t add_typed(T* x, const U* y, int64_t n, cudaStream_t s) {
  const bool pairs = n % 2 == 0 && pair_aligned(x) && pair_aligned(y);
  return launch_indexed(pairs ? n / 2 : n, [&](auto work, unsigned g) {
    using Index = decltype(work);
    if (pairs) {
      add_pairs_kernel<T, U, Index><<<g, kThreads, 0, s>>>(x, y, work);
    } else {
      add_kernel<T, U, Index><<<g, kThreads, 0, s>>>(x, y, work);
    }
  });
}

template <typename T>
cudaError_t silu_mul_typed(T* out, const T* gate, const T* up, int64_t n, cudaStream_t s) {
  const bool pairs = n % 2 == 0 && pair_aligned(out) && pair_aligned(gate) && pair_aligned(up);
  return launch_indexed(pairs ? n / 2 : n, [&](auto work, unsigned g) {
    using Index = decltype(work);
    if (pairs) {
      silu_mul_pairs_kernel<T, Index><<<g, kThreads, 0, s>>>(out, gate, up, work);
    } else {
      silu_mul_kernel<T, Index><<<g, kThreads, 0, s>>>(out, gate, up, work);
    }
  });
}

template <typename To, typename Ti>
cudaError_t convert_typed(To* out, const Ti* x, int64_t n, cudaStream_t s) {
  return launch_indexed(n, [&](auto work, unsigned g) {
    convert_kernel<To, Ti, decltype(work)><<<g, kThreads, 0, s>>>(out, x, work);
  });
}
}  // namespace

cudaError_t bias_act(void* x, const void* bias, Elem e, int64_t rows, int64_t cols, Act act, cudaStream_t s) {
  if (rows * cols == 0) return cudaSuccess;
  if (e == Elem::kF32) return bias_act_typed(static_cast<float*>(x), static_cast<const float*>(bias), rows, cols, act, s);
  return bias_act_typed(static_cast<bf16*>(x), static_cast<const bf16*>(bias), rows, cols, act, s);
}

cudaError_t add(void* x, const void* y, Elem x_elem, Elem y_elem, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (x_elem == Elem::kF32) {
    if (y_elem == Elem::kF32) return add_typed(static_cast<float*>(x), static_cast<const float*>(y), n, s);
    return add_typed(static_cast<float*>(x), static_cast<const bf16*>(y), n, s);
  }
  if (y_elem == Elem::kF32) return add_typed(static_cast<bf16*>(x), static_cast<const float*>(y), n, s);
  return add_typed(static_cast<bf16*>(x), static_cast<const bf16*>(y), n, s);
}

cudaError_t convert(void* out, Elem out_elem, const void* x, Elem x_elem, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (out_elem == x_elem) {
    return cudaMemcpyAsync(out, x, static_cast<size_t>(n) * (out_elem == Elem::kF32 ? 4 : 2), cudaMemcpyDeviceToDevice,
                           s);
  }
  if (out_elem == Elem::kBF16) return convert_typed(static_cast<bf16*>(out), static_cast<const float*>(x), n, s);
  return convert_typed(static_cast<float*>(out), static_cast<const bf16*>(x), n, s);
}

cudaError_t silu_mul(void* out, const void* gate, const void* up, Elem e, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (e == Elem::kF32) {
    return silu_mul_typed(static_cast<float*>(out), static_cast<const float*>(gate), static_cast<const float*>(up), n, s);
  }
  return silu_mul_typed(static_cast<bf16*>(out), static_cast<const bf16*>(gate), static_cast<const bf16*>(up), n, s);
}

}  // namespace eric::cuda::kernels
