#include "models/qwen2_5_vl/vision_encoder.h"

#include <algorithm>

namespace eric::models::qwen2_5_vl {

using qwen2_vl::GridTHW;

Result<std::unique_ptr<Qwen25VisionEncoder>> Qwen25VisionEncoder::load(const qwen2_vl::VisionConfig& cfg,
                                                                       const WeightMap& weights,
    const EncoderOptions& options) {
  std::unique_ptr<Qwen25VisionEncoder> e(new Qwen25VisionEncoder(cfg));
  ERIC_ASSIGN_OR_RETURN(e->w_, qwen2_vl::VisionTowerWeights::load(
                                   weights, cfg, qwen2_vl::BlockStyle{nn::Norm::Kind::kRMSNorm, true}, options));
  return e;
}

Result<Tensor> Qwen25VisionEncoder::forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const {
  ERIC_RETURN_IF_ERROR(qwen2_vl::validate_inputs(cfg_, pixel_values, grids));
  const int64_t unit = cfg_.merge_unit();
  ERIC_ASSIGN_OR_RETURN(Tensor embedded, w_.patch_embed.forward(pixel_values));
  ERIC_ASSIGN_OR_RETURN(Tensor angles, qwen2_vl::rotary_angles(grids, cfg_.head_dim(), cfg_.spatial_merge_size));
  const WindowLayout layout = window_layout(grids, cfg_);
  ERIC_ASSIGN_OR_RETURN(Tensor x, gather_row_groups(embedded, layout.window_index, unit));
  ERIC_ASSIGN_OR_RETURN(angles, gather_row_groups(angles, layout.window_index, unit));
  ERIC_ASSIGN_OR_RETURN(auto cos_sin, qwen2_vl::rotary_cos_sin(angles));
  // Full attention still stays within each frame; windows are never larger.
  const std::vector<int64_t> cu_full = qwen2_vl::frame_cu_seqlens(grids);
  const auto& full = cfg_.fullatt_block_indexes;
  for (size_t i = 0; i < w_.blocks.size(); ++i) {
    const bool is_full = std::find(full.begin(), full.end(), static_cast<int64_t>(i)) != full.end();
    ERIC_RETURN_IF_ERROR(
        w_.blocks[i].forward(x, cos_sin.first, cos_sin.second, is_full ? cu_full : layout.cu_window_seqlens));
  }
  ERIC_ASSIGN_OR_RETURN(Tensor merged, w_.merger.forward(x));
  return scatter_rows(merged, layout.window_index);
}

}  // namespace eric::models::qwen2_5_vl
