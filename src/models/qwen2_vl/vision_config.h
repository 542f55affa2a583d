// The vision-tower hyper-parameters of Qwen2-VL and Qwen2.5-VL, read from
// config.json's "vision_config". Both families' field names are accepted, in
// their older (published checkpoints) and newer (current transformers) forms.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace eric::models::qwen2_vl {

struct VisionConfig {
  int64_t depth = 0;
  int64_t embed_dim = 0;    // width of the ViT blocks
  int64_t out_hidden = 0;   // merger output = the LLM's hidden size
  int64_t num_heads = 0;
  int64_t mlp_hidden = 0;   // Qwen2-VL: embed_dim * mlp_ratio; Qwen2.5-VL: intermediate_size
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t spatial_merge_size = 2;
  int64_t temporal_patch_size = 2;
  std::string hidden_act;   // "quick_gelu" (Qwen2-VL), "silu" (Qwen2.5-VL)
  // Qwen2.5-VL only: window attention everywhere except these blocks.
  int64_t window_size = 0;  // in pixels (112 in the published models)
  std::vector<int64_t> fullatt_block_indexes;

  int64_t head_dim() const { return embed_dim / num_heads; }
  int64_t merge_unit() const { return spatial_merge_size * spatial_merge_size; }
  int64_t patch_dim() const { return in_channels * temporal_patch_size * patch_size * patch_size; }

  // `config` is the whole config.json.
  static Result<VisionConfig> parse_qwen2_vl(const nlohmann::json& config);
  static Result<VisionConfig> parse_qwen2_5_vl(const nlohmann::json& config);
};

}  // namespace eric::models::qwen2_vl
