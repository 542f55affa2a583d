// What the tensor-core attention kernels share (nvcc only): shared-memory
// and async-copy helpers, the exponentials, and the per-tile online softmax
// and output store on accumulators in the mma.sync / wgmma C layout, where a
// warp holds 16 rows: lane l has rows l/4 and l/4 + 8, columns 2(l%4) and
// 2(l%4) + 1 of every n8 tile j, as c[j][0..1] (row l/4) and c[j][2..3]
// (row l/4 + 8). mma.sync m16n8 and wgmma m64nN (per warp) both use it.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/attention_exp2.h"

namespace eric::cuda::kernels::tile {
using bf16 = __nv_bfloat16;

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
// rows x D bf16 (row stride ld elements in global) into shared rows of D + 8
// (the padding puts an ldmatrix's 8 row addresses on distinct bank groups);
// rows >= valid are zeros.
template <int D, int kRows, int kThreads>
__device__ __forceinline__ void load_padded_rows_async(bf16* dst, const bf16* src, int64_t ld, int valid) {
  constexpr int kChunks = D / 8;  // 16-byte pieces per row
  for (int i = threadIdx.x; i < kRows * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const bool ok = r < valid;
    cp_async_16(dst + r * (D + 8) + c * 8, ok ? src + r * ld + c * 8 : src, ok);
  }
}

// Two floats as a bf16 pair; the lower column goes in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// 2^x on the special-function unit (inputs here are <= 0; -inf gives 0).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// 2^x on the FMA pipes (attention_exp2.h): floor(x) from a round-down add of
// 1.5 * 2^23, which leaves floor(x) in the low mantissa bits (exact for
// |x| < 2^22), so no conversion instruction (those share the slow unit) runs.
__device__ __forceinline__ float exp2_poly(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23, bits 0x4B400000
  x = fmaxf(x, kExp2PolyMinInput);
  const float shifted = __fadd_rd(x, kMagic);
  const float floor_x = shifted - kMagic;  // exact
  return scale_by_pow2(exp2_fraction_poly(x - floor_x), __float_as_int(shifted) - 0x4B400000);
}

// Lazy rescaling keeps a row's running max until a tile's max exceeds it by
// more than this many powers of two: the unnormalised P then stays <= 2^8
// (harmless in the float32 sums and in P's bf16 rounding, which is relative),
// and the O accumulators are rescaled only in the rare tiles where some row's
// max jumps, instead of 40 multiplies per row tile per key tile.
constexpr float kLazyRescaleLog2 = 8.0f;

// Keys at column >= valid (the sequence ends inside this tile) score -inf.
template <int kKeyTiles>
__device__ __forceinline__ void mask_keys_from(float (&s)[kKeyTiles][4], int valid, int quad_col) {
#pragma unroll
  for (int j = 0; j < kKeyTiles; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      if (j * 8 + quad_col + (e & 1) >= valid) s[j][e] = -INFINITY;
}

// One key tile of the online softmax for one 16-row tile: s (the raw
// scores) becomes the unnormalised P, o and this lane's row-sum parts l_row
// are rescaled to the new running max m_row. kLazyRescale: skip the O rescale
// unless a max grew by 2^kLazyRescaleLog2 (FlashAttention-4's conditional
// rescaling). kPolyTiles: how many of the tile's n8 key columns take
// exp2_poly instead of the SFU's ex2.
template <bool kLazyRescale, int kPolyTiles, int kKeyTiles, int kDimTiles>
__device__ __forceinline__ void online_softmax_tile(float (&s)[kKeyTiles][4], float (&o)[kDimTiles][4],
                                                    float (&m_row)[2], float (&l_row)[2], float scale_log2) {
  float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int j = 0; j < kKeyTiles; ++j) {
    mx[0] = fmaxf(mx[0], fmaxf(s[j][0], s[j][1]));
    mx[1] = fmaxf(mx[1], fmaxf(s[j][2], s[j][3]));
  }
  float corr[2], neg_max[2];
  bool grew = false;  // some row of this lane moved its max (lazy rescaling)
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
    // mx is finite: every tile holds a key of this sequence. The running
    // max is -inf before the first tile, so it always moves there (corr 0).
    float m_new = fmaxf(m_row[h], mx[h]);
    if (kLazyRescale) {
      const bool move = (mx[h] - m_row[h]) * scale_log2 > kLazyRescaleLog2;
      m_new = move ? mx[h] : m_row[h];
      grew = grew || move;
    }
    corr[h] = fast_exp2((m_row[h] - m_new) * scale_log2);  // 1 where the max stays
    m_row[h] = m_new;
    l_row[h] *= corr[h];
    neg_max[h] = -m_new * scale_log2;
  }
  // p = 2^(s * scale * log2(e) - max * scale * log2(e)): one FFMA and one
  // exponential, on the SFU or (the first kPolyTiles key columns) the FMA pipes.
#pragma unroll
  for (int j = 0; j < kKeyTiles; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float x = fmaf(s[j][e], scale_log2, neg_max[e >> 1]);
      s[j][e] = j < kPolyTiles ? exp2_poly(x) : fast_exp2(x);
      l_row[e >> 1] += s[j][e];
    }
  }
  // The branch is warp-uniform: all lanes rescale (by 1 where nothing moved) or none.
  if (!kLazyRescale || __any_sync(0xffffffffu, grew)) {
#pragma unroll
    for (int j = 0; j < kDimTiles; ++j) {
      o[j][0] *= corr[0];
      o[j][1] *= corr[0];
      o[j][2] *= corr[1];
      o[j][3] *= corr[1];
    }
  }
}

// The finished rows of one 16-row tile: O / (sum of P), bf16, into out
// [tokens, heads, D] at rows first_row (this lane's quad row) and +8, those
// before `end` only.
template <int D, int kDimTiles>
__device__ __forceinline__ void store_rows(bf16* out, const float (&o)[kDimTiles][4], const float (&l_row)[2],
                                           int first_row, int end, int64_t ld, int head, int quad_col) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float l = l_row[h];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = first_row + 8 * h;
    if (row >= end) continue;
    const float inv = 1.0f / l;
    bf16* dst = out + row * ld + int64_t{head} * D + quad_col;
#pragma unroll
    for (int j = 0; j < kDimTiles; ++j) {
      *reinterpret_cast<__nv_bfloat162*>(dst + j * 8) =
          __floats2bfloat162_rn(o[j][2 * h] * inv, o[j][2 * h + 1] * inv);
    }
  }
}

// Launches a tensor-core attention kernel over (query tiles of
// rows_per_block, heads, sequences) with `smem` bytes of dynamic shared
// memory (allowed past 48 KiB first); the kernels take the softmax scale in
// the log2 domain.
template <typename Kernel>
cudaError_t launch_attention(Kernel* kernel, int threads, int rows_per_block, size_t smem, bf16* out, const bf16* q,
                             const bf16* k, const bf16* v, const int32_t* cu, int num_seqs, int max_seqlen, int heads,
                             float scale, cudaStream_t s) {
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const dim3 grid((max_seqlen + rows_per_block - 1) / rows_per_block, heads, num_seqs);
  kernel<<<grid, threads, smem, s>>>(out, q, k, v, cu, heads, scale * 1.4426950408889634f);
  return cudaGetLastError();
}

}  // namespace eric::cuda::kernels::tile
