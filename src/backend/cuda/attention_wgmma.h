// The Hopper (sm_90a) warpgroup-MMA attention kernel's launcher; kernels.h's
// varlen_attention runs it only when asked (AttnImpl::kTensorCoreWgmma*):
// it is experimental until measured on a GPU. nvcc-only header (no eric
// headers). Built into eric_cuda_sm90a where the toolkit targets sm_90a
// (ERIC_HAVE_WGMMA); elsewhere wgmma_attention_supported is false.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace eric::cuda::kernels {

// kPlain: the plain online softmax. kLazy: lazy rescaling (attention_tile.cuh).
// kPlainOtherVStrides: kPlain with V's two atom strides swapped in its
// shared-memory descriptor, the other reading of the PTX layout rules (the
// tests say which one the hardware follows).
enum class WgmmaVariant { kPlain, kLazy, kPlainOtherVStrides };

// head_dim 64, 80, 96 or 128, 16-byte aligned pointers, an sm_90 device, and
// this build has the kernel.
bool wgmma_attention_supported(const void* out, const void* q, const void* k, const void* v, int head_dim);
cudaError_t wgmma_varlen_attention(void* out, const void* q, const void* k, const void* v, const int32_t* cu_seqlens,
                                   int num_seqs, int max_seqlen, int heads, int head_dim, float scale, cudaStream_t s,
                                   WgmmaVariant variant = WgmmaVariant::kPlain);

}  // namespace eric::cuda::kernels
