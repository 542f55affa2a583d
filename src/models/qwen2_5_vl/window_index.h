// Qwen2.5-VL window attention layout (get_window_index in transformers):
// merge units (spatial_merge_size^2 patches) are grouped into windows of
// window_size / spatial_merge_size / patch_size units per side, per frame;
// the last row/column of windows is partial when the grid does not divide.
#pragma once

#include <vector>

#include "models/qwen2_vl/tower_plan.h"
#include "models/qwen2_vl/vision_common.h"

namespace eric::models::qwen2_5_vl {

struct WindowLayout {
  // window_index[i] = the merge unit (in processor order, counted across the
  // whole batch) placed at position i of the windowed order.
  std::vector<int64_t> window_index;
  // Attention segments over windowed patches, deduplicated like
  // torch.unique_consecutive (the reference emits empty windows).
  std::vector<int64_t> cu_window_seqlens;
};

WindowLayout window_layout(const std::vector<qwen2_vl::GridTHW>& grids, const qwen2_vl::VisionConfig& cfg);

// The plan both towers (CPU, CUDA) run: patches reordered window by window,
// window attention except in cfg.fullatt_block_indexes, angles reordered.
Result<qwen2_vl::TowerPlan> window_plan(const std::vector<qwen2_vl::GridTHW>& grids, const qwen2_vl::VisionConfig& cfg);

// The host reorderings, shared with the plan (qwen2_vl/tower_plan.h).
using qwen2_vl::gather_row_groups;
using qwen2_vl::scatter_rows;

}  // namespace eric::models::qwen2_5_vl
