// The Qwen2-VL vision tower (Qwen2VisionTransformerPretrainedModel): patch
// embedding, pre-LayerNorm blocks with QuickGELU MLPs and 2-D rotary
// attention within each frame, and the PatchMerger.
#pragma once

#include <memory>

#include "models/qwen2_vl/vision_common.h"

namespace eric::models::qwen2_vl {

class Qwen2VisionEncoder : public PackedVisionEncoder {
 public:
  // LayerNorm, fc1/fc2 MLPs.
  static BlockStyle style() { return BlockStyle{nn::Norm::Kind::kLayerNorm, false}; }
  // `weights`: the checkpoint's "visual." tensors with the prefix stripped.
  static Result<std::unique_ptr<Qwen2VisionEncoder>> load(const VisionConfig& cfg, const WeightMap& weights,
                                                           const EncoderOptions& options = {});
  Result<Tensor> forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const override;

 private:
  explicit Qwen2VisionEncoder(VisionConfig cfg) : PackedVisionEncoder(std::move(cfg)) {}
  VisionTowerWeights w_;
};

// The family's encoder where options.device says: Qwen2VisionEncoder on the
// CPU, or the CUDA tower (qwen2_vl/device_encoder.h) with full_attention_plan.
Result<std::unique_ptr<PackedVisionEncoder>> load_qwen2_vl_encoder(const VisionConfig& cfg, const WeightMap& weights,
                                                                   const EncoderOptions& options = {});

}  // namespace eric::models::qwen2_vl
