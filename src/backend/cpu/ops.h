// CPU kernels: the op interface every layer and model calls. float32
// compute; tensors are contiguous, row-major, on the CPU. "Rows" means all
// leading dimensions flattened; the last dimension is the feature dimension.
// Work is spread over ThreadPool::global().
//
// Shapes are checked and mismatches returned as InvalidArgument naming both
// shapes. Outputs are allocated by the caller unless the function returns a
// Tensor.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::cpu {

// ---- GEMM (OpenBLAS behind this one interface) ------------------------------
// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, op = optional transpose.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// y[rows, out] = x[rows, in] * weight[out, in]^T (+ bias[out]): torch.nn.Linear.
// weight may be float32 or bfloat16/float16 (converted on the fly or at load).
Result<Tensor> linear(const Tensor& x, const Tensor& weight, const Tensor* bias);
// linear into a caller-provided out: float32, contiguous, shape [rows..., out]
// (x's leading dims with the last replaced by weight's rows).
// bf16/f16 weights are widened to float32 on every call (a temporary the size
// of the weight; cheap next to the GEMM for more than a few dozen rows): layers
// that run many small batches should convert their weights once at load
// (Tensor::to(DType::kF32)).
Status linear_out(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& out);

// ---- normalisation ------------------------------------------------------------
// torch.nn.LayerNorm over the last dim (biased variance, eps inside the sqrt).
Result<Tensor> layer_norm(const Tensor& x, const Tensor& gamma, const Tensor* beta, float eps);
// RMSNorm as in Qwen2RMSNorm: x * rsqrt(mean(x^2) + eps) * gamma, in float32.
Result<Tensor> rms_norm(const Tensor& x, const Tensor& gamma, float eps);

// ---- element-wise (in place) -------------------------------------------------------
Status gelu_erf_(Tensor& x);     // 0.5 x (1 + erf(x / sqrt 2)) — nn.GELU()
Status gelu_tanh_(Tensor& x);    // nn.GELU(approximate="tanh")
Status quick_gelu_(Tensor& x);   // x * sigmoid(1.702 x)
Status silu_(Tensor& x);         // x * sigmoid(x)
Status add_(Tensor& x, const Tensor& y);        // x += y (same shape): residuals
Status add_bias_(Tensor& x, const Tensor& bias);  // x[r, :] += bias
// Gated MLP activation: out[r, i] = silu(gate[r, i]) * up[r, i].
Result<Tensor> silu_mul(const Tensor& gate, const Tensor& up);
// Softmax over the last dim, in place (max-subtracted, float32).
Status softmax_(Tensor& x);

// ---- rotary embedding ------------------------------------------------------------
// x: [tokens, heads, head_dim]; cos, sin: [tokens, head_dim]. In place:
// x = x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[d/2:], x[:d/2]),
// as apply_rotary_pos_emb_vision in transformers' Qwen2-VL.
Status apply_rotary_(Tensor& x, const Tensor& cos, const Tensor& sin);

// ---- attention -------------------------------------------------------------------------
// Variable-length, non-causal multi-head attention over packed sequences, as
// flash_attn_varlen_func: q, k, v are [total_tokens, heads, head_dim];
// sequence i covers tokens [cu_seqlens[i], cu_seqlens[i+1]). Tokens attend
// only within their own sequence. Returns [total_tokens, heads, head_dim].
// Streams over key tiles with an online softmax: memory is O(tile), never
// O(seq^2).
Result<Tensor> varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                const std::vector<int64_t>& cu_seqlens, float scale);

}  // namespace eric::cpu
