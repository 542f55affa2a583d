#include "backend/cuda/ops.h"

#include <algorithm>

#include "backend/cuda/cuda_error.h"
#include "backend/cuda/gemm.h"

namespace eric::cuda {

namespace {

Result<kernels::Elem> elem_of(const DeviceTensor& t, std::string_view what) {
  if (t.dtype() == DType::kF32) return kernels::Elem::kF32;
  if (t.dtype() == DType::kBF16) return kernels::Elem::kBF16;
  return InvalidArgument("{}: device tensor is {} (want float32 or bfloat16)", what, dtype_name(t.dtype()));
}

Status same_dtype(const DeviceTensor& a, const DeviceTensor& b, std::string_view what) {
  if (a.dtype() != b.dtype()) {
    return InvalidArgument("{}: dtypes differ ({} vs {})", what, dtype_name(a.dtype()), dtype_name(b.dtype()));
  }
  return Status::Ok();
}

Status launched(cudaError_t err, std::string_view what) { return cuda_status(err, what); }

int64_t rows_of(const DeviceTensor& t) { return t.rank() == 0 || t.dim(-1) == 0 ? 0 : t.numel() / t.dim(-1); }

Status check_vector(const DeviceTensor& v, int64_t n, const DeviceTensor& x, std::string_view what) {
  ERIC_RETURN_IF_ERROR(v.expect_shape(Shape{n}, what));
  return same_dtype(v, x, what);
}

}  // namespace

Status linear_out(Context& ctx, const DeviceTensor& x, const DeviceTensor& weight, const DeviceTensor* bias,
                  DeviceTensor& out) {
  if (x.rank() < 1 || weight.rank() != 2 || weight.dim(1) != x.dim(-1)) {
    return InvalidArgument("cuda linear: x {} does not match weight {}", x.shape().to_string(),
                           weight.shape().to_string());
  }
  ERIC_RETURN_IF_ERROR(same_dtype(x, weight, "cuda linear x/weight"));
  ERIC_RETURN_IF_ERROR(same_dtype(x, out, "cuda linear x/out"));
  const int64_t rows = rows_of(x), in = x.dim(-1), nout = weight.dim(0);
  std::vector<int64_t> od = x.shape().dims();
  od.back() = nout;
  ERIC_RETURN_IF_ERROR(out.expect_shape(Shape(od), "cuda linear out"));
  if (bias) ERIC_RETURN_IF_ERROR(check_vector(*bias, nout, x, "cuda linear bias"));
  return gemm(ctx, x.dtype(), false, true, rows, nout, in, 1.0f, x.raw_data(), in, weight.raw_data(), in, 0.0f,
              out.raw_data(), nout, bias ? bias->raw_data() : nullptr);
}

Result<DeviceTensor> linear(Context& ctx, const DeviceTensor& x, const DeviceTensor& weight, const DeviceTensor* bias) {
  if (x.rank() < 1 || weight.rank() != 2) {
    return InvalidArgument("cuda linear: x {} / weight {}", x.shape().to_string(), weight.shape().to_string());
  }
  std::vector<int64_t> od = x.shape().dims();
  od.back() = weight.dim(0);
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(x.dtype(), Shape(od)));
  ERIC_RETURN_IF_ERROR(linear_out(ctx, x, weight, bias, out));
  return out;
}

Result<DeviceTensor> layer_norm(Context& ctx, const DeviceTensor& x, const DeviceTensor& gamma,
                                const DeviceTensor* beta, float eps) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem xe, elem_of(x, "cuda layer_norm"));
  ERIC_ASSIGN_OR_RETURN(kernels::Elem oe, elem_of(gamma, "cuda layer_norm gamma"));
  if (x.rank() < 1) return InvalidArgument("cuda layer_norm: scalar input");
  const int64_t cols = x.dim(-1);
  ERIC_RETURN_IF_ERROR(gamma.expect_shape(Shape{cols}, "cuda layer_norm gamma"));
  if (beta) ERIC_RETURN_IF_ERROR(check_vector(*beta, cols, gamma, "cuda layer_norm beta"));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(gamma.dtype(), x.shape()));
  ERIC_RETURN_IF_ERROR(launched(kernels::layer_norm(out.raw_data(), x.raw_data(), gamma.raw_data(),
                                                    beta ? beta->raw_data() : nullptr, xe, oe, rows_of(x), cols, eps,
                                                    ctx.stream()),
                                "layer_norm launch"));
  return out;
}

Result<DeviceTensor> rms_norm(Context& ctx, const DeviceTensor& x, const DeviceTensor& gamma, float eps) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem xe, elem_of(x, "cuda rms_norm"));
  ERIC_ASSIGN_OR_RETURN(kernels::Elem oe, elem_of(gamma, "cuda rms_norm gamma"));
  if (x.rank() < 1) return InvalidArgument("cuda rms_norm: scalar input");
  const int64_t cols = x.dim(-1);
  ERIC_RETURN_IF_ERROR(gamma.expect_shape(Shape{cols}, "cuda rms_norm gamma"));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(gamma.dtype(), x.shape()));
  ERIC_RETURN_IF_ERROR(launched(
      kernels::rms_norm(out.raw_data(), x.raw_data(), gamma.raw_data(), xe, oe, rows_of(x), cols, eps, ctx.stream()),
      "rms_norm launch"));
  return out;
}

Result<DeviceTensor> add_norm_(Context& ctx, DeviceTensor& x, const DeviceTensor& y, const DeviceTensor& gamma,
                               const DeviceTensor* beta, bool rms, float eps) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem xe, elem_of(x, "cuda add_norm_"));
  ERIC_ASSIGN_OR_RETURN(kernels::Elem oe, elem_of(gamma, "cuda add_norm_ gamma"));
  if (x.rank() < 1) return InvalidArgument("cuda add_norm_: scalar input");
  ERIC_RETURN_IF_ERROR(y.expect_shape(x.shape(), "cuda add_norm_ operand"));
  ERIC_RETURN_IF_ERROR(same_dtype(y, gamma, "cuda add_norm_ operand/gamma"));
  const int64_t cols = x.dim(-1);
  ERIC_RETURN_IF_ERROR(gamma.expect_shape(Shape{cols}, "cuda add_norm_ gamma"));
  if (beta) ERIC_RETURN_IF_ERROR(check_vector(*beta, cols, gamma, "cuda add_norm_ beta"));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(gamma.dtype(), x.shape()));
  const cudaError_t err = kernels::add_norm(x.raw_data(), y.raw_data(), out.raw_data(), gamma.raw_data(),
                                            beta ? beta->raw_data() : nullptr, rms, xe, oe, rows_of(x), cols, eps,
                                            ctx.stream());
  if (err == cudaErrorNotSupported) {  // shapes the fused kernel does not take: the two ops
    ERIC_RETURN_IF_ERROR(add_(ctx, x, y));
    return rms ? rms_norm(ctx, x, gamma, eps) : layer_norm(ctx, x, gamma, beta, eps);
  }
  ERIC_RETURN_IF_ERROR(launched(err, "add_norm launch"));
  return out;
}

Status bias_act_(Context& ctx, DeviceTensor& x, const DeviceTensor* bias, kernels::Act act) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem e, elem_of(x, "cuda bias/activation"));
  const int64_t cols = x.rank() == 0 ? 1 : x.dim(-1);
  if (bias) ERIC_RETURN_IF_ERROR(check_vector(*bias, cols, x, "cuda add_bias bias"));
  const int64_t rows = x.numel() / std::max<int64_t>(cols, 1);
  return launched(
      kernels::bias_act(x.raw_data(), bias ? bias->raw_data() : nullptr, e, rows, cols, act, ctx.stream()),
      "bias/activation launch");
}

Status gelu_erf_(Context& ctx, DeviceTensor& x) { return bias_act_(ctx, x, nullptr, kernels::Act::kGeluErf); }
Status gelu_tanh_(Context& ctx, DeviceTensor& x) { return bias_act_(ctx, x, nullptr, kernels::Act::kGeluTanh); }
Status quick_gelu_(Context& ctx, DeviceTensor& x) { return bias_act_(ctx, x, nullptr, kernels::Act::kQuickGelu); }
Status silu_(Context& ctx, DeviceTensor& x) { return bias_act_(ctx, x, nullptr, kernels::Act::kSilu); }
Status add_bias_(Context& ctx, DeviceTensor& x, const DeviceTensor& bias) {
  return bias_act_(ctx, x, &bias, kernels::Act::kNone);
}

Status add_(Context& ctx, DeviceTensor& x, const DeviceTensor& y) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem xe, elem_of(x, "cuda add_"));
  ERIC_ASSIGN_OR_RETURN(kernels::Elem ye, elem_of(y, "cuda add_ operand"));
  ERIC_RETURN_IF_ERROR(y.expect_shape(x.shape(), "cuda add_ operand"));
  return launched(kernels::add(x.raw_data(), y.raw_data(), xe, ye, x.numel(), ctx.stream()), "add launch");
}

Result<DeviceTensor> to_dtype(Context& ctx, const DeviceTensor& x, DType dtype) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem xe, elem_of(x, "cuda to_dtype input"));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(dtype, x.shape()));
  ERIC_ASSIGN_OR_RETURN(kernels::Elem oe, elem_of(out, "cuda to_dtype output"));
  ERIC_RETURN_IF_ERROR(
      launched(kernels::convert(out.raw_data(), oe, x.raw_data(), xe, x.numel(), ctx.stream()), "convert launch"));
  return out;
}

Result<std::pair<DeviceTensor, DeviceTensor>> rotary_cos_sin(Context& ctx, const DeviceTensor& angles) {
  if (angles.rank() != 2 || angles.dtype() != DType::kF32) {
    return InvalidArgument("cuda rotary_cos_sin: angles must be float32 [tokens, half], got {} {}",
                           dtype_name(angles.dtype()), angles.shape().to_string());
  }
  const int64_t tokens = angles.dim(0), half = angles.dim(1);
  ERIC_ASSIGN_OR_RETURN(DeviceTensor cos, ctx.empty(DType::kF32, Shape{tokens, 2 * half}));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor sin, ctx.empty(DType::kF32, Shape{tokens, 2 * half}));
  ERIC_RETURN_IF_ERROR(launched(kernels::rotary_table(cos.data<float>(), sin.data<float>(), angles.data<float>(),
                                                      tokens, half, ctx.stream()),
                                "rotary table launch"));
  return std::make_pair(std::move(cos), std::move(sin));
}

Result<DeviceTensor> silu_mul(Context& ctx, const DeviceTensor& gate, const DeviceTensor& up) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem e, elem_of(gate, "cuda silu_mul"));
  ERIC_RETURN_IF_ERROR(up.expect_shape(gate.shape(), "cuda silu_mul up"));
  ERIC_RETURN_IF_ERROR(same_dtype(gate, up, "cuda silu_mul"));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(gate.dtype(), gate.shape()));
  ERIC_RETURN_IF_ERROR(launched(
      kernels::silu_mul(out.raw_data(), gate.raw_data(), up.raw_data(), e, gate.numel(), ctx.stream()),
      "silu_mul launch"));
  return out;
}

Status softmax_(Context& ctx, DeviceTensor& x) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem e, elem_of(x, "cuda softmax_"));
  if (x.rank() < 1) return InvalidArgument("cuda softmax_: scalar input");
  return launched(kernels::softmax(x.raw_data(), e, rows_of(x), x.dim(-1), ctx.stream()), "softmax launch");
}

namespace {
// x (and x2 when given: same shape and dtype) rotated in one launch.
Status rotary_launch(Context& ctx, DeviceTensor& x, DeviceTensor* x2, const DeviceTensor& cos, const DeviceTensor& sin) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem e, elem_of(x, "cuda apply_rotary_"));
  if (x.rank() != 3 || x.dim(2) % 2 != 0) {
    return InvalidArgument("cuda apply_rotary_: x must be [tokens, heads, even head_dim], got {}",
                           x.shape().to_string());
  }
  if (x2) {
    ERIC_RETURN_IF_ERROR(x2->expect_shape(x.shape(), "cuda apply_rotary_ k"));
    ERIC_RETURN_IF_ERROR(same_dtype(*x2, x, "cuda apply_rotary_ q/k"));
    // One launch reads both before writing either: a shared buffer would be rotated once, not twice.
    if (x2->raw_data() == x.raw_data()) return InvalidArgument("cuda apply_rotary_: q and k are the same tensor");
  }
  const Shape cs{x.dim(0), x.dim(2)};
  ERIC_RETURN_IF_ERROR(cos.expect_shape(cs, "cuda apply_rotary_ cos"));
  ERIC_RETURN_IF_ERROR(sin.expect_shape(cs, "cuda apply_rotary_ sin"));
  ERIC_RETURN_IF_ERROR(cos.expect_dtype(DType::kF32, "cuda apply_rotary_ cos"));
  ERIC_RETURN_IF_ERROR(sin.expect_dtype(DType::kF32, "cuda apply_rotary_ sin"));
  return launched(kernels::rotary(x.raw_data(), x2 ? x2->raw_data() : nullptr, cos.data<float>(), sin.data<float>(), e,
                                  x.dim(0), x.dim(1), x.dim(2), ctx.stream()),
                  "rotary launch");
}
}  // namespace

Status apply_rotary_(Context& ctx, DeviceTensor& x, const DeviceTensor& cos, const DeviceTensor& sin) {
  return rotary_launch(ctx, x, nullptr, cos, sin);
}

Status apply_rotary_(Context& ctx, DeviceTensor& q, DeviceTensor& k, const DeviceTensor& cos, const DeviceTensor& sin) {
  return rotary_launch(ctx, q, &k, cos, sin);
}

namespace {
// Checks index against `groups` (and, for a scatter, that it is a
// permutation), uploads it and runs the reorder kernel.
Result<DeviceTensor> reorder(Context& ctx, const DeviceTensor& x, const std::vector<int64_t>& index, int64_t group,
                             bool scatter, std::string_view what) {
  if (x.rank() != 2) return InvalidArgument("{}: x must be [rows, d], got {}", what, x.shape().to_string());
  const int64_t n = static_cast<int64_t>(index.size());
  if (group < 1 || n * group != x.dim(0)) {
    return InvalidArgument("{}: {} groups of {} rows do not cover {} rows", what, n, group, x.dim(0));
  }
  std::vector<char> seen(scatter ? index.size() : 0, 0);
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= n) return OutOfRange("{}: index[{}] = {} outside 0..{}", what, i, index[i], n - 1);
    if (scatter) {
      if (seen[static_cast<size_t>(index[i])]) return InvalidArgument("{}: row {} written twice", what, index[i]);
      seen[static_cast<size_t>(index[i])] = 1;
    }
  }
  ERIC_ASSIGN_OR_RETURN(Tensor host_index, Tensor::from_vector(index, Shape{n}));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor dev_index, upload(host_index, DType::kI32, ctx));
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(x.dtype(), x.shape()));
  const int64_t group_bytes = group * x.dim(1) * static_cast<int64_t>(dtype_size(x.dtype()));
  ERIC_RETURN_IF_ERROR(launched(kernels::reorder_rows(out.raw_data(), x.raw_data(), dev_index.data<int32_t>(), n,
                                                      group_bytes, scatter, ctx.stream()),
                                "reorder launch"));
  return out;
}
}  // namespace

Result<DeviceTensor> gather_row_groups(Context& ctx, const DeviceTensor& x, const std::vector<int64_t>& index,
                                       int64_t group) {
  return reorder(ctx, x, index, group, false, "cuda gather_row_groups");
}

Result<DeviceTensor> scatter_rows(Context& ctx, const DeviceTensor& x, const std::vector<int64_t>& index) {
  return reorder(ctx, x, index, 1, true, "cuda scatter_rows");
}

Result<DeviceSeqlens> upload_seqlens(Context& ctx, const std::vector<int64_t>& cu_seqlens) {
  if (cu_seqlens.size() < 2 || cu_seqlens.front() != 0) {
    return InvalidArgument("cuda varlen_attention: cu_seqlens must start at 0 and have 2+ entries ({} entries)",
                           cu_seqlens.size());
  }
  if (cu_seqlens.back() > INT32_MAX) {
    return OutOfRange("cuda varlen_attention: {} tokens exceed int32", cu_seqlens.back());
  }
  DeviceSeqlens d;
  for (size_t i = 1; i < cu_seqlens.size(); ++i) {
    const int64_t len = cu_seqlens[i] - cu_seqlens[i - 1];
    if (len < 0) return InvalidArgument("cuda varlen_attention: cu_seqlens decreases at entry {}", i);
    d.max_len = std::max(d.max_len, static_cast<int>(len));
  }
  d.num_seqs = static_cast<int>(cu_seqlens.size() - 1);
  d.total = cu_seqlens.back();
  ERIC_ASSIGN_OR_RETURN(Tensor host_cu, Tensor::from_vector(cu_seqlens, Shape{static_cast<int64_t>(cu_seqlens.size())}));
  ERIC_ASSIGN_OR_RETURN(d.cu, upload(host_cu, DType::kI32, ctx));
  return d;
}

Result<DeviceTensor> varlen_attention(Context& ctx, const DeviceTensor& q, const DeviceTensor& k,
                                      const DeviceTensor& v, const std::vector<int64_t>& cu_seqlens, float scale,
                                      kernels::AttnImpl impl) {
  if (cu_seqlens.empty() || (q.rank() >= 1 && cu_seqlens.back() != q.dim(0))) {
    return InvalidArgument("cuda varlen_attention: cu_seqlens must run from 0 to {} tokens ({} entries)",
                           q.rank() >= 1 ? q.dim(0) : 0, cu_seqlens.size());
  }
  ERIC_ASSIGN_OR_RETURN(DeviceSeqlens seqlens, upload_seqlens(ctx, cu_seqlens));
  return varlen_attention(ctx, q, k, v, seqlens, scale, impl);
}

Result<DeviceTensor> varlen_attention(Context& ctx, const DeviceTensor& q, const DeviceTensor& k,
                                      const DeviceTensor& v, const DeviceSeqlens& seqlens, float scale,
                                      kernels::AttnImpl impl) {
  ERIC_ASSIGN_OR_RETURN(kernels::Elem e, elem_of(q, "cuda varlen_attention"));
  if (q.rank() != 3) {
    return InvalidArgument("cuda varlen_attention: q must be [tokens, heads, head_dim], got {}", q.shape().to_string());
  }
  ERIC_RETURN_IF_ERROR(k.expect_shape(q.shape(), "cuda varlen_attention k"));
  ERIC_RETURN_IF_ERROR(v.expect_shape(q.shape(), "cuda varlen_attention v"));
  ERIC_RETURN_IF_ERROR(same_dtype(q, k, "cuda varlen_attention q/k"));
  ERIC_RETURN_IF_ERROR(same_dtype(q, v, "cuda varlen_attention q/v"));
  const int64_t total = q.dim(0), heads = q.dim(1), dim = q.dim(2);
  if (dim < 1 || dim > kernels::kMaxAttentionHeadDim) {
    return Unimplemented("cuda varlen_attention: head_dim {} (supported 1..{})", dim, kernels::kMaxAttentionHeadDim);
  }
  if (!seqlens.cu.defined() || seqlens.total != total) {
    return InvalidArgument("cuda varlen_attention: cu_seqlens must run from 0 to {} tokens (they cover {})", total,
                           seqlens.total);
  }
  ERIC_ASSIGN_OR_RETURN(DeviceTensor out, ctx.empty(q.dtype(), q.shape()));
  ERIC_RETURN_IF_ERROR(launched(
      kernels::varlen_attention(out.raw_data(), q.raw_data(), k.raw_data(), v.raw_data(), e,
                                seqlens.cu.data<int32_t>(), seqlens.num_seqs, seqlens.max_len,
                                static_cast<int>(heads), static_cast<int>(dim), scale, ctx.stream(), impl),
      "varlen_attention launch"));
  return out;
}

}  // namespace eric::cuda
