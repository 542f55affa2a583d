// The tensor-core (bf16 mma.sync) attention kernel's launcher; kernels.h's
// varlen_attention picks it when it applies. nvcc-only header (no eric headers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {

// head_dim % 16 == 0 and <= 128, 16-byte aligned pointers, sm_80 or newer.
bool mma_attention_supported(const void* out, const void* q, const void* k, const void* v, int head_dim);
// `variant`: one of the kTensorCoreWarps* block shapes and softmax variants;
// anything else runs the measured default (4 warps x 32 rows).
cudaError_t mma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                 int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s,
                                 AttnImpl variant = AttnImpl::kTensorCore);

}  // namespace eric::cuda::kernels
