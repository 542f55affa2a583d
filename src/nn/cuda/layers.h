// Device copies of the nn layers (nn/linear.h, norm.h, mlp.h, attention.h):
// each is uploaded once from the loaded CPU layer, in the compute dtype
// (bf16 or f32; biases and norm weights too, as the CUDA ops want every
// float tensor of one call in one dtype), and its forward runs the same maths
// with the eric::cuda ops on ctx's stream. Nothing here synchronises.
// Tensor parallelism: the CPU layers already hold this rank's shard; a
// row-parallel Linear over several ranks sums its partial outputs with NCCL
// (the communicator handed to upload()) before adding its bias once, as
// nn::Linear does with its AllReduce hook.
#pragma once

#include <memory>
#include <vector>

#include "backend/cuda/nccl_comm.h"
#include "backend/cuda/ops.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/norm.h"

namespace eric::nn {

class CudaLinear {
 public:
  CudaLinear() = default;
  // `comm`: the tensor-parallel group, needed by row-parallel shards of world size > 1.
  static Result<CudaLinear> upload(cuda::Context& ctx, const Linear& cpu, DType dtype,
                                   std::shared_ptr<cuda::NcclCommunicator> comm = nullptr);
  // From a weight [out, in] and optional bias [out] on the host.
  static Result<CudaLinear> upload(cuda::Context& ctx, const Tensor& weight, const Tensor& bias, DType dtype);
  // x [rows, in] -> [rows, out]; the bias rides in the GEMM's epilogue.
  Result<cuda::DeviceTensor> forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const;
  // Without the bias, for callers that fuse it into an activation.
  Result<cuda::DeviceTensor> forward_no_bias(cuda::Context& ctx, const cuda::DeviceTensor& x) const;
  const cuda::DeviceTensor& weight() const { return weight_; }
  const cuda::DeviceTensor* bias() const { return bias_.defined() ? &bias_ : nullptr; }

 private:
  cuda::DeviceTensor weight_, bias_;
  std::shared_ptr<cuda::NcclCommunicator> reduce_;  // set for a row-parallel shard of several ranks
};

class CudaNorm {
 public:
  CudaNorm() = default;
  static Result<CudaNorm> upload(cuda::Context& ctx, const Norm& cpu, DType dtype);
  Result<cuda::DeviceTensor> forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const;
  // x += branch, then forward(x): the residual add before this norm, fused.
  Result<cuda::DeviceTensor> add_forward(cuda::Context& ctx, cuda::DeviceTensor& x,
                                         const cuda::DeviceTensor& branch) const;

 private:
  Norm::Kind kind_ = Norm::Kind::kLayerNorm;
  cuda::DeviceTensor gamma_, beta_;
  float eps_ = 1e-6f;
};

// fc2(act(fc1(x))), the bias and activation of fc1 fused in one kernel.
class CudaMLP {
 public:
  CudaMLP() = default;
  static Result<CudaMLP> upload(cuda::Context& ctx, const MLP& cpu, DType dtype,
                                  std::shared_ptr<cuda::NcclCommunicator> comm = nullptr);
  Result<cuda::DeviceTensor> forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const;

 private:
  CudaLinear fc1_, fc2_;
  Activation act_ = Activation::kGeluErf;
};

// down(silu(gate(x)) * up(x)).
class CudaGatedMLP {
 public:
  CudaGatedMLP() = default;
  static Result<CudaGatedMLP> upload(cuda::Context& ctx, const GatedMLP& cpu, DType dtype,
                                  std::shared_ptr<cuda::NcclCommunicator> comm = nullptr);
  Result<cuda::DeviceTensor> forward(cuda::Context& ctx, const cuda::DeviceTensor& x) const;

 private:
  CudaLinear gate_, up_, down_;
};

// The fused qkv weight is split at upload into q, k and v projections, so
// each GEMM writes its [tokens, heads, head_dim] tensor directly (no strided
// split on the device).
class CudaVisionAttention {
 public:
  CudaVisionAttention() = default;
  static Result<CudaVisionAttention> upload(cuda::Context& ctx, const VisionAttention& cpu, DType dtype,
                                  std::shared_ptr<cuda::NcclCommunicator> comm = nullptr);
  // x [tokens, dim]; cos, sin [tokens, head_dim] float32 -> [tokens, dim].
  Result<cuda::DeviceTensor> forward(cuda::Context& ctx, const cuda::DeviceTensor& x, const cuda::DeviceTensor& cos,
                                     const cuda::DeviceTensor& sin, const cuda::DeviceSeqlens& cu_seqlens) const;

 private:
  CudaLinear q_, k_, v_, proj_;
  int64_t heads_ = 0;
  int64_t head_dim_ = 0;
};

// The kernels' activation for an nn::Activation.
cuda::kernels::Act cuda_activation(Activation a);

}  // namespace eric::nn
