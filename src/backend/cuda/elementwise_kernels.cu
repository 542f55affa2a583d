// Bias + activation, residual add, the SiLU gate and dtype conversion:
// memory-bound, float32 math on bf16 or f32 storage, bf16 stored rounded to
// nearest even. The residual add may mix dtypes: a float32 residual stream
// plus a bf16 branch output.
//
// Each thread moves 16 bytes per access (8 bf16 or 4 float; 4 elements where
// a float32 operand meets a bf16 one) and keeps kUnroll such vectors in
// flight: 2-byte accesses in a grid-stride loop reached only 55% of the
// card's copy rate for bias + QuickGELU over the MLP's [tokens, 5120]
// activation. Bias + activation runs two-dimensional (blockIdx.y over row
// chunks, threads over column vectors), so each thread loads its bias vector
// once and reuses it down the rows, with no per-element modulo for the bias
// column. Where a pointer is not 16-byte aligned (a view at an odd offset) or
// the bias columns do not split into vectors, the same kernels run two
// elements or one at a time; sizes and offsets are 64-bit throughout
// (except the bias fallbacks, which pick a 32-bit index where it fits: their
// per-element modulo is cheaper so).
#include <algorithm>
#include <type_traits>

#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/vec_util.cuh"

namespace eric::cuda::kernels {
namespace {
using bf16 = __nv_bfloat16;
using detail::kVec16;
using detail::load;
using detail::load_vec;
using detail::store;
using detail::store_vec;
using detail::unpack;
using detail::Vec;
using detail::vec_aligned;

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // independent vectors in flight per thread

// With `act` a compile-time constant (the vector kernels) the switch folds away.
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

// Element-wise operations of map_kernel: out = op(a, b); unary ones ignore b
// (never loaded: it may be null).
template <Act kAct>
struct ActOp {
  static constexpr bool kBinary = false;
  __device__ float operator()(float a, float) const { return activate(a, kAct); }
};
struct AddOp {
  static constexpr bool kBinary = true;
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct SiluMulOp {
  static constexpr bool kBinary = true;
  __device__ float operator()(float g, float u) const { return g / (1.0f + __expf(-g)) * u; }
};
struct CopyOp {  // dtype conversion: the store rounds
  static constexpr bool kBinary = false;
  __device__ float operator()(float a, float) const { return a; }
};

// out[i] = op(a[i], b[i]) for i < n: N elements per access from pointers
// aligned to N elements, kUnroll vectors per thread per iteration (loads
// first, then the stores, so they overlap); the last n % N elements one per
// thread of the first block. N == 1: one element per access (a misaligned
// bf16 view). out may be a (in place): each element is read and written by
// the same thread.
template <int N, typename Op, typename To, typename Ta, typename Tb>
__global__ void map_kernel(To* out, const Ta* a, const Tb* b, int64_t n, Op op) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if constexpr (N == 1) {
    for (int64_t i = first; i < n; i += stride) {
      float bi = 0.0f;
      if constexpr (Op::kBinary) bi = load(b, i);
      store(out, i, op(load(a, i), bi));
    }
  } else {
    const int64_t vecs = n / N;
    for (int64_t i = first; i < vecs; i += stride * kUnroll) {
      Vec<Ta, N> va[kUnroll];
      Vec<Tb, N> vb[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t j = i + u * stride;
        if (j < vecs) {
          va[u] = load_vec<Ta, N>(a + j * N);
          if constexpr (Op::kBinary) vb[u] = load_vec<Tb, N>(b + j * N);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t j = i + u * stride;
        if (j < vecs) {
          float fa[N], fb[N] = {};
          unpack(va[u], fa);
          if constexpr (Op::kBinary) unpack(vb[u], fb);
#pragma unroll
          for (int k = 0; k < N; ++k) fa[k] = op(fa[k], fb[k]);
          store_vec(out + j * N, detail::pack<To, N>(fa));
        }
      }
    }
    const int64_t t = vecs * N + first;
    if (t < n) {
      float bt = 0.0f;
      if constexpr (Op::kBinary) bt = load(b, t);
      store(out, t, op(load(a, t), bt));
    }
  }
}

// The widest access every pointer allows (16 bytes for the widest of the
// three element types, else pairs, else single elements), then map_kernel.
template <typename Op, typename To, typename Ta, typename Tb>
cudaError_t launch_map(To* out, const Ta* a, const Tb* b, int64_t n, Op op, cudaStream_t s) {
  constexpr size_t kWidest = std::max({sizeof(To), sizeof(Ta), sizeof(Tb)});
  constexpr int kWide = static_cast<int>(16 / kWidest);
  auto run = [&](auto width) {
    constexpr int N = decltype(width)::value;
    const unsigned g = detail::grid_for((n / N + kUnroll - 1) / kUnroll, kThreads);
    map_kernel<N><<<g, kThreads, 0, s>>>(out, a, b, n, op);
  };
  if (vec_aligned<To, kWide>(out) && vec_aligned<Ta, kWide>(a) && vec_aligned<Tb, kWide>(b)) {
    run(std::integral_constant<int, kWide>{});
  } else if (vec_aligned<To, 2>(out) && vec_aligned<Ta, 2>(a) && vec_aligned<Tb, 2>(b)) {
    run(std::integral_constant<int, 2>{});
  } else {
    run(std::integral_constant<int, 1>{});
  }
  return cudaGetLastError();
}

template <typename F>
void with_act(Act act, F&& f) {
  switch (act) {
    case Act::kNone: f(std::integral_constant<Act, Act::kNone>{}); break;
    case Act::kGeluErf: f(std::integral_constant<Act, Act::kGeluErf>{}); break;
    case Act::kGeluTanh: f(std::integral_constant<Act, Act::kGeluTanh>{}); break;
    case Act::kQuickGelu: f(std::integral_constant<Act, Act::kQuickGelu>{}); break;
    case Act::kSilu: f(std::integral_constant<Act, Act::kSilu>{}); break;
  }
}

// x[r, c] = act(x[r, c] + bias[c]) with cols a multiple of N = kVec16<T> and
// x, bias 16-byte aligned: thread (x) owns column vector cv for every row of
// its block's row chunks (kUnroll rows per thread per iteration, consecutive
// threads on consecutive 16 bytes of a row); blockIdx.y strides over chunks
// beyond the grid's 65535.
template <typename T, Act kAct>
__global__ void bias_act_rows_kernel(T* x, const T* bias, int64_t rows, int64_t col_vecs) {
  constexpr int N = kVec16<T>;
  const int64_t cv = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (cv >= col_vecs) return;
  float b[N];
  unpack(load_vec<T, N>(bias + cv * N), b);
  T* col = x + cv * N;
  const int64_t pitch = col_vecs * N;
  const int64_t step = int64_t{gridDim.y} * blockDim.y * kUnroll;
  for (int64_t r = (int64_t{blockIdx.y} * blockDim.y + threadIdx.y) * kUnroll; r < rows; r += step) {
    Vec<T, N> v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (r + u < rows) v[u] = load_vec<T, N>(col + (r + u) * pitch);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (r + u < rows) {
        float f[N];
        unpack(v[u], f);
#pragma unroll
        for (int k = 0; k < N; ++k) f[k] = activate(f[k] + b[k], kAct);
        store_vec(col + (r + u) * pitch, detail::pack<T, N>(f));
      }
    }
  }
}

// The block width (a multiple of 32, at most kThreads) that leaves the fewest
// idle threads in the last column block; the wider one on ties.
int column_block(int64_t col_vecs) {
  int best = 32;
  int64_t best_idle = INT64_MAX;
  for (int bx = 32; bx <= kThreads; bx += 32) {
    const int64_t idle = (col_vecs + bx - 1) / bx * bx - col_vecs;
    if (idle <= best_idle) {
      best = bx;
      best_idle = idle;
    }
  }
  return best;
}

template <typename T>
cudaError_t launch_bias_act_rows(T* x, const T* bias, int64_t rows, int64_t col_vecs, Act act, cudaStream_t s) {
  const int bx = column_block(col_vecs);
  const int by = kThreads / bx;
  const int64_t chunks = (rows + int64_t{by} * kUnroll - 1) / (int64_t{by} * kUnroll);
  const dim3 block(static_cast<unsigned>(bx), static_cast<unsigned>(by));
  const dim3 grid(static_cast<unsigned>((col_vecs + bx - 1) / bx), static_cast<unsigned>(chunks < 65535 ? chunks : 65535));
  with_act(act, [&](auto a) {
    bias_act_rows_kernel<T, decltype(a)::value><<<grid, block, 0, s>>>(x, bias, rows, col_vecs);
  });
  return cudaGetLastError();
}

// The bias fallbacks (columns not a whole number of 16-byte vectors, or a
// misaligned x or bias): a grid-stride loop with the bias column by modulo.
template <typename Index>
__device__ __forceinline__ Index thread_index() {
  return static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
}
template <typename Index>
__device__ __forceinline__ Index grid_stride() {
  return static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
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

// Any alignment, any cols.
template <typename T, typename Index>
__global__ void bias_act_kernel(T* x, const T* bias, Index n, Index cols, Act act) {
  for (Index i = thread_index<Index>(); i < n; i += grid_stride<Index>()) {
    store(x, i, activate(load(x, i) + load(bias, i % cols), act));
  }
}
// cols even, x and bias aligned to two elements.
template <typename T, typename Index>
__global__ void bias_act_pairs_kernel(T* x, const T* bias, Index pairs, Index col_pairs, Act act) {
  for (Index i = thread_index<Index>(); i < pairs; i += grid_stride<Index>()) {
    float2 v = load2(x, i);
    const float2 b = load2(bias, i % col_pairs);
    store2(x, i, make_float2(activate(v.x + b.x, act), activate(v.y + b.y, act)));
  }
}

// i + grid stride must not overflow either (grid_for caps the grid at 65535 * 8 blocks).
bool fits_int32(int64_t n) { return n < (int64_t{1} << 31) - int64_t{kThreads} * 65535 * 8; }

template <typename T>
cudaError_t bias_act_typed(T* x, const T* bias, int64_t rows, int64_t cols, Act act, cudaStream_t s) {
  const int64_t n = rows * cols;
  if (bias == nullptr) {  // the activation alone: element-wise over the whole tensor
    cudaError_t err = cudaSuccess;
    with_act(act, [&](auto a) { err = launch_map(x, x, static_cast<const T*>(nullptr), n, ActOp<decltype(a)::value>{}, s); });
    return err;
  }
  constexpr int N = kVec16<T>;
  if (cols % N == 0 && cols / N <= INT32_MAX && vec_aligned<T, N>(x) && vec_aligned<T, N>(bias)) {
    return launch_bias_act_rows(x, bias, rows, cols / N, act, s);
  }
  const bool pairs = cols % 2 == 0 && vec_aligned<T, 2>(x) && vec_aligned<T, 2>(bias);
  const int64_t work = pairs ? n / 2 : n;
  const unsigned g = detail::grid_for(work, kThreads);
  auto launch = [&](auto w, auto c) {
    using Index = decltype(w);
    if (pairs) {
      bias_act_pairs_kernel<T, Index><<<g, kThreads, 0, s>>>(x, bias, w, c, act);
    } else {
      bias_act_kernel<T, Index><<<g, kThreads, 0, s>>>(x, bias, w, c, act);
    }
  };
  const int64_t c = pairs ? cols / 2 : cols;
  if (fits_int32(work)) {
    launch(static_cast<int32_t>(work), static_cast<int32_t>(c));
  } else {
    launch(work, c);
  }
  return cudaGetLastError();
}
}  // namespace

cudaError_t bias_act(void* x, const void* bias, Elem e, int64_t rows, int64_t cols, Act act, cudaStream_t s) {
  if (rows * cols == 0) return cudaSuccess;
  if (e == Elem::kF32) return bias_act_typed(static_cast<float*>(x), static_cast<const float*>(bias), rows, cols, act, s);
  return bias_act_typed(static_cast<bf16*>(x), static_cast<const bf16*>(bias), rows, cols, act, s);
}

cudaError_t add(void* x, const void* y, Elem x_elem, Elem y_elem, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  auto run = [&](auto* xt, const auto* yt) { return launch_map(xt, xt, yt, n, AddOp{}, s); };
  if (x_elem == Elem::kF32) {
    if (y_elem == Elem::kF32) return run(static_cast<float*>(x), static_cast<const float*>(y));
    return run(static_cast<float*>(x), static_cast<const bf16*>(y));
  }
  if (y_elem == Elem::kF32) return run(static_cast<bf16*>(x), static_cast<const float*>(y));
  return run(static_cast<bf16*>(x), static_cast<const bf16*>(y));
}

cudaError_t convert(void* out, Elem out_elem, const void* x, Elem x_elem, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (out_elem == x_elem) {
    return cudaMemcpyAsync(out, x, static_cast<size_t>(n) * (out_elem == Elem::kF32 ? 4 : 2), cudaMemcpyDeviceToDevice,
                           s);
  }
  if (out_elem == Elem::kBF16) {
    return launch_map(static_cast<bf16*>(out), static_cast<const float*>(x), static_cast<const float*>(nullptr), n,
                      CopyOp{}, s);
  }
  return launch_map(static_cast<float*>(out), static_cast<const bf16*>(x), static_cast<const bf16*>(nullptr), n,
                    CopyOp{}, s);
}

cudaError_t silu_mul(void* out, const void* gate, const void* up, Elem e, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (e == Elem::kF32) {
    return launch_map(static_cast<float*>(out), static_cast<const float*>(gate), static_cast<const float*>(up), n,
                      SiluMulOp{}, s);
  }
  return launch_map(static_cast<bf16*>(out), static_cast<const bf16*>(gate), static_cast<const bf16*>(up), n,
                    SiluMulOp{}, s);
}

}  // namespace eric::cuda::kernels
