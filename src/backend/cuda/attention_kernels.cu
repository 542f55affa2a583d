// Variable-length non-causal attention with an online softmax (the
// flash-attention recurrence), float32 accumulation, over packed sequences.
//
// Grid: (query tiles of kBQ rows, heads, sequences). A block of kWarps warps
// stages its kBQ query rows (pre-scaled by scale*log2(e), so exp2f applies)
// and then each kBK = 32-key tile of K and V of the same sequence in shared
// memory. Lane j scores key j against each of the warp's rows; the tile max
// and sum are warp reductions; for the P·V product each lane owns head dims
// lane, lane+32, ... and receives p_j by shuffle. Memory is O(tile): nothing
// of size seq^2 exists. This is the portable version (f32, odd head dims);
// bf16 goes to the tensor-core kernel in attention_mma_kernels.cu.
#include <atomic>

#include "backend/cuda/attention_mma.h"
#include "backend/cuda/attention_wgmma.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {
namespace {
using detail::load;
using detail::store;

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 8;
constexpr int kBQ = kWarps * kRowsPerWarp;  // query rows per block
constexpr int kBK = 32;                     // keys per tile: one per lane
constexpr int kDimsPerLane = kMaxAttentionHeadDim / 32;

template <typename T>
__global__ void __launch_bounds__(kWarps * 32)
    varlen_attention_kernel(T* out, const T* q, const T* k, const T* v, const int32_t* cu_seqlens, int heads, int dim,
                            float scale_log2) {
  const int seq = blockIdx.z, head = blockIdx.y;
  const int begin = cu_seqlens[seq], end = cu_seqlens[seq + 1];
  const int q0 = begin + blockIdx.x * kBQ;
  if (q0 >= end) return;  // this sequence is shorter than max_seqlen
  const int64_t ld = int64_t{heads} * dim;  // token stride
  const int kstride = dim + 1;              // pad: lane j reads row j, no bank conflicts

  extern __shared__ float smem[];
  float* qs = smem;               // [kBQ][dim]
  float* ks = qs + kBQ * dim;     // [kBK][dim + 1]
  float* vs = ks + kBK * kstride; // [kBK][dim]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int i = tid; i < kBQ * dim; i += blockDim.x) {
    const int r = i / dim, d = i % dim;
    qs[i] = q0 + r < end ? load(q, (q0 + r) * ld + int64_t{head} * dim + d) * scale_log2 : 0.0f;
  }

  float o[kRowsPerWarp][kDimsPerLane];
  float m[kRowsPerWarp], l[kRowsPerWarp];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < kDimsPerLane; ++c) o[i][c] = 0.0f;
  }

  for (int k0 = begin; k0 < end; k0 += kBK) {
    const int nk = min(kBK, end - k0);
    __syncthreads();  // previous tile fully consumed (and qs written, first time)
    for (int i = tid; i < kBK * dim; i += blockDim.x) {
      const int j = i / dim, d = i % dim;
      const bool in = j < nk;
      const int64_t g = (k0 + j) * ld + int64_t{head} * dim + d;
      ks[j * kstride + d] = in ? load(k, g) : 0.0f;
      vs[j * dim + d] = in ? load(v, g) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp * kRowsPerWarp + i;
      if (q0 + r >= end) break;  // warp-uniform
      float s = -INFINITY;
      if (lane < nk) {
        const float* qr = qs + r * dim;
        const float* kr = ks + lane * kstride;
        float acc = 0.0f;
        for (int d = 0; d < dim; ++d) acc = fmaf(qr[d], kr[d], acc);
        s = acc;
      }
      const float m_new = fmaxf(m[i], detail::warp_max(s));
      const float p = lane < nk ? exp2f(s - m_new) : 0.0f;
      const float corr = exp2f(m[i] - m_new);  // 0 on the first tile (m = -inf)
      l[i] = l[i] * corr + detail::warp_sum(p);
      m[i] = m_new;
#pragma unroll
      for (int c = 0; c < kDimsPerLane; ++c) o[i][c] *= corr;
      for (int j = 0; j < nk; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        const float* vr = vs + j * dim;
#pragma unroll
        for (int c = 0; c < kDimsPerLane; ++c) {
          const int d = lane + 32 * c;
          if (d < dim) o[i][c] = fmaf(pj, vr[d], o[i][c]);
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = warp * kRowsPerWarp + i;
    if (q0 + r >= end) break;
    const float inv = 1.0f / l[i];
    const int64_t row = (q0 + r) * ld + int64_t{head} * dim;
#pragma unroll
    for (int c = 0; c < kDimsPerLane; ++c) {
      const int d = lane + 32 * c;
      if (d < dim) store(out, row + d, o[i][c] * inv);
    }
  }
}

template <typename T>
cudaError_t launch(T* out, const T* q, const T* k, const T* v, const int32_t* cu, int num_seqs, int max_seqlen,
                   int heads, int dim, float scale, cudaStream_t s) {
  const size_t smem = sizeof(float) * (size_t{kBQ} * dim + size_t{kBK} * (dim + 1) + size_t{kBK} * dim);
  if (smem > 48 * 1024) {
    cudaError_t err = cudaFuncSetAttribute(varlen_attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem));
    if (err != cudaSuccess) return err;
  }
  const dim3 grid((max_seqlen + kBQ - 1) / kBQ, heads, num_seqs);
  varlen_attention_kernel<T><<<grid, kWarps * 32, smem, s>>>(out, q, k, v, cu, heads, dim,
                                                             scale * 1.4426950408889634f);
  return cudaGetLastError();
}
}  // namespace

namespace {
std::atomic<AttnImpl> g_default_tensor_core{AttnImpl::kTensorCore};

bool is_wgmma(AttnImpl impl) {
  return impl == AttnImpl::kTensorCoreWgmma || impl == AttnImpl::kTensorCoreWgmmaLazy ||
         impl == AttnImpl::kTensorCoreWgmmaOtherVStrides;
}
}  // namespace

void set_default_tensor_core_attention(AttnImpl impl) {
  g_default_tensor_core.store(impl == AttnImpl::kAuto || impl == AttnImpl::kSimt ? AttnImpl::kTensorCore : impl);
}
AttnImpl default_tensor_core_attention() { return g_default_tensor_core.load(); }

bool wgmma_attention_available() {
#ifdef ERIC_HAVE_WGMMA
  // Any 16-byte aligned pointer and a supported head_dim: only the device is asked.
  alignas(16) static const char probe[16] = {};
  return wgmma_attention_supported(probe, probe, probe, probe, 80);
#else
  return false;
#endif
}

cudaError_t varlen_attention(void* out, const void* q, const void* k, const void* v, Elem e,
                             const int32_t* cu_seqlens, int num_seqs, int max_seqlen, int heads, int head_dim,
                             float scale, cudaStream_t s, AttnImpl impl) {
  if (head_dim <= 0 || head_dim > kMaxAttentionHeadDim) return cudaErrorInvalidValue;
  if (num_seqs == 0 || max_seqlen == 0 || heads == 0) return cudaSuccess;
#ifdef ERIC_HAVE_WGMMA
  // A wgmma default applies where that kernel does; elsewhere kAuto goes on
  // to the mma.sync kernel's default.
  if ((impl == AttnImpl::kAuto || impl == AttnImpl::kTensorCore) && e == Elem::kBF16 &&
      is_wgmma(default_tensor_core_attention()) && wgmma_attention_supported(out, q, k, v, head_dim)) {
    impl = default_tensor_core_attention();
  }
#endif
  if (is_wgmma(impl)) {
#ifdef ERIC_HAVE_WGMMA
    if (e != Elem::kBF16 || !wgmma_attention_supported(out, q, k, v, head_dim)) return cudaErrorNotSupported;
    return wgmma_varlen_attention(out, q, k, v, cu_seqlens, num_seqs, max_seqlen, heads, head_dim, scale, s, impl);
#else
    return cudaErrorNotSupported;  // this build has no sm_90a code
#endif
  }
  if (e == Elem::kBF16 && impl != AttnImpl::kSimt && mma_attention_supported(out, q, k, v, head_dim)) {
    if (impl == AttnImpl::kAuto || impl == AttnImpl::kTensorCore) impl = default_tensor_core_attention();
    return mma_varlen_attention(out, q, k, v, cu_seqlens, num_seqs, max_seqlen, heads, head_dim, scale, s, impl);
  }
  if (impl != AttnImpl::kAuto && impl != AttnImpl::kSimt) return cudaErrorNotSupported;
  if (e == Elem::kF32) {
    return launch(static_cast<float*>(out), static_cast<const float*>(q), static_cast<const float*>(k),
                  static_cast<const float*>(v), cu_seqlens, num_seqs, max_seqlen, heads, head_dim, scale, s);
  }
  using bf16 = __nv_bfloat16;
  return launch(static_cast<bf16*>(out), static_cast<const bf16*>(q), static_cast<const bf16*>(k),
                static_cast<const bf16*>(v), cu_seqlens, num_seqs, max_seqlen, heads, head_dim, scale, s);
}

}  // namespace eric::cuda::kernels
