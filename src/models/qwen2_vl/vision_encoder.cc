#include "models/qwen2_vl/vision_encoder.h"

namespace eric::models::qwen2_vl {

Result<std::unique_ptr<Qwen2VisionEncoder>> Qwen2VisionEncoder::load(const VisionConfig& cfg,
                                                                     const WeightMap& weights,
    const EncoderOptions& options) {
  std::unique_ptr<Qwen2VisionEncoder> e(new Qwen2VisionEncoder(cfg));
  ERIC_ASSIGN_OR_RETURN(e->w_, VisionTowerWeights::load(weights, cfg, BlockStyle{nn::Norm::Kind::kLayerNorm, false}, options));
  return e;
}

Result<Tensor> Qwen2VisionEncoder::forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const {
  ERIC_RETURN_IF_ERROR(validate_inputs(cfg_, pixel_values, grids));
  ERIC_ASSIGN_OR_RETURN(Tensor x, w_.patch_embed.forward(pixel_values));
  ERIC_ASSIGN_OR_RETURN(Tensor angles, rotary_angles(grids, cfg_.head_dim(), cfg_.spatial_merge_size));
  ERIC_ASSIGN_OR_RETURN(auto cos_sin, rotary_cos_sin(angles));
  const std::vector<int64_t> cu_seqlens = frame_cu_seqlens(grids);
  for (const auto& block : w_.blocks) {
    ERIC_RETURN_IF_ERROR(block.forward(x, cos_sin.first, cos_sin.second, cu_seqlens));
  }
  return w_.merger.forward(x);
}

}  // namespace eric::models::qwen2_vl
