// Tensor-core variable-length attention for bf16 (sm_80+), in the manner of
// FlashAttention-2: mma.sync m16n8k16 (bf16 in, f32 accumulate) with every
// accumulator in registers.
//
// Block = kWarps warps = kWarps*16 query rows of one (sequence, head). K and
// V tiles of kBK = 64 keys are double-buffered in shared memory with cp.async
// (tile t+1 loads while tile t is computed). Per warp and key tile:
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
// GEMM rate.
#include <cuda_bf16.h>

#include "backend/cuda/attention_mma.h"

namespace eric::cuda::kernels {
namespace {
using bf16 = __nv_bfloat16;

constexpr int kBK = 64;  // keys per tile

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; zero-filled (nothing read) when !valid.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
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

// Two floats as a bf16 pair; the lower column goes in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// rows x D bf16 (row stride ld elements in global) into shared rows of D + 8;
// rows >= valid are zeros.
template <int D, int kRows, int kThreads>
__device__ __forceinline__ void load_tile_async(bf16* dst, const bf16* src, int64_t ld, int valid) {
  constexpr int kChunks = D / 8;  // 16-byte pieces per row
  for (int i = threadIdx.x; i < kRows * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const bool ok = r < valid;
    cp_async_16(dst + r * (D + 8) + c * 8, ok ? src + r * ld + c * 8 : src, ok);
  }
}

template <int D, int kWarps>
__global__ void __launch_bounds__(kWarps * 32)
    mma_attention_kernel(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu_seqlens, int heads,
                         float scale_log2) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int kThreads = kWarps * 32;
  constexpr int kBQ = kWarps * 16;
  constexpr int kStride = D + 8;  // shared row, in elements
  constexpr int kDimSteps = D / 16;  // k16 steps of Q K^T
  constexpr int kDimTiles = D / 8;   // n8 tiles of P V
  constexpr int kKeyTiles = kBK / 8; // n8 tiles of Q K^T
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

  load_tile_async<D, kBQ, kThreads>(qs, q + q0 * ld + int64_t{head} * D, ld, min(kBQ, end - q0));
  load_tile_async<D, kBK, kThreads>(ks, kg + begin * ld, ld, min(kBK, end - begin));
  load_tile_async<D, kBK, kThreads>(vs, vg + begin * ld, ld, min(kBK, end - begin));
  cp_async_commit();

  uint32_t qf[kDimSteps][4];
  float o[kDimTiles][4];
#pragma unroll
  for (int j = 0; j < kDimTiles; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float m_row[2] = {-INFINITY, -INFINITY};  // rows quad_row and quad_row + 8, in log2 units
  float l_row[2] = {0.0f, 0.0f};            // this lane's part of the row sums

  int buf = 0;
  for (int k0 = begin; k0 < end; k0 += kBK, buf ^= 1) {
    const int next = k0 + kBK;
    if (next < end) {  // prefetch the next tile into the other buffer
      load_tile_async<D, kBK, kThreads>(ks + (buf ^ 1) * kBK * kStride, kg + next * ld, ld, min(kBK, end - next));
      load_tile_async<D, kBK, kThreads>(vs + (buf ^ 1) * kBK * kStride, vg + next * ld, ld, min(kBK, end - next));
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (k0 == begin) {  // Q's A fragments, once: rows warp*16.., lanes 0-7/8-15/16-23/24-31 -> a0..a3
      const int r = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
      const int c = (lane >> 4) * 8;
#pragma unroll
      for (int s = 0; s < kDimSteps; ++s) ldmatrix_x4(qf[s], qs + r * kStride + s * 16 + c);
    }
    const bf16* kt = ks + buf * kBK * kStride;
    const bf16* vt = vs + buf * kBK * kStride;

    // S = Q_w K^T. One ldmatrix.x4 gives the B fragments of two key tiles.
    float s[kKeyTiles][4];
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int d = 0; d < kDimSteps; ++d) {
#pragma unroll
      for (int jp = 0; jp < kKeyTiles / 2; ++jp) {
        uint32_t b[4];
        const int key = jp * 16 + (lane & 7) + (lane >> 4) * 8;
        const int dim = d * 16 + ((lane >> 3) & 1) * 8;
        ldmatrix_x4(b, kt + key * kStride + dim);
        mma_bf16(s[2 * jp], qf[d], b[0], b[1]);
        mma_bf16(s[2 * jp + 1], qf[d], b[2], b[3]);
      }
    }

    // Online softmax. Keys past the sequence's end score -inf.
    const int valid = end - k0;
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = j * 8 + quad_col + (e & 1);
        s[j][e] = key < valid ? s[j][e] * scale_log2 : -INFINITY;
        mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
      }
    }
    float corr[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      const float m_new = fmaxf(m_row[h], mx[h]);  // finite: every tile holds a key of this sequence
      corr[h] = exp2f(m_row[h] - m_new);          // 0 on the first tile
      m_row[h] = m_new;
      l_row[h] *= corr[h];
    }
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[j][e] = exp2f(s[j][e] - m_row[e >> 1]);
        l_row[e >> 1] += s[j][e];
      }
    }
#pragma unroll
    for (int j = 0; j < kDimTiles; ++j) {
      o[j][0] *= corr[0];
      o[j][1] *= corr[0];
      o[j][2] *= corr[1];
      o[j][3] *= corr[1];
    }

    // O += P V, k16 steps over the tile's keys.
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t a[4];
      a[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
      a[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
      a[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < kDimTiles / 2; ++dp) {
        uint32_t b[4];
        const int key = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        const int dim = dp * 16 + (lane >> 4) * 8;
        ldmatrix_x4_trans(b, vt + key * kStride + dim);
        mma_bf16(o[2 * dp], a, b[0], b[1]);
        mma_bf16(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // everyone is done with this buffer before it is refilled
  }

#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l_row[h] += __shfl_xor_sync(0xffffffffu, l_row[h], 1);
    l_row[h] += __shfl_xor_sync(0xffffffffu, l_row[h], 2);
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = q0 + warp * 16 + quad_row + 8 * h;
    if (row >= end) continue;
    const float inv = 1.0f / l_row[h];
    bf16* dst = out + row * ld + int64_t{head} * D + quad_col;
#pragma unroll
    for (int j = 0; j < kDimTiles; ++j) {
      *reinterpret_cast<__nv_bfloat162*>(dst + j * 8) =
          __floats2bfloat162_rn(o[j][2 * h] * inv, o[j][2 * h + 1] * inv);
    }
  }
#endif
}

template <int D, int kWarps>
cudaError_t launch(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu, int num_seqs,
                   int max_seqlen, int heads, float scale, cudaStream_t s) {
  constexpr int kBQ = kWarps * 16;
  const size_t smem = sizeof(bf16) * size_t{D + 8} * (kBQ + 4 * kBK);
  auto* kernel = mma_attention_kernel<D, kWarps>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const dim3 grid((max_seqlen + kBQ - 1) / kBQ, heads, num_seqs);
  kernel<<<grid, kWarps * 32, smem, s>>>(out, q, k, v, cu, heads, scale * 1.4426950408889634f);
  return cudaGetLastError();
}

template <int D>
cudaError_t launch_dim(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu, int num_seqs,
                       int max_seqlen, int heads, float scale, cudaStream_t s, int warps) {
  // 128 query rows per block halve the K/V traffic from L2 but leave fewer
  // blocks per SM (143 registers a thread at D = 80). Measured on an H100
  // (bench/cuda_gemm_attention_bench, 16 heads x 80): full attention over
  // 5476 tokens ran at 180 TFLOP/s with 64 rows against 156 with 128, and
  // 256-token windows at 131 against 109, so 64 rows is the default.
  if (warps == 0) warps = 4;
  if (warps == 8) return launch<D, 8>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
  return launch<D, 4>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
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
                                 int warps_per_block) {
  if (warps_per_block != 0 && warps_per_block != 4 && warps_per_block != 8) return cudaErrorInvalidValue;
  auto* o = static_cast<bf16*>(out);
  auto* qp = static_cast<const bf16*>(q);
  auto* kp = static_cast<const bf16*>(k);
  auto* vp = static_cast<const bf16*>(v);
  switch (head_dim) {
#define ERIC_MMA_ATTENTION_DIM(D) \
  case D:                         \
    return launch_dim<D>(o, qp, kp, vp, cu_seqlens, num_seqs, max_seqlen, heads, scale, s, warps_per_block);
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
