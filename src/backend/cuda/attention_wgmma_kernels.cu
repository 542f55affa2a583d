// Tensor-core variable-length attention on Hopper's warpgroup MMA (wgmma,
// sm_90a only), for bf16 with head_dim 64, 80, 96 or 128. EXPERIMENTAL: an
// opt-in variant (kernels::AttnImpl::kTensorCoreWgmma*) written without a GPU
// at hand; tests/backend/cuda/attention_test.cc checks it against the float64
// reference, and tools/device/README.md says what to run first.
//
// Why: the mma.sync kernel (attention_mma_kernels.cu) runs at about a third
// of the H100's bf16 rate at head_dim 80; wgmma issues a 64 x N x 16 product
// per warpgroup instruction, asynchronously, at the full tensor-core rate.
//
// Block = kWG warpgroups (128 threads each), each with 64 query rows (one
// warp: 16 rows). Per key tile of kBK = 64 keys:
//   S[64x64] = Q K^T   wgmma m64n64k16, A = Q from registers (its fragments,
//                      loaded once by ldmatrix, are mma.sync's A layout per
//                      warp), B = the K tile from shared memory (K-major).
//   online softmax     on S's accumulators, which per warp are mma.sync's C
//                      layout (attention_tile.cuh, shared with the other kernel).
//   O[64xD] += P V     wgmma m64nDk16, A = P from registers (its accumulators
//                      are already A fragments), B = the V tile (MN-major:
//                      keys are the reduction, head dims contiguous).
// K and V tiles are double-buffered with cp.async in wgmma's no-swizzle
// layout: 8-row x 16-byte atoms, atom (row group g, 16-byte chunk c) at
// g * 16 D + c * 128 bytes, a row's 16 bytes at (row % 8) * 16 in it. The
// same bytes serve K as a K-major operand (rows = keys = N, chunks along the
// reduction) and V as an MN-major one (rows = keys = K, chunks along N).
// cp.async writes through the generic proxy and wgmma reads through the
// async one, hence fence.proxy.async before the barrier that publishes a tile.
#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/attention_tile.cuh"
#include "backend/cuda/attention_wgmma.h"

namespace eric::cuda::kernels {
namespace {
using bf16 = __nv_bfloat16;
using namespace tile;

constexpr int kBK = 64;  // keys per tile

// A shared-memory matrix descriptor without swizzling: start address, the
// leading-dimension byte offset (LBO) and the stride-dimension byte offset
// (SBO), each in 16-byte units; base offset and swizzle mode 0.
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(lbo >> 4) << 16) |
         (static_cast<uint64_t>(sbo >> 4) << 32);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Makes this thread's completed cp.async writes visible to wgmma's reads.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// d (+)= a * B for one m64nNk16 step, A from registers, B by descriptor;
// kTransB: B is MN-major. scale_d 0 overwrites d (the first step of S).
template <int N>
struct WgmmaRs;

template <>
struct WgmmaRs<64> {
  template <int kTransB>
  static __device__ __forceinline__ void run(float (&d)[8][4], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
        "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d), "n"(kTransB));
  }
};

template <>
struct WgmmaRs<80> {
  template <int kTransB>
  static __device__ __forceinline__ void run(float (&d)[10][4], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %45, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n80k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39}, "
        "{%40, %41, %42, %43}, %44, p, 1, 1, %46;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d), "n"(kTransB));
  }
};

template <>
struct WgmmaRs<96> {
  template <int kTransB>
  static __device__ __forceinline__ void run(float (&d)[12][4], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %53, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n96k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47}, "
        "{%48, %49, %50, %51}, %52, p, 1, 1, %54;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d), "n"(kTransB));
  }
};

template <>
struct WgmmaRs<128> {
  template <int kTransB>
  static __device__ __forceinline__ void run(float (&d)[16][4], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "{%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d), "n"(kTransB));
  }
};

// 64 rows x D bf16 (row stride ld elements in global) into the atom layout
// above; rows >= valid are zeros. Eight consecutive threads fill one atom
// (128 contiguous bytes: no bank conflict) from 16-byte pieces of eight rows,
// and a warp's four atoms are one 64-byte run of each of those rows.
template <int D, int kThreads>
__device__ __forceinline__ void load_atoms_async(unsigned char* dst, const bf16* src, int64_t ld, int valid) {
  constexpr int kChunks = D / 8;
  for (int i = threadIdx.x; i < kBK * kChunks; i += kThreads) {
    const int r_lo = i & 7, rest = i >> 3;
    const int c = rest % kChunks, r = (rest / kChunks) * 8 + r_lo;
    const bool ok = r < valid;
    cp_async_16(dst + (r >> 3) * (16 * D) + c * 128 + r_lo * 16, ok ? src + r * ld + c * 8 : src, ok);
  }
}

// kVLboAlongKeys: which of V's two atom strides goes in the descriptor's LBO.
// For an MN-major operand without swizzling, the reading taken here (as
// CUTLASS's canonical layout ((T,1,m),(8,k)):((1,T,SBO),(1T,LBO))) puts the
// stride between 8-key groups (the reduction) in LBO and the stride between
// 8-column groups in SBO; `false` swaps them. The test names the one that
// matches the hardware; the other is there because this was written blind.
template <int D, int kWG, bool kLazyRescale, int kPolyTiles, bool kVLboAlongKeys>
__global__ void __launch_bounds__(kWG * 128)
    wgmma_attention_kernel(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu_seqlens,
                           int heads, float scale_log2) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kThreads = kWG * 128;
  constexpr int kBQ = kWG * 64;
  constexpr int kStride = D + 8;      // Q's shared row, in elements
  constexpr int kDimSteps = D / 16;   // k16 steps of Q K^T
  constexpr int kDimTiles = D / 8;    // n8 tiles of O
  constexpr int kKeyTiles = kBK / 8;  // n8 tiles of S
  constexpr uint32_t kTileBytes = kBK * D * 2;
  constexpr uint32_t kGroupBytes = 16 * D;  // one 8-row group of atoms
  const int seq = blockIdx.z, head = blockIdx.y;
  const int begin = cu_seqlens[seq], end = cu_seqlens[seq + 1];
  const int q0 = begin + blockIdx.x * kBQ;
  if (q0 >= end) return;  // block-uniform: this sequence is shorter than max_seqlen
  const int64_t ld = int64_t{heads} * D;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int quad_row = lane >> 2, quad_col = 2 * (lane & 3);

  // [Q rows][V0][V1][K0][K1]: V before K, so that even a misread V stride
  // stays inside the allocation (the test tells the two readings apart).
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* qs = reinterpret_cast<bf16*>(smem_raw);
  unsigned char* vs = smem_raw + kBQ * kStride * 2;
  unsigned char* ks = vs + 2 * kTileBytes;
  const bf16* kg = k + int64_t{head} * D;
  const bf16* vg = v + int64_t{head} * D;

  load_padded_rows_async<D, kBQ, kThreads>(qs, q + q0 * ld + int64_t{head} * D, ld, min(kBQ, end - q0));
  load_atoms_async<D, kThreads>(ks, kg + begin * ld, ld, min(kBK, end - begin));
  load_atoms_async<D, kThreads>(vs, vg + begin * ld, ld, min(kBK, end - begin));
  cp_async_commit();

  uint32_t qf[kDimSteps][4];
  float o[kDimTiles][4];
  float m_row[2] = {-INFINITY, -INFINITY};
  float l_row[2] = {0.0f, 0.0f};
#pragma unroll
  for (int j = 0; j < kDimTiles; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;

  int buf = 0;
  for (int k0 = begin; k0 < end; k0 += kBK, buf ^= 1) {
    const int next = k0 + kBK;
    if (next < end) {  // prefetch the next tile into the other buffers
      load_atoms_async<D, kThreads>(ks + (buf ^ 1) * kTileBytes, kg + next * ld, ld, min(kBK, end - next));
      load_atoms_async<D, kThreads>(vs + (buf ^ 1) * kTileBytes, vg + next * ld, ld, min(kBK, end - next));
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    fence_proxy_async();
    __syncthreads();
    if (k0 == begin) {  // this warp's 16 Q rows as A fragments, once
      const int r = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
      const int c = (lane >> 4) * 8;
#pragma unroll
      for (int d = 0; d < kDimSteps; ++d) ldmatrix_x4(qf[d], qs + r * kStride + d * 16 + c);
    }
    const uint32_t kt = smem_u32(ks + buf * kTileBytes);
    const uint32_t vt = smem_u32(vs + buf * kTileBytes);

    // S = Q K^T over the head dims, 16 at a time (two 16-byte chunks).
    float s[kKeyTiles][4];
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;  // overwritten (scale_d 0)
    wgmma_fence();
#pragma unroll
    for (int d = 0; d < kDimSteps; ++d) {
      WgmmaRs<kBK>::template run<0>(s, qf[d], smem_desc(kt + d * 2 * 128, 128, kGroupBytes), d > 0 ? 1 : 0);
    }
    wgmma_commit();
    wgmma_wait_all();

    const int valid = end - k0;
    if (valid < kBK) mask_keys_from(s, valid, quad_col);
    online_softmax_tile<kLazyRescale, kPolyTiles>(s, o, m_row, l_row, scale_log2);

    // O += P V over the tile's keys, 16 at a time (two 8-key groups).
    uint32_t p[kBK / 16][4];
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      p[kk][0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
      p[kk][1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
      p[kk][2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      p[kk][3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
    constexpr uint32_t kVLbo = kVLboAlongKeys ? kGroupBytes : 128;
    constexpr uint32_t kVSbo = kVLboAlongKeys ? 128 : kGroupBytes;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      WgmmaRs<D>::template run<1>(o, p[kk], smem_desc(vt + kk * 2 * kGroupBytes, kVLbo, kVSbo), 1);
    }
    wgmma_commit();
    wgmma_wait_all();
    __syncthreads();  // everyone is done with this buffer before it is refilled
  }
  store_rows<D>(out, o, l_row, q0 + warp * 16 + quad_row, end, ld, head, quad_col);
#endif
}

template <int D, bool kLazyRescale, int kPolyTiles, bool kVLboAlongKeys>
cudaError_t launch(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu, int num_seqs,
                   int max_seqlen, int heads, float scale, cudaStream_t s) {
  constexpr int kWG = 2;
  constexpr int kBQ = kWG * 64;
  const size_t smem = size_t{kBQ} * (D + 8) * 2 + 4 * size_t{kBK} * D * 2;
  return launch_attention(wgmma_attention_kernel<D, kWG, kLazyRescale, kPolyTiles, kVLboAlongKeys>, kWG * 128, kBQ,
                          smem, out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
}

template <int D>
cudaError_t launch_dim(bf16* out, const bf16* q, const bf16* k, const bf16* v, const int32_t* cu, int num_seqs,
                       int max_seqlen, int heads, float scale, cudaStream_t s, AttnImpl variant) {
  switch (variant) {
    case AttnImpl::kTensorCoreWgmmaLazy:
      return launch<D, true, 0, true>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    case AttnImpl::kTensorCoreWgmmaOtherVStrides:
      return launch<D, false, 0, false>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
    default:  // kTensorCoreWgmma
      return launch<D, false, 0, true>(out, q, k, v, cu, num_seqs, max_seqlen, heads, scale, s);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
}  // namespace

bool wgmma_attention_supported(const void* out, const void* q, const void* k, const void* v, int head_dim) {
#ifndef ERIC_HAVE_WGMMA
  return false;  // compiled without sm_90a code: the kernel bodies are empty
#endif
  if (head_dim != 64 && head_dim != 80 && head_dim != 96 && head_dim != 128) return false;
  if (!aligned16(out) || !aligned16(q) || !aligned16(k) || !aligned16(v)) return false;
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) return false;
  return major == 9 && minor == 0;  // sm_90a code runs on sm_90 only
}

cudaError_t wgmma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                   int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s,
                                   AttnImpl variant) {
  auto* o = static_cast<bf16*>(out);
  auto* qp = static_cast<const bf16*>(q);
  auto* kp = static_cast<const bf16*>(k);
  auto* vp = static_cast<const bf16*>(v);
  switch (head_dim) {
    case 64: return launch_dim<64>(o, qp, kp, vp, cu_seqlens, num_seqs, max_seqlen, heads, scale, s, variant);
    case 80: return launch_dim<80>(o, qp, kp, vp, cu_seqlens, num_seqs, max_seqlen, heads, scale, s, variant);
    case 96: return launch_dim<96>(o, qp, kp, vp, cu_seqlens, num_seqs, max_seqlen, heads, scale, s, variant);
    case 128: return launch_dim<128>(o, qp, kp, vp, cu_seqlens, num_seqs, max_seqlen, heads, scale, s, variant);
    default: return cudaErrorNotSupported;
  }
}

}  // namespace eric::cuda::kernels
