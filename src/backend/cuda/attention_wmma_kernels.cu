// Tensor-core variable-length attention for bf16 (sm_80+), flash-attention
// style: bf16 WMMA 16x16x16 tiles with float32 accumulation.
//
// Block = 4 warps = 64 query rows of one (sequence, head); K and V tiles of 64
// keys are staged in shared memory for all warps. Per warp and key tile:
//   S[16x64] = Q_w K^T              (WMMA, f32 accumulators -> shared S)
//   online softmax on S's rows       (2 lanes per row; m, l in registers;
//                                     P rounded to bf16; O rows rescaled)
//   O[16xD] += P[16x64] V[64xD]     (WMMA, O kept in shared memory in f32,
//                                     because WMMA's register layout is opaque
//                                     and the rescale needs rows)
// Requirements (the launcher checks; else the SIMT kernel runs): head_dim a
// multiple of 16 and <= 128, 16-byte aligned q/k/v/out, compute capability 8+.
#include <mma.h>

#include "backend/cuda/attention_wmma.h"
#include "backend/cuda/kernel_util.cuh"

namespace eric::cuda::kernels {
namespace {
namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kRows = 16;            // query rows per warp
constexpr int kBQ = kWarps * kRows;  // 64
constexpr int kBK = 64;              // keys per tile

size_t smem_bytes(int dim) {
  return sizeof(bf16) * (size_t{kBQ} * dim + 2 * size_t{kBK} * dim)  // Q, K, V
         + sizeof(float) * kWarps * kRows * kBK                      // S
         + sizeof(bf16) * kWarps * kRows * kBK                       // P
         + sizeof(float) * kWarps * kRows * size_t(dim);             // O
}

// rows x dim bf16 from global (row stride ld elements) into shared, 16 bytes
// at a time; rows >= valid are zero.
__device__ __forceinline__ void load_tile(bf16* dst, const bf16* src, int64_t ld, int rows, int valid, int dim) {
  const int chunks = dim / 8;  // uint4 = 8 bf16
  for (int i = threadIdx.x; i < rows * chunks; i += blockDim.x) {
    const int r = i / chunks, c = i % chunks;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < valid) v = *reinterpret_cast<const uint4*>(src + r * ld + c * 8);
    *reinterpret_cast<uint4*>(dst + r * dim + c * 8) = v;
  }
}

__global__ void __launch_bounds__(kWarps * 32)
    wmma_attention_kernel(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu_seqlens, int heads,
                          int dim, float scale_log2) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int seq = blockIdx.z, head = blockIdx.y;
  const int begin = cu_seqlens[seq], end = cu_seqlens[seq + 1];
  const int q0 = begin + blockIdx.x * kBQ;
  if (q0 >= end) return;
  const int64_t ld = int64_t{heads} * dim;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* qs = reinterpret_cast<bf16*>(smem_raw);
  bf16* ks = qs + kBQ * dim;
  bf16* vs = ks + kBK * dim;
  float* s_all = reinterpret_cast<float*>(vs + kBK * dim);
  bf16* p_all = reinterpret_cast<bf16*>(s_all + kWarps * kRows * kBK);
  float* o_all = reinterpret_cast<float*>(p_all + kWarps * kRows * kBK);
  float* sw = s_all + warp * kRows * kBK;
  bf16* pw = p_all + warp * kRows * kBK;
  float* ow = o_all + warp * kRows * dim;
  const bf16* qw = qs + warp * kRows * dim;

  load_tile(qs, q + q0 * ld + int64_t{head} * dim, ld, kBQ, min(kBQ, end - q0), dim);
  for (int i = lane; i < kRows * dim; i += 32) ow[i] = 0.0f;

  // Lane pair (2r, 2r+1) owns row r: half the score columns, half the dims.
  // Rows are 64 floats apart in S (one bank), so each lane starts its column
  // walk at a different offset (rot): the 32 lanes hit 32 banks, not one.
  const int row = lane >> 1, half = lane & 1;
  const int rot = (row + half * 16) & 31;
  const int d_half = dim / 2, d_rot = row % d_half;
  float m = -INFINITY, l = 0.0f;
  const int dtiles = dim / 16;

  for (int k0 = begin; k0 < end; k0 += kBK) {
    const int nk = min(kBK, end - k0);
    __syncthreads();  // all warps done with the previous K/V tile
    load_tile(ks, k + k0 * ld + int64_t{head} * dim, ld, kBK, nk, dim);
    load_tile(vs, v + k0 * ld + int64_t{head} * dim, ld, kBK, nk, dim);
    __syncthreads();

    // S = Q_w K^T: K stored [key][dim] row-major is K^T column-major.
    for (int j = 0; j < kBK / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < dtiles; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
        wmma::load_matrix_sync(a, qw + kk * 16, dim);
        wmma::load_matrix_sync(b, ks + j * 16 * dim + kk * 16, dim);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(sw + j * 16, acc, kBK, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax on row `row`, columns [half*32, half*32 + 32).
    const float* srow = sw + row * kBK;
    bf16* prow = pw + row * kBK;
    float mx = -INFINITY;
    for (int j = 0; j < 32; ++j) {
      const int c = half * 32 + ((j + rot) & 31);
      if (c < nk) mx = fmaxf(mx, srow[c] * scale_log2);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m, mx);
    const float corr = exp2f(m - m_new);  // 0 on the first tile
    float sum = 0.0f;
    for (int j = 0; j < 32; ++j) {
      const int c = half * 32 + ((j + rot) & 31);
      const float p = c < nk ? exp2f(srow[c] * scale_log2 - m_new) : 0.0f;
      const bf16 pb = __float2bfloat16(p);
      prow[c] = pb;
      sum += __bfloat162float(pb);  // the normaliser sums what the P·V product uses
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * corr + sum;
    m = m_new;
    for (int j = 0; j < d_half; ++j) {
      int d = j + d_rot;
      if (d >= d_half) d -= d_half;
      ow[row * dim + half * d_half + d] *= corr;
    }
    __syncwarp();

    // O_w += P V
    for (int dt = 0; dt < dtiles; ++dt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, ow + dt * 16, dim, wmma::mem_row_major);
      for (int kk = 0; kk < kBK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
        wmma::load_matrix_sync(a, pw + kk * 16, kBK);
        wmma::load_matrix_sync(b, vs + kk * 16 * dim + dt * 16, dim);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(ow + dt * 16, acc, dim, wmma::mem_row_major);
    }
    __syncwarp();
  }

  const int qrow = q0 + warp * kRows + row;
  if (qrow < end) {
    const float inv = 1.0f / l;
    bf16* dst = out + qrow * ld + int64_t{head} * dim;
    for (int d = half * d_half; d < (half + 1) * d_half; ++d) dst[d] = __float2bfloat16(ow[row * dim + d] * inv);
  }
#endif
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
}  // namespace

bool wmma_attention_supported(const void* out, const void* q, const void* k, const void* v, int heads, int head_dim) {
  if (head_dim % 16 != 0 || head_dim > 128 || head_dim <= 0) return false;
  if (!aligned16(out) || !aligned16(q) || !aligned16(k) || !aligned16(v)) return false;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  return major >= 8;
}

cudaError_t wmma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                  int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s) {
  const size_t smem = smem_bytes(head_dim);
  cudaError_t err = cudaFuncSetAttribute(wmma_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const dim3 grid((max_seqlen + kBQ - 1) / kBQ, heads, num_seqs);
  wmma_attention_kernel<<<grid, kWarps * 32, smem, s>>>(static_cast<bf16*>(out), static_cast<const bf16*>(q),
                                                        static_cast<const bf16*>(k), static_cast<const bf16*>(v),
                                                        cu_seqlens, heads, head_dim, scale * 1.4426950408889634f);
  return cudaGetLastError();
}

}  // namespace eric::cuda::kernels
