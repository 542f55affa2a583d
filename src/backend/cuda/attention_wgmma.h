// The Hopper (sm_90a) warpgroup-MMA attention kernel's launcher; kernels.h's
// varlen_attention runs it only when asked (AttnImpl::kTensorCoreWgmma*):
// it is experimental until measured on a GPU. nvcc-only header (no eric
// headers). Built into eric_cuda_sm90a where the toolkit targets sm_90a
// (ERIC_HAVE_WGMMA); elsewhere wgmma_attention_supported is false.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {

// head_dim 64, 80, 96 or 128, 16-byte aligned pointers, an sm_90 device, and
// this build has the kernel. `variant`: kTensorCoreWgmma (the plain online
// softmax), kTensorCoreWgmmaLazy (lazy rescaling, attention_tile.cuh) or
// kTensorCoreWgmmaOtherVStrides (the plain one with V's two atom strides
// swapped in its descriptor, the other reading of the PTX layout rules; the
// tests say which one the hardware follows).
bool wgmma_attention_supported(const void* out, const void* q, const void* k, const void* v, int head_dim);
cudaError_t wgmma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                   int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s,
                                   AttnImpl variant = AttnImpl::kTensorCoreWgmma);

}  // namespace eric::cuda::kernels
