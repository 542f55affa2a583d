// Vision self-attention as in Qwen2-VL / Qwen2.5-VL (VisionAttention):
// fused qkv projection, 2-D rotary embedding on q and k, non-causal
// attention within packed sequences (cu_seqlens), output projection.
// Tensor parallel: qkv is column-parallel by heads, proj row-parallel.
#pragma once

#include <string>
#include <vector>

#include "nn/linear.h"

namespace eric::nn {

class VisionAttention {
 public:
  VisionAttention() = default;
  // `<prefix>.qkv` [3*dim, dim] and `<prefix>.proj` [dim, dim], with biases.
  static VisionAttention load(WeightLoader& loader, const std::string& prefix, int64_t dim, int64_t num_heads,
                              const TensorParallel& parallel = {});

  // x [tokens, dim]; cos, sin [tokens, head_dim]; sequence i is tokens
  // [cu_seqlens[i], cu_seqlens[i+1]). Returns [tokens, dim].
  Result<Tensor> forward(const Tensor& x, const Tensor& cos, const Tensor& sin,
                         const std::vector<int64_t>& cu_seqlens) const;

  int64_t head_dim() const { return head_dim_; }
  int64_t local_heads() const { return local_heads_; }
  const Linear& qkv() const { return qkv_; }
  const Linear& proj() const { return proj_; }

 private:
  Linear qkv_, proj_;
  int64_t local_heads_ = 0;
  int64_t head_dim_ = 0;
};

}  // namespace eric::nn
