// Launchers of eric's own CUDA kernels, on raw device pointers. Free of eric
// headers so nvcc compiles only CUDA code; ops.h wraps them with shape and
// dtype checks on DeviceTensors. Every tensor is contiguous row-major; `Elem`
// is the element type of all float tensors of one call (compute is float32;
// rotary cos/sin are always float32). Each returns the launch's error.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace eric::cuda::kernels {

enum class Elem { kF32, kBF16 };
enum class Act { kNone, kGeluErf, kGeluTanh, kQuickGelu, kSilu };

// x[r, c] = act(x[r, c] + bias[c]); bias may be null.
cudaError_t bias_act(void* x, const void* bias, Elem e, int64_t rows, int64_t cols, Act act, cudaStream_t s);
// x[i] += y[i] (x and y may differ: a float32 residual plus a bf16 branch)
cudaError_t add(void* x, const void* y, Elem x_elem, Elem y_elem, int64_t n, cudaStream_t s);
// out[i] = x[i] in out_elem (float32 <-> bf16, rounding to nearest; or a copy)
cudaError_t convert(void* out, Elem out_elem, const void* x, Elem x_elem, int64_t n, cudaStream_t s);
// out[i] = silu(gate[i]) * up[i]
cudaError_t silu_mul(void* out, const void* gate, const void* up, Elem e, int64_t n, cudaStream_t s);

// out = LayerNorm(x) over cols (biased variance); beta may be null. gamma,
// beta and out are out_elem; x may differ (a float32 residual stream
// normalised into bf16).
cudaError_t layer_norm(void* out, const void* x, const void* gamma, const void* beta, Elem x_elem, Elem out_elem,
                       int64_t rows, int64_t cols, float eps, cudaStream_t s);
// out = x * rsqrt(mean(x^2) + eps) * gamma; dtypes as layer_norm.
cudaError_t rms_norm(void* out, const void* x, const void* gamma, Elem x_elem, Elem out_elem, int64_t rows,
                     int64_t cols, float eps, cudaStream_t s);
// x += y, then out = norm(x) (RMSNorm when rms, else LayerNorm; beta may be
// null): a sublayer's residual add fused with the next norm, one read of x.
// y, gamma, beta and out are out_elem. cudaErrorNotSupported where the fused
// kernel does not apply (cols not a multiple of 4 or above 2048, misaligned).
cudaError_t add_norm(void* x, const void* y, void* out, const void* gamma, const void* beta, bool rms, Elem x_elem,
                     Elem out_elem, int64_t rows, int64_t cols, float eps, cudaStream_t s);
// softmax over cols, in place
cudaError_t softmax(void* x, Elem e, int64_t rows, int64_t cols, cudaStream_t s);

// The rotary tables of angles [tokens, half] (float32): cos[t, j] =
// cos[t, j + half] = cos(angles[t, j]), sin likewise; [tokens, 2 * half].
cudaError_t rotary_table(float* cos, float* sin, const float* angles, int64_t tokens, int64_t half, cudaStream_t s);
// x[t, h, :] = x * cos[t] + rotate_half(x) * sin[t], in place (head_dim even);
// x2 (nullable, x's shape): the same rotation in the same launch (q and k
// share the token's cos/sin, read once).
cudaError_t rotary(void* x, void* x2, const float* cos, const float* sin, Elem e, int64_t tokens, int64_t heads,
                   int64_t head_dim, cudaStream_t s);

// Row-group reordering: gather: out group g = x group index[g]; scatter:
// out group index[g] = x group g. index (device, int32) has `groups` entries.
cudaError_t reorder_rows(void* out, const void* x, const int32_t* index, int64_t groups, int64_t group_bytes,
                         bool scatter, cudaStream_t s);

// Which attention kernel runs: kAuto takes the tensor-core (bf16 mma.sync)
// one where it applies (bf16, head_dim % 16 == 0, sm_80+), else the SIMT one;
// kTensorCore fails with cudaErrorNotSupported where it does not apply. The
// tensor-core kernel's block shape (warps x query rows per warp) and softmax
// variant have a measured default; kTensorCoreWarps* force one (tests and
// benchmarks compare). Lazy: the output is rescaled only when a row's running
// max grows by 2^8; Poly: a quarter of the exponentials on the FMA pipes.
enum class AttnImpl {
  kAuto,
  kSimt,
  kTensorCore,
  kTensorCoreWarps4Rows16,
  kTensorCoreWarps8Rows16,
  kTensorCoreWarps4Rows32,
  kTensorCoreWarps8Rows32,
  kTensorCoreWarps4Rows32Lazy,
  kTensorCoreWarps4Rows32LazyPoly,
  kTensorCoreWarps8Rows32LazyPoly,
  // The Hopper kernel (attention_wgmma_kernels.cu, sm_90a), experimental.
  kTensorCoreWgmma,
  kTensorCoreWgmmaLazy,
  kTensorCoreWgmmaOtherVStrides,  // the other reading of V's descriptor strides
};
// Every forced tensor-core variant with a name (tests and benchmarks loop over it).
struct NamedAttnImpl {
  AttnImpl impl;
  const char* name;
};
inline constexpr NamedAttnImpl kTensorCoreVariants[] = {
    {AttnImpl::kTensorCoreWarps4Rows16, "4 warps x 16 rows"},
    {AttnImpl::kTensorCoreWarps8Rows16, "8 warps x 16 rows"},
    {AttnImpl::kTensorCoreWarps4Rows32, "4 warps x 32 rows"},
    {AttnImpl::kTensorCoreWarps8Rows32, "8 warps x 32 rows"},
    {AttnImpl::kTensorCoreWarps4Rows32Lazy, "4x32, lazy rescale"},
    {AttnImpl::kTensorCoreWarps4Rows32LazyPoly, "4x32, lazy rescale, poly exp2"},
    {AttnImpl::kTensorCoreWarps8Rows32LazyPoly, "8x32, lazy rescale, poly exp2"},
};
// The Hopper (wgmma) variants, written without a GPU and not yet measured:
// tests, benches and the encoder check run them apart from and after the
// others, so that a fault in them cannot hide the other results. Available
// only where wgmma_attention_available().
inline constexpr NamedAttnImpl kExperimentalTensorCoreVariants[] = {
    {AttnImpl::kTensorCoreWgmma, "wgmma (sm_90a)"},
    {AttnImpl::kTensorCoreWgmmaLazy, "wgmma, lazy rescale"},
};
// Whether this build has the wgmma kernel and the current device can run it (sm_90).
bool wgmma_attention_available();
// The tensor-core variant kAuto and kTensorCore run: the measured default
// (4 warps x 32 rows) unless set otherwise, process-wide, so a benchmark can
// time whole models with each variant. Setting kAuto, kSimt or kTensorCore
// restores the default.
void set_default_tensor_core_attention(AttnImpl impl);
AttnImpl default_tensor_core_attention();

// Largest head_dim varlen_attention supports.
constexpr int kMaxAttentionHeadDim = 128;
// Non-causal attention within each packed sequence: q, k, v, out are
// [total_tokens, heads, head_dim]; cu_seqlens (device, int32, num_seqs + 1
// entries) delimits the sequences; max_seqlen bounds their lengths.
cudaError_t varlen_attention(void* out, const void* q, const void* k, const void* v, Elem e,
                             const int32_t* cu_seqlens, int num_seqs, int max_seqlen, int heads, int head_dim,
                             float scale, cudaStream_t s, AttnImpl impl = AttnImpl::kAuto);

}  // namespace eric::cuda::kernels
