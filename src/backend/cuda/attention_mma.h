// The tensor-core (bf16 mma.sync) attention kernel's launcher; kernels.h's
// varlen_attention picks it when it applies. nvcc-only header (no eric headers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace eric::cuda::kernels {

// head_dim % 16 == 0 and <= 128, 16-byte aligned pointers, sm_80 or newer.
// warps_per_block: 4 (64 query rows), 8 (128 rows) or 0 (the default, 4).
bool mma_attention_supported(const void* out, const void* q, const void* k, const void* v, int head_dim);
cudaError_t mma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                 int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s,
                                 int warps_per_block = 0);

}  // namespace eric::cuda::kernels
