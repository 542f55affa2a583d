#include "nn/cuda/layers.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace eric::nn {

namespace {
Result<cuda::DeviceTensor> upload_defined(cuda::Context& ctx, const Tensor& t, DType dtype, std::string_view what) {
  if (!t.defined()) return Internal("{}: the CPU layer has no weights to upload", what);
  return cuda::upload(t, dtype, ctx);
}
}  // namespace

cuda::kernels::Act cuda_activation(Activation a) {
  switch (a) {
    case Activation::kQuickGelu: return cuda::kernels::Act::kQuickGelu;
    case Activation::kGeluErf: return cuda::kernels::Act::kGeluErf;
    case Activation::kGeluTanh: return cuda::kernels::Act::kGeluTanh;
    case Activation::kSilu: return cuda::kernels::Act::kSilu;
  }
  return cuda::kernels::Act::kNone;
}

Result<CudaLinear> CudaLinear::upload(cuda::Context& ctx, const Tensor& weight, const Tensor& bias, DType dtype) {
  if (!weight.defined() || weight.rank() != 2) return InvalidArgument("cuda Linear: weight must be [out, in]");
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != weight.dim(0))) {
    return InvalidArgument("cuda Linear: bias {} does not match weight {}", bias.shape().to_string(),
                           weight.shape().to_string());
  }
  CudaLinear l;
  ERIC_ASSIGN_OR_RETURN(l.weight_, cuda::upload(weight, dtype, ctx));
  if (bias.defined()) {
    ERIC_ASSIGN_OR_RETURN(l.bias_, cuda::upload(bias, dtype, ctx));
  }
  return l;
}

Result<CudaLinear> CudaLinear::upload(cuda::Context& ctx, const Linear& cpu, DType dtype,
                                      std::shared_ptr<cuda::NcclCommunicator> comm) {
  if (!cpu.weight().defined()) return Internal("cuda Linear: the CPU layer has no weights to upload");
  const bool reduces = cpu.shard().kind == ParallelKind::kRow && cpu.shard().world_size > 1;
  if (reduces && (comm == nullptr || comm->world_size() != cpu.shard().world_size)) {
    return InvalidArgument("cuda Linear: a row-parallel shard over {} ranks needs an NCCL communicator of that size",
                           cpu.shard().world_size);
  }
  ERIC_ASSIGN_OR_RETURN(CudaLinear l, upload(ctx, cpu.weight(), cpu.bias(), dtype));
  if (reduces) l.reduce_ = std::move(comm);
  return l;
}

Result<cuda::DeviceTensor> CudaLinear::forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const {
  if (!weight_.defined()) return Internal("cuda Linear used without weights");
  if (!reduce_) return cuda::linear(ctx, x, weight_, bias());
  // Row-parallel: sum the ranks' partial products, then add the bias once.
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor y, forward_no_bias(ctx, x));
  if (bias_.defined()) ERIC_RETURN_IF_ERROR(cuda::add_bias_(ctx, y, bias_));
  return y;
}

Result<cuda::DeviceTensor> CudaLinear::forward_no_bias(cuda::Context& ctx, const cuda::DeviceTensor& x) const {
  if (!weight_.defined()) return Internal("cuda Linear used without weights");
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor y, cuda::linear(ctx, x, weight_, nullptr));
  if (reduce_) ERIC_RETURN_IF_ERROR(reduce_->all_reduce_sum(y, ctx.stream()));
  return y;
}

Result<CudaNorm> CudaNorm::upload(cuda::Context& ctx, const Norm& cpu, DType dtype) {
  CudaNorm n;
  n.kind_ = cpu.kind();
  if (cpu.kind() == Norm::Kind::kLayerNorm) {
    ERIC_ASSIGN_OR_RETURN(n.gamma_, upload_defined(ctx, cpu.layer_norm().gamma(), dtype, "cuda LayerNorm weight"));
    if (cpu.layer_norm().beta().defined()) {
      ERIC_ASSIGN_OR_RETURN(n.beta_, cuda::upload(cpu.layer_norm().beta(), dtype, ctx));
    }
    n.eps_ = cpu.layer_norm().eps();
  } else {
    ERIC_ASSIGN_OR_RETURN(n.gamma_, upload_defined(ctx, cpu.rms_norm().gamma(), dtype, "cuda RMSNorm weight"));
    n.eps_ = cpu.rms_norm().eps();
  }
  return n;
}

Result<cuda::DeviceTensor> CudaNorm::forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const {
  if (kind_ == Norm::Kind::kRMSNorm) return cuda::rms_norm(ctx, x, gamma_, eps_);
  return cuda::layer_norm(ctx, x, gamma_, beta_.defined() ? &beta_ : nullptr, eps_);
}

Result<cuda::DeviceTensor> CudaNorm::add_forward(cuda::Context& ctx, cuda::DeviceTensor& x,
                                                 const cuda::DeviceTensor& branch) const {
  return cuda::add_norm_(ctx, x, branch, gamma_, beta_.defined() ? &beta_ : nullptr, kind_ == Norm::Kind::kRMSNorm,
                         eps_);
}

Result<CudaMLP> CudaMLP::upload(cuda::Context& ctx, const MLP& cpu, DType dtype,
                                std::shared_ptr<cuda::NcclCommunicator> comm) {
  CudaMLP m;
  ERIC_ASSIGN_OR_RETURN(m.fc1_, CudaLinear::upload(ctx, cpu.fc1(), dtype, comm));
  ERIC_ASSIGN_OR_RETURN(m.fc2_, CudaLinear::upload(ctx, cpu.fc2(), dtype, comm));
  m.act_ = cpu.activation();
  return m;
}

Result<cuda::DeviceTensor> CudaMLP::forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const {
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor h, fc1_.forward_no_bias(ctx, x));
  ERIC_RETURN_IF_ERROR(cuda::bias_act_(ctx, h, fc1_.bias(), cuda_activation(act_)));
  return fc2_.forward(ctx, h);
}

namespace {
// The gated MLP's width padded to a multiple of 64 when its rows would not be
// 16-byte aligned in bf16 (Qwen2.5-VL: 3420): cuBLASLt's fastest kernels
// need aligned leading dimensions. Exact: the extra gate/up rows (and bias
// entries) are zero, silu(0) * 0 = 0, and down's extra columns are zero.
int64_t padded_width(int64_t width) { return width % 8 == 0 ? width : (width + 63) / 64 * 64; }

// [rows, cols] float32 -> [rows_to, cols_to], zero-filled (or undefined in, undefined out).
Result<Tensor> zero_pad(const Tensor& t, int64_t rows_to, int64_t cols_to) {
  if (!t.defined()) return Tensor();
  ERIC_ASSIGN_OR_RETURN(Tensor src, t.to(DType::kF32));
  ERIC_ASSIGN_OR_RETURN(src, src.contiguous());
  const bool vector = src.rank() == 1;
  const int64_t rows = vector ? 1 : src.dim(0), cols = vector ? src.dim(0) : src.dim(1);
  ERIC_ASSIGN_OR_RETURN(Tensor out, vector ? Tensor::zeros(DType::kF32, Shape{cols_to})
                                           : Tensor::zeros(DType::kF32, Shape{rows_to, cols_to}));
  const float* in = src.data<float>();
  float* o = out.mutable_data<float>();
  for (int64_t r = 0; r < rows; ++r) std::copy(in + r * cols, in + (r + 1) * cols, o + r * cols_to);
  return out;
}
}  // namespace

Result<CudaGatedMLP> CudaGatedMLP::upload(cuda::Context& ctx, const GatedMLP& cpu, DType dtype,
                                          std::shared_ptr<cuda::NcclCommunicator> comm) {
  CudaGatedMLP m;
  const int64_t width = cpu.gate().out_features();
  const int64_t padded = padded_width(width);
  if (padded == width || cpu.down().shard().world_size > 1) {  // a shard's width is the loader's business
    ERIC_ASSIGN_OR_RETURN(m.gate_, CudaLinear::upload(ctx, cpu.gate(), dtype, comm));
    ERIC_ASSIGN_OR_RETURN(m.up_, CudaLinear::upload(ctx, cpu.up(), dtype, comm));
    ERIC_ASSIGN_OR_RETURN(m.down_, CudaLinear::upload(ctx, cpu.down(), dtype, comm));
    return m;
  }
  const int64_t in = cpu.gate().in_features(), out = cpu.down().out_features();
  for (auto [dst, src] : {std::pair{&m.gate_, &cpu.gate()}, std::pair{&m.up_, &cpu.up()}}) {
    ERIC_ASSIGN_OR_RETURN(Tensor w, zero_pad(src->weight(), padded, in));
    ERIC_ASSIGN_OR_RETURN(Tensor b, zero_pad(src->bias(), 1, padded));
    ERIC_ASSIGN_OR_RETURN(*dst, CudaLinear::upload(ctx, w, b, dtype));
  }
  ERIC_ASSIGN_OR_RETURN(Tensor down_w, zero_pad(cpu.down().weight(), out, padded));
  ERIC_ASSIGN_OR_RETURN(m.down_, CudaLinear::upload(ctx, down_w, cpu.down().bias(), dtype));
  return m;
}

Result<cuda::DeviceTensor> CudaGatedMLP::forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const {
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor gate, gate_.forward(ctx, x));
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor up, up_.forward(ctx, x));
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor h, cuda::silu_mul(ctx, gate, up));
  return down_.forward(ctx, h);
}

Result<CudaVisionAttention> CudaVisionAttention::upload(cuda::Context& ctx, const VisionAttention& cpu, DType dtype,
                                                        std::shared_ptr<cuda::NcclCommunicator> comm) {
  const Linear& qkv = cpu.qkv();
  if (!qkv.weight().defined()) return Internal("cuda VisionAttention: the CPU layer has no qkv weights");
  CudaVisionAttention a;
  a.heads_ = cpu.local_heads();
  a.head_dim_ = cpu.head_dim();
  const int64_t width = a.heads_ * a.head_dim_;
  if (qkv.weight().dim(0) != 3 * width) {
    return InvalidArgument("cuda VisionAttention: qkv weight {} is not 3 x {} heads x {}", qkv.weight().shape().to_string(),
                           a.heads_, a.head_dim_);
  }
  // Rows [0, w), [w, 2w), [2w, 3w) of qkv are q, k and v (as the CPU split).
  CudaLinear* parts[3] = {&a.q_, &a.k_, &a.v_};
  for (int p = 0; p < 3; ++p) {
    ERIC_ASSIGN_OR_RETURN(Tensor w, qkv.weight().slice(0, p * width, (p + 1) * width));
    Tensor b;
    if (qkv.bias().defined()) {
      ERIC_ASSIGN_OR_RETURN(b, qkv.bias().slice(0, p * width, (p + 1) * width));
    }
    ERIC_ASSIGN_OR_RETURN(*parts[p], CudaLinear::upload(ctx, w, b, dtype));
  }
  ERIC_ASSIGN_OR_RETURN(a.proj_, CudaLinear::upload(ctx, cpu.proj(), dtype, std::move(comm)));
  return a;
}

Result<cuda::DeviceTensor> CudaVisionAttention::forward(cuda::Context& ctx, const cuda::DeviceTensor& x,
                                                        const cuda::DeviceTensor& cos, const cuda::DeviceTensor& sin,
                                                        const cuda::DeviceSeqlens& cu_seqlens) const {
  const int64_t tokens = x.dim(0);
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor q, q_.forward(ctx, x));
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor k, k_.forward(ctx, x));
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor v, v_.forward(ctx, x));
  ERIC_ASSIGN_OR_RETURN(q, q.reshape({tokens, heads_, head_dim_}));
  ERIC_ASSIGN_OR_RETURN(k, k.reshape({tokens, heads_, head_dim_}));
  ERIC_ASSIGN_OR_RETURN(v, v.reshape({tokens, heads_, head_dim_}));
  ERIC_RETURN_IF_ERROR(cuda::apply_rotary_(ctx, q, k, cos, sin));  // both in one launch
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_)));  // head_dim**-0.5
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor out, cuda::varlen_attention(ctx, q, k, v, cu_seqlens, scale));
  ERIC_ASSIGN_OR_RETURN(out, out.reshape({tokens, heads_ * head_dim_}));
  return proj_.forward(ctx, out);
}

}  // namespace eric::nn
