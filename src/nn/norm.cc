#include "nn/norm.h"

#include "backend/cpu/ops.h"

namespace eric::nn {

LayerNorm LayerNorm::load(WeightLoader& loader, const std::string& prefix, int64_t dim, float eps) {
  LayerNorm n;
  n.gamma_ = loader.take(join_name(prefix, "weight"), Shape{dim});
  n.beta_ = loader.take(join_name(prefix, "bias"), Shape{dim});
  n.eps_ = eps;
  return n;
}

Result<Tensor> LayerNorm::forward(const Tensor& x) const {
  if (!gamma_.defined()) return Internal("LayerNorm used without weights");
  return cpu::layer_norm(x, gamma_, beta_.defined() ? &beta_ : nullptr, eps_);
}

RMSNorm RMSNorm::load(WeightLoader& loader, const std::string& prefix, int64_t dim, float eps) {
  RMSNorm n;
  n.gamma_ = loader.take(join_name(prefix, "weight"), Shape{dim});
  n.eps_ = eps;
  return n;
}

Result<Tensor> RMSNorm::forward(const Tensor& x) const {
  if (!gamma_.defined()) return Internal("RMSNorm used without weights");
  return cpu::rms_norm(x, gamma_, eps_);
}

Norm Norm::load(WeightLoader& loader, const std::string& prefix, int64_t dim, float eps, Kind kind) {
  Norm n;
  n.kind_ = kind;
  if (kind == Kind::kLayerNorm) {
    n.layer_norm_ = LayerNorm::load(loader, prefix, dim, eps);
  } else {
    n.rms_norm_ = RMSNorm::load(loader, prefix, dim, eps);
  }
  return n;
}

Result<Tensor> Norm::forward(const Tensor& x) const {
  return kind_ == Kind::kLayerNorm ? layer_norm_.forward(x) : rms_norm_.forward(x);
}

}  // namespace eric::nn
