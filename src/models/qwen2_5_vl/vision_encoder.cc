#include "models/qwen2_5_vl/vision_encoder.h"

#include "models/qwen2_vl/device_encoder.h"

namespace eric::models::qwen2_5_vl {

using qwen2_vl::GridTHW;

Result<std::unique_ptr<Qwen25VisionEncoder>> Qwen25VisionEncoder::load(const qwen2_vl::VisionConfig& cfg,
                                                                       const WeightMap& weights,
                                                                       const EncoderOptions& options) {
  std::unique_ptr<Qwen25VisionEncoder> e(new Qwen25VisionEncoder(cfg));
  ERIC_ASSIGN_OR_RETURN(e->w_, qwen2_vl::VisionTowerWeights::load(weights, cfg, style(), options));
  return e;
}

Result<Tensor> Qwen25VisionEncoder::forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const {
  ERIC_RETURN_IF_ERROR(qwen2_vl::validate_inputs(cfg_, pixel_values, grids));
  ERIC_ASSIGN_OR_RETURN(qwen2_vl::TowerPlan plan, window_plan(grids, cfg_));
  return w_.forward(plan, pixel_values, cfg_.merge_unit());
}

Result<std::unique_ptr<qwen2_vl::PackedVisionEncoder>> load_qwen2_5_vl_encoder(const qwen2_vl::VisionConfig& cfg,
                                                                               const WeightMap& weights,
                                                                               const EncoderOptions& options) {
  if (options.device == ComputeDevice::kCuda) {
    return qwen2_vl::load_cuda_vision_encoder(cfg, weights, Qwen25VisionEncoder::style(), &window_plan, options);
  }
  ERIC_ASSIGN_OR_RETURN(auto encoder, Qwen25VisionEncoder::load(cfg, weights, options));
  return std::unique_ptr<qwen2_vl::PackedVisionEncoder>(std::move(encoder));
}

}  // namespace eric::models::qwen2_5_vl
