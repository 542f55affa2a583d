// TowerPlan: everything about one forward pass of a Qwen vision tower that
// depends on the batch's grids and the family, but not on the device: the
// token order the blocks run in (Qwen2.5-VL's windows), each block's attention
// segments and the rotary angles in that order. Each family builds its plan
// (Qwen2-VL: full_attention_plan; Qwen2.5-VL: qwen2_5_vl::window_plan) and
// the CPU and CUDA towers both run it, so the family logic exists once.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "models/qwen2_vl/vision_config.h"
#include "tensor/tensor.h"

namespace eric::models::qwen2_vl {

struct GridTHW;

struct TowerPlan {
  // window_index[i] = the merge unit (spatial_merge_size^2 consecutive
  // patches, counted across the batch in processor order) placed at position
  // i of the blocks' order. Empty: processor order (the identity).
  std::vector<int64_t> window_index;
  // Attention segments (cu_seqlens over patches, in the blocks' order) of the
  // windowed blocks and of the full-attention blocks (one per frame).
  std::vector<int64_t> cu_window;
  std::vector<int64_t> cu_full;
  // Per block: full attention (cu_full) or windows (cu_window).
  std::vector<bool> full_attention_block;
  // Rotary angles [patches, head_dim / 2], already in the blocks' order.
  Tensor angles;

  bool reorders() const { return !window_index.empty(); }
  // The segments block `i` attends within.
  const std::vector<int64_t>& cu_seqlens(size_t block) const {
    return full_attention_block.at(block) ? cu_full : cu_window;
  }
};

// Builds a family's plan for a batch's grids (validated by the caller).
using PlanBuilder = Result<TowerPlan> (*)(const std::vector<GridTHW>& grids, const VisionConfig& cfg);

// Qwen2-VL: every block attends within each frame; processor order.
Result<TowerPlan> full_attention_plan(const std::vector<GridTHW>& grids, const VisionConfig& cfg);

// Multiply-add FLOPs (2 per MAC) of one forward pass under `plan` over
// `patches` patches: every GEMM (patch embed, qkv, proj, MLP, merger) and
// attention's QK^T and PV per segment; gated MLPs have three projections.
double tower_flops(const VisionConfig& cfg, const TowerPlan& plan, int64_t patches, bool gated_mlp);

// Host-side token reordering (the CUDA backend has its own kernels):
// out[i] = x[index[i]] in groups of `group` rows (x [n * group, d] float32).
Result<Tensor> gather_row_groups(const Tensor& x, const std::vector<int64_t>& index, int64_t group);
// out[index[i]] = x[i] (rows): the inverse of gather_row_groups with group 1.
Result<Tensor> scatter_rows(const Tensor& x, const std::vector<int64_t>& index);

}  // namespace eric::models::qwen2_vl
