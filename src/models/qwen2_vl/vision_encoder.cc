#include "models/qwen2_vl/vision_encoder.h"

#include "models/qwen2_vl/device_encoder.h"

namespace eric::models::qwen2_vl {

Result<std::unique_ptr<Qwen2VisionEncoder>> Qwen2VisionEncoder::load(const VisionConfig& cfg,
                                                                     const WeightMap& weights,
                                                                     const EncoderOptions& options) {
  std::unique_ptr<Qwen2VisionEncoder> e(new Qwen2VisionEncoder(cfg));
  ERIC_ASSIGN_OR_RETURN(e->w_, VisionTowerWeights::load(weights, cfg, style(), options));
  return e;
}

Result<Tensor> Qwen2VisionEncoder::forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const {
  ERIC_RETURN_IF_ERROR(validate_inputs(cfg_, pixel_values, grids));
  ERIC_ASSIGN_OR_RETURN(TowerPlan plan, full_attention_plan(grids, cfg_));
  return w_.forward(plan, pixel_values, cfg_.merge_unit());
}

Result<std::unique_ptr<PackedVisionEncoder>> load_qwen2_vl_encoder(const VisionConfig& cfg, const WeightMap& weights,
                                                                   const EncoderOptions& options) {
  if (options.device == ComputeDevice::kCuda) {
    return load_cuda_vision_encoder(cfg, weights, Qwen2VisionEncoder::style(), &full_attention_plan, options);
  }
  ERIC_ASSIGN_OR_RETURN(auto encoder, Qwen2VisionEncoder::load(cfg, weights, options));
  return std::unique_ptr<PackedVisionEncoder>(std::move(encoder));
}

}  // namespace eric::models::qwen2_vl
