// Tensor-core variable-length attention for bf16 (sm_80+), in the manner of
// FlashAttention-2: mma.sync m16n8k16 (bf16 in, f32 accumulate) with every
// accumulator in registers.
//
// Block = kWarps warps, each with kRowTiles x 16 query rows of one (sequence,
// head). K and V tiles of kBK = 64 keys are double-buffered in shared memory
// with cp.async (tile t+1 loads while tile t is computed). Per warp, 16-row
// tile and key tile:
//   S[16x64] = Q_w K^T      Q_w's A fragments stay in registers for the whole
//                           sequence; K's B fragments come by ldmatrix.
//   online softmax          on S's accumulators: a row lives in one quad of
//                           lanes, so max and sum need two shuffles.
//   O[16xD] += P V          P's accumulators are already in the A-fragment
//                           layout (two adjacent n8 tiles = one k16 step);
//                           V's B fragments come by ldmatrix.trans.
// Shared rows are padded by 16 bytes, so the 8 row addresses of an ldmatrix
// fall on distinct bank groups. The WMMA version this replaces kept S and O in
// shared memory (its register layout is opaque) and ran at 3% of the card's
// GEMM rate; this one reaches about a third of it at head_dim 80, where the
// softmax's exponentials cost nearly as much as the two matrix products.
#include <cuda_bf16.h>

#include "backend/cuda/attention_mma.h"
#include "backend/cuda/attention_tile.cuh"

namespace eric::cuda::kernels {
namespace {
using bf16 = __nv_bfloat16;
using namespace tile;

constexpr int kBK = 64;  // keys per tile

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

// c += a * b for one m16n8k16 tile.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// kRowTiles: 16-row tiles per warp. Two halve the shared-memory traffic per
// FLOP (each K/V fragment feeds two MMAs) at the price of registers.
// kLazyRescale: skip the O rescale unless a max grew by 2^kLazyRescaleLog2
// (FlashAttention-4's conditional rescaling). kPolyTiles: how many of the
// tile's 8 key columns of 8 take exp2_poly instead of the SFU's ex2.
template <int D, int kWarps, int kRowTiles, bool kLazyRescale, int kPolyTiles>
__global__ void __launch_bounds__(kWarps * 32)
    mma_attention_kernel(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu_seqlens, int heads,
                         float scale_log2) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int kThreads = kWarps * 32;
  constexpr int kWarpRows = 16 * kRowTiles;
  constexpr int kBQ = kWarps * kWarpRows;
  constexpr int kStride = D + 8;      // shared row, in elements
  constexpr int kDimSteps = D / 16;   // k16 steps of Q K^T
  constexpr int kDimTiles = D / 8;    // n8 tiles of P V
  constexpr int kKeyTiles = kBK / 8;  // n8 tiles of Q K^T
  const int seq = blockIdx.z, head = blockIdx.y;
  const int begin = cu_seqlens[seq], end = cu_seqlens[seq + 1];
  const int q0 = begin + blockIdx.x * kBQ;
  if (q0 >= end) return;  // this sequence is shorter than max_seqlen
  const int64_t ld = int64_t{heads} * D;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int quad_row = lane >> 2, quad_col = 2 * (lane & 3);  // accumulator coordinates

  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* qs = reinterpret_cast<bf16*>(smem_raw);  // [kBQ][kStride]
  bf16* ks = qs + kBQ * kStride;                 // [2][kBK][kStride]
  bf16* vs = ks + 2 * kBK * kStride;             // [2][kBK][kStride]
  const bf16* kg = k + int64_t{head} * D;
  const bf16* vg = v + int64_t{head} * D;

  load_padded_rows_async<D, kBQ, kThreads>(qs, q + q0 * ld + int64_t{head} * D, ld, min(kBQ, end - q0));
  load_padded_rows_async<D, kBK, kThreads>(ks, kg + begin * ld, ld, min(kBK, end - begin));
  load_padded_rows_async<D, kBK, kThreads>(vs, vg + begin * ld, ld, min(kBK, end - begin));
  cp_async_commit();

  uint32_t qf[kRowTiles][kDimSteps][4];
  float o[kRowTiles][kDimTiles][4];
  float m_row[kRowTiles][2];  // running max of the raw scores, rows quad_row and quad_row + 8
  float l_row[kRowTiles][2];  // this lane's part of the row sums
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int j = 0; j < kDimTiles; ++j) o[rt][j][0] = o[rt][j][1] = o[rt][j][2] = o[rt][j][3] = 0.0f;
    m_row[rt][0] = m_row[rt][1] = -INFINITY;
    l_row[rt][0] = l_row[rt][1] = 0.0f;
  }

  int buf = 0;
  for (int k0 = begin; k0 < end; k0 += kBK, buf ^= 1) {
    const int next = k0 + kBK;
    if (next < end) {  // prefetch the next tile into the other buffer
      load_padded_rows_async<D, kBK, kThreads>(ks + (buf ^ 1) * kBK * kStride, kg + next * ld, ld, min(kBK, end - next));
      load_padded_rows_async<D, kBK, kThreads>(vs + (buf ^ 1) * kBK * kStride, vg + next * ld, ld, min(kBK, end - next));
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (k0 == begin) {  // Q's A fragments, once: lanes 0-7/8-15/16-23/24-31 address a0..a3's rows
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt) {
        const int r = warp * kWarpRows + rt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        const int c = (lane >> 4) * 8;
#pragma unroll
        for (int d = 0; d < kDimSteps; ++d) ldmatrix_x4(qf[rt][d], qs + r * kStride + d * 16 + c);
      }
    }
    const bf16* kt = ks + buf * kBK * kStride;
    const bf16* vt = vs + buf * kBK * kStride;

    // S = Q_w K^T. One ldmatrix.x4 gives the B fragments of two key tiles.
    float s[kRowTiles][kKeyTiles][4];
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt)
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j) s[rt][j][0] = s[rt][j][1] = s[rt][j][2] = s[rt][j][3] = 0.0f;
#pragma unroll
    for (int d = 0; d < kDimSteps; ++d) {
#pragma unroll
      for (int jp = 0; jp < kKeyTiles / 2; ++jp) {
        uint32_t b[4];
        const int key = jp * 16 + (lane & 7) + (lane >> 4) * 8;
        const int dim = d * 16 + ((lane >> 3) & 1) * 8;
        ldmatrix_x4(b, kt + key * kStride + dim);
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt) {
          mma_bf16(s[rt][2 * jp], qf[rt][d], b[0], b[1]);
          mma_bf16(s[rt][2 * jp + 1], qf[rt][d], b[2], b[3]);
        }
      }
    }

    // Online softmax. Keys past the sequence's end (last tile only) score -inf.
    const int valid = end - k0;
    if (valid < kBK) {
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt) mask_keys_from(s[rt], valid, quad_col);
    }
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
      online_softmax_tile<kLazyRescale, kPolyTiles>(s[rt], o[rt], m_row[rt], l_row[rt], scale_log2);
    }

    // O += P V, k16 steps over the tile's keys. P's accumulators are already
    // in A-fragment layout: key tiles 2kk and 2kk+1 make one k16 step.
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t a[kRowTiles][4];
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt) {
        a[rt][0] = pack_bf16(s[rt][2 * kk][0], s[rt][2 * kk][1]);
        a[rt][1] = pack_bf16(s[rt][2 * kk][2], s[rt][2 * kk][3]);
        a[rt][2] = pack_bf16(s[rt][2 * kk + 1][0], s[rt][2 * kk + 1][1]);
        a[rt][3] = pack_bf16(s[rt][2 * kk + 1][2], s[rt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < kDimTiles / 2; ++dp) {
        uint32_t b[4];
        const int key = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        const int dim = dp * 16 + (lane >> 4) * 8;
        ldmatrix_x4_trans(b, vt + key * kStride + dim);
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt) {
          mma_bf16(o[rt][2 * dp], a[rt], b[0], b[1]);
          mma_bf16(o[rt][2 * dp + 1], a[rt], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // everyone is done with this buffer before it is refilled
  }

#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
    store_rows<D>(out, o[rt], l_row[rt], q0 + warp * kWarpRows + rt * 16 + quad_row, end, ld, head, quad_col);
  }
#endif
}

template <int D, int kWarps, int kRowTiles, bool kLazyRescale = false, int kPolyTiles = 0>
cudaError_t launch(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu, int num_seqs,
                   int max_seqlen, int heads, float scale, cudaStream_t s) {
  constexpr int kBQ = kWarps * 16 * kRowTiles;
  const size_t smem = sizeof(bf16) * size_t{D + 8} * (kBQ + 4 * kBK);
  return launch_attention(mma_attention_kernel<D, kWarps, kRowTiles, kLazyRescale, kPolyTiles>, kWarps * 32, kBQ, smem,
                          out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
}

template <int D>
cudaError_t launch_dim(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu, int num_seqs,
                       int max_seqlen, int heads, float scale, cudaStream_t s, AttnImpl variant) {
  // The default, 4 warps x 32 query rows, measured fastest on an H100
  // (bench/cuda_gemm_attention_bench, 16 heads x 80, bf16): full attention
  // over 5476 tokens at batch 1 / 8 ran at 249 / 287 TFLOP/s, against 211 /
  // 233 for 4 warps x 16 rows and 173 / 199 for 8 warps x 16 rows; 256-token
  // windows at 161 / 214 against 148 / 181 and 119 / 145. The 8 x 32 shape,
  // lazy rescaling and the polynomial exponentials are not measured yet.
  switch (variant) {
    case AttnImpl::kTensorCoreWarps8Rows16:
      return launch<D, 8, 1>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    case AttnImpl::kTensorCoreWarps4Rows16:
      return launch<D, 4, 1>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    case AttnImpl::kTensorCoreWarps8Rows32:
      return launch<D, 8, 2>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    case AttnImpl::kTensorCoreWarps4Rows32Lazy:
      return launch<D, 4, 2, true>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    case AttnImpl::kTensorCoreWarps4Rows32LazyPoly:
      return launch<D, 4, 2, true, 2>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    case AttnImpl::kTensorCoreWarps8Rows32LazyPoly:
      return launch<D, 8, 2, true, 2>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    default:  // kTensorCoreWarps4Rows32, and the default itself
      return launch<D, 4, 2>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
}  // namespace

bool mma_attention_supported(const void* out, const void* q, const void* k, const void* v, int head_dim) {
  if (head_dim % 16 != 0 || head_dim > 128 || head_dim <= 0) return false;
  if (!aligned16(out) || !aligned16(q) || !aligned16(k) || !aligned16(v)) return false;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  return major >= 8;
}

cudaError_t mma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                 int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s,
                                 AttnImpl variant) {
  auto* o = static_cast<bf16*>(out);
  auto* qp = static_cast<const bf16*>(q);
  auto* kp = static_cast<const bf16*>(k);
  auto* vp = static_cast<const bf16*>(v);
  switch (head_dim) {
#define ERIC_MMA_ATTENTION_DIM(D) \
  case D:                         \
    return launch_dim<D>(o, qp, kp, vp, cu_seqlens, num_seqs, max_seqlen, heads, scale, s, variant);
    ERIC_MMA_ATTENTION_DIM(16)
    ERIC_MMA_ATTENTION_DIM(32)
    ERIC_MMA_ATTENTION_DIM(48)
    ERIC_MMA_ATTENTION_DIM(64)
    ERIC_MMA_ATTENTION_DIM(80)
    ERIC_MMA_ATTENTION_DIM(96)
    ERIC_MMA_ATTENTION_DIM(112)
    ERIC_MMA_ATTENTION_DIM(128)
#undef ERIC_MMA_ATTENTION_DIM
    default:
      return cudaErrorNotSupported;
  }
}

}  // namespace eric::cuda::kernels
