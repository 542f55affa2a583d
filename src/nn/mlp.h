// Feed-forward blocks.
//   MLP:       fc2(act(fc1(x)))              (ViT blocks, the patch merger)
//   GatedMLP:  down(silu(gate(x)) * up(x))   (Qwen2.5-VL blocks)
// The first projection(s) are column-parallel and the last row-parallel, so
// a sharded MLP needs one all-reduce, at its end.
#pragma once

#include <string>

#include "nn/activation.h"
#include "nn/linear.h"

namespace eric::nn {

class MLP {
 public:
  MLP() = default;
  // `<prefix>.<fc1_name>` [hidden, dim] and `<prefix>.<fc2_name>` [out, hidden],
  // both with biases. out_dim == 0 means out_dim = dim.
  static MLP load(WeightLoader& loader, const std::string& prefix, int64_t dim, int64_t hidden, int64_t out_dim,
                  Activation act, const std::string& fc1_name = "fc1", const std::string& fc2_name = "fc2",
                  const TensorParallel& parallel = {});
  Result<Tensor> forward(const Tensor& x) const;
  const Linear& fc1() const { return fc1_; }
  const Linear& fc2() const { return fc2_; }
  Activation activation() const { return act_; }

 private:
  Linear fc1_, fc2_;
  Activation act_ = Activation::kGeluErf;
};

class GatedMLP {
 public:
  GatedMLP() = default;
  // `<prefix>.gate_proj`, `<prefix>.up_proj` [hidden, dim], `<prefix>.down_proj`
  // [dim, hidden]; biases when `bias`.
  static GatedMLP load(WeightLoader& loader, const std::string& prefix, int64_t dim, int64_t hidden, bool bias,
                       const TensorParallel& parallel = {});
  Result<Tensor> forward(const Tensor& x) const;
  const Linear& gate() const { return gate_; }
  const Linear& up() const { return up_; }
  const Linear& down() const { return down_; }

 private:
  Linear gate_, up_, down_;
};

}  // namespace eric::nn
