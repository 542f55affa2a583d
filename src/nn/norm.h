// Normalisation layers: torch.nn.LayerNorm and Qwen2RMSNorm, over the last dim.
#pragma once

#include <string>

#include "common/status.h"
#include "nn/weight_loader.h"
#include "tensor/tensor.h"

namespace eric::nn {

class LayerNorm {
 public:
  LayerNorm() = default;
  // `<prefix>.weight` [dim] and `<prefix>.bias` [dim].
  static LayerNorm load(WeightLoader& loader, const std::string& prefix, int64_t dim, float eps);
  Result<Tensor> forward(const Tensor& x) const;
  const Tensor& gamma() const { return gamma_; }
  const Tensor& beta() const { return beta_; }
  float eps() const { return eps_; }

 private:
  Tensor gamma_, beta_;
  float eps_ = 1e-5f;
};

class RMSNorm {
 public:
  RMSNorm() = default;
  // `<prefix>.weight` [dim] (no bias).
  static RMSNorm load(WeightLoader& loader, const std::string& prefix, int64_t dim, float eps);
  Result<Tensor> forward(const Tensor& x) const;
  const Tensor& gamma() const { return gamma_; }
  float eps() const { return eps_; }

 private:
  Tensor gamma_;
  float eps_ = 1e-6f;
};

// Either of the two, for blocks whose norm type depends on the model family.
class Norm {
 public:
  enum class Kind { kLayerNorm, kRMSNorm };
  Norm() = default;
  static Norm load(WeightLoader& loader, const std::string& prefix, int64_t dim, float eps, Kind kind);
  Result<Tensor> forward(const Tensor& x) const;
  // The loaded parameters (for copies on other devices).
  Kind kind() const { return kind_; }
  const LayerNorm& layer_norm() const { return layer_norm_; }
  const RMSNorm& rms_norm() const { return rms_norm_; }

 private:
  Kind kind_ = Kind::kLayerNorm;
  LayerNorm layer_norm_;
  RMSNorm rms_norm_;
};

}  // namespace eric::nn
