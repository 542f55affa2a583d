// The Qwen2.5-VL vision tower (Qwen2_5_VisionTransformerPretrainedModel):
// the Qwen2-VL tower with RMSNorm, gated SiLU MLPs, and window attention in
// every block not listed in fullatt_block_indexes. Patches are reordered
// window by window (with their rotary angles) before the blocks; the merged
// tokens are put back in processor order after the merger.
#pragma once

#include <memory>

#include "models/qwen2_5_vl/window_index.h"
#include "models/qwen2_vl/vision_common.h"

namespace eric::models::qwen2_5_vl {

class Qwen25VisionEncoder : public qwen2_vl::PackedVisionEncoder {
 public:
  static Result<std::unique_ptr<Qwen25VisionEncoder>> load(const qwen2_vl::VisionConfig& cfg,
                                                           const WeightMap& weights,
                                                           const EncoderOptions& options = {});
  Result<Tensor> forward(const Tensor& pixel_values, const std::vector<qwen2_vl::GridTHW>& grids) const override;

 private:
  explicit Qwen25VisionEncoder(qwen2_vl::VisionConfig cfg) : PackedVisionEncoder(std::move(cfg)) {}
  qwen2_vl::VisionTowerWeights w_;
};

}  // namespace eric::models::qwen2_5_vl
