// The tensor-core (bf16 mma.sync) attention kernel's launcher; kernels.h's
// varlen_attention picks it when it applies. nvcc-only header (no eric headers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace eric::cuda::kernels {

// Block shapes (warps per block x query rows per warp) and softmax variants:
// Lazy rescales the output only when a row's max grows by 2^8; Poly computes
// a quarter of the exponentials on the FMA pipes (attention_exp2.h).
enum class MmaAttentionVariant {
  kDefault,
  kWarps4Rows16,
  kWarps8Rows16,
  kWarps4Rows32,
  kWarps8Rows32,
  kWarps4Rows32Lazy,
  kWarps4Rows32LazyPoly,
  kWarps8Rows32LazyPoly,
};

// head_dim % 16 == 0 and <= 128, 16-byte aligned pointers, sm_80 or newer.
bool mma_attention_supported(const void* out, const void* q, const void* k, const void* v, int head_dim);
cudaError_t mma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                 int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s,
                                 MmaAttentionVariant variant = MmaAttentionVariant::kDefault);

}  // namespace eric::cuda::kernels
