#include "models/qwen2_5_vl/window_index.h"

#include <algorithm>

namespace eric::models::qwen2_5_vl {

WindowLayout window_layout(const std::vector<qwen2_vl::GridTHW>& grids, const qwen2_vl::VisionConfig& cfg) {
  WindowLayout out;
  out.cu_window_seqlens.push_back(0);
  const int64_t m = cfg.spatial_merge_size;
  const int64_t ws = cfg.window_size / m / cfg.patch_size;  // vit_merger_window_size, in merge units
  const int64_t unit = cfg.merge_unit();
  int64_t base = 0;
  for (const auto& g : grids) {
    const int64_t lh = g.h / m, lw = g.w / m;
    // As the reference: pad = ws - n % ws, a whole empty window row/column
    // when n divides evenly; empty windows only repeat a cu_seqlens entry.
    const int64_t nh = (lh + ws - lh % ws) / ws;
    const int64_t nw = (lw + ws - lw % ws) / ws;
    for (int64_t f = 0; f < g.t; ++f) {
      for (int64_t wy = 0; wy < nh; ++wy) {
        for (int64_t wx = 0; wx < nw; ++wx) {
          int64_t count = 0;
          for (int64_t y = wy * ws; y < std::min((wy + 1) * ws, lh); ++y) {
            for (int64_t x = wx * ws; x < std::min((wx + 1) * ws, lw); ++x) {
              out.window_index.push_back(base + (f * lh + y) * lw + x);
              ++count;
            }
          }
          const int64_t end = out.cu_window_seqlens.back() + count * unit;
          if (end != out.cu_window_seqlens.back()) out.cu_window_seqlens.push_back(end);
        }
      }
    }
    base += g.t * lh * lw;
  }
  return out;
}

Result<qwen2_vl::TowerPlan> window_plan(const std::vector<qwen2_vl::GridTHW>& grids, const qwen2_vl::VisionConfig& cfg) {
  qwen2_vl::TowerPlan plan;
  WindowLayout layout = window_layout(grids, cfg);
  plan.window_index = std::move(layout.window_index);
  plan.cu_window = std::move(layout.cu_window_seqlens);
  // Full attention still stays within each frame; windows are never larger.
  plan.cu_full = qwen2_vl::frame_cu_seqlens(grids);
  plan.full_attention_block.assign(static_cast<size_t>(cfg.depth), false);
  for (int64_t b : cfg.fullatt_block_indexes) {
    if (b >= 0 && b < cfg.depth) plan.full_attention_block[static_cast<size_t>(b)] = true;
  }
  // The angles in window order at once (rather than the processor-order
  // table gathered: one pass over 7 MB instead of two at eight 1024² images).
  ERIC_ASSIGN_OR_RETURN(plan.angles, qwen2_vl::rotary_angles(grids, cfg.head_dim(), cfg.spatial_merge_size,
                                                             &plan.window_index));
  return plan;
}

}  // namespace eric::models::qwen2_5_vl
