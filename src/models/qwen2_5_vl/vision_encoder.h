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
  // RMSNorm, gated SiLU MLPs with biases.
  static qwen2_vl::BlockStyle style() { return qwen2_vl::BlockStyle{nn::Norm::Kind::kRMSNorm, true}; }
  static Result<std::unique_ptr<Qwen25VisionEncoder>> load(const qwen2_vl::VisionConfig& cfg,
                                                           const WeightMap& weights,
                                                           const EncoderOptions& options = {});
  Result<Tensor> forward(const Tensor& pixel_values, const std::vector<qwen2_vl::GridTHW>& grids) const override;

 private:
  explicit Qwen25VisionEncoder(qwen2_vl::VisionConfig cfg) : PackedVisionEncoder(std::move(cfg)) {}
  qwen2_vl::VisionTowerWeights w_;
};

// The family's encoder where options.device says: Qwen25VisionEncoder on the
// CPU, or the CUDA tower (qwen2_vl/device_encoder.h) with window_plan.
Result<std::unique_ptr<qwen2_vl::PackedVisionEncoder>> load_qwen2_5_vl_encoder(const qwen2_vl::VisionConfig& cfg,
                                                                               const WeightMap& weights,
                                                                               const EncoderOptions& options = {});

}  // namespace eric::models::qwen2_5_vl
