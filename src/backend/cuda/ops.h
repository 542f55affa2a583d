// CUDA ops: the same op set as cpu/ops.h, on DeviceTensors. Every function
// takes the Context (device, stream, cuBLASLt) first; otherwise names,
// argument order, shapes and semantics are those of eric::cpu, so an nn layer
// can dispatch on --device without changing its maths. Float tensors of one
// call share a dtype: float32, or bfloat16 storage with float32 compute
// (rotary cos/sin are float32 always). Results are enqueued on ctx.stream();
// nothing here synchronises except where the comment says so. Exceptions to
// one dtype per call: norms (x vs gamma) and add_ (x vs y), for a float32
// residual stream between bf16 GEMMs.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "backend/cuda/context.h"
#include "backend/cuda/kernels.h"

namespace eric::cuda {

// ---- GEMM ------------------------------------------------------------------
// y[rows, out] = x[rows, in] * weight[out, in]^T (+ bias[out]): nn.Linear.
Result<DeviceTensor> linear(Context& ctx, const DeviceTensor& x, const DeviceTensor& weight, const DeviceTensor* bias);
Status linear_out(Context& ctx, const DeviceTensor& x, const DeviceTensor& weight, const DeviceTensor* bias,
                  DeviceTensor& out);

// ---- normalisation --------------------------------------------------------------
// The output (and beta) take gamma's dtype; x may be float32 under bf16
// weights (a float32 residual stream feeding bf16 GEMMs).
Result<DeviceTensor> layer_norm(Context& ctx, const DeviceTensor& x, const DeviceTensor& gamma,
                                const DeviceTensor* beta, float eps);
Result<DeviceTensor> rms_norm(Context& ctx, const DeviceTensor& x, const DeviceTensor& gamma, float eps);
// x += y, then the norm of x (RMSNorm when rms, else LayerNorm): a residual
// add fused with the next norm (y in gamma's dtype; one pass over x where the
// fused kernel applies, else the two ops).
Result<DeviceTensor> add_norm_(Context& ctx, DeviceTensor& x, const DeviceTensor& y, const DeviceTensor& gamma,
                               const DeviceTensor* beta, bool rms, float eps);

// ---- element-wise (in place) ----------------------------------------------------
Status gelu_erf_(Context& ctx, DeviceTensor& x);
Status gelu_tanh_(Context& ctx, DeviceTensor& x);
Status quick_gelu_(Context& ctx, DeviceTensor& x);
Status silu_(Context& ctx, DeviceTensor& x);
Status add_(Context& ctx, DeviceTensor& x, const DeviceTensor& y);  // y may be bf16 under a float32 x
Status add_bias_(Context& ctx, DeviceTensor& x, const DeviceTensor& bias);
// Fused x = act(x + bias) (bias nullable): what an MLP's fc1 epilogue needs.
Status bias_act_(Context& ctx, DeviceTensor& x, const DeviceTensor* bias, kernels::Act act);
Result<DeviceTensor> silu_mul(Context& ctx, const DeviceTensor& gate, const DeviceTensor& up);
Status softmax_(Context& ctx, DeviceTensor& x);

// x in `dtype` (a copy when it already is).
Result<DeviceTensor> to_dtype(Context& ctx, const DeviceTensor& x, DType dtype);

// ---- rotary --------------------------------------------------------------------
// angles [tokens, half] float32 -> cos, sin [tokens, 2 * half] float32, as
// models::qwen2_vl::rotary_cos_sin on the host.
Result<std::pair<DeviceTensor, DeviceTensor>> rotary_cos_sin(Context& ctx, const DeviceTensor& angles);
// x: [tokens, heads, head_dim]; cos, sin: [tokens, head_dim] float32.
Status apply_rotary_(Context& ctx, DeviceTensor& x, const DeviceTensor& cos, const DeviceTensor& sin);
// q and k (same shape and dtype, separate tensors) rotated by the same tables
// in one launch: attention's two apply_rotary_ calls with one read of cos/sin.
Status apply_rotary_(Context& ctx, DeviceTensor& q, DeviceTensor& k, const DeviceTensor& cos, const DeviceTensor& sin);

// ---- window reordering (models/qwen2_5_vl/window_index.h on device) ------------
// out[i] = x[index[i]] in groups of `group` rows (x [n * group, d]).
Result<DeviceTensor> gather_row_groups(Context& ctx, const DeviceTensor& x, const std::vector<int64_t>& index,
                                       int64_t group);
// out[index[i]] = x[i] (rows); index must be a permutation of 0..rows-1.
Result<DeviceTensor> scatter_rows(Context& ctx, const DeviceTensor& x, const std::vector<int64_t>& index);

// ---- attention -------------------------------------------------------------------
// As cpu::varlen_attention (q, k, v: [total_tokens, heads, head_dim], head_dim
// <= 128). cu_seqlens is host data, validated and uploaded on ctx's stream.
// `impl` picks the kernel (tests compare both); the default picks the fastest.
Result<DeviceTensor> varlen_attention(Context& ctx, const DeviceTensor& q, const DeviceTensor& k,
                                      const DeviceTensor& v, const std::vector<int64_t>& cu_seqlens, float scale,
                                      kernels::AttnImpl impl = kernels::AttnImpl::kAuto);

// Sequence boundaries validated and put on the device once, for the many
// attention calls of one forward pass (a tower's blocks share two sets).
struct DeviceSeqlens {
  DeviceTensor cu;  // int32 [num_seqs + 1]
  int num_seqs = 0;
  int max_len = 0;
  int64_t total = 0;
};
Result<DeviceSeqlens> upload_seqlens(Context& ctx, const std::vector<int64_t>& cu_seqlens);
Result<DeviceTensor> varlen_attention(Context& ctx, const DeviceTensor& q, const DeviceTensor& k,
                                      const DeviceTensor& v, const DeviceSeqlens& seqlens, float scale,
                                      kernels::AttnImpl impl = kernels::AttnImpl::kAuto);

}  // namespace eric::cuda
