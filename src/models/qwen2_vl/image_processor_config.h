// The Qwen2-VL image processor's settings, read from preprocessor_config.json
// with transformers' defaults and key precedence.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>

#include "common/status.h"
#include "media/resample.h"

namespace eric::models::qwen2_vl {

struct ImageProcessorConfig {
  bool do_resize = true;
  bool do_rescale = true;
  bool do_normalize = true;
  bool do_convert_rgb = true;  // decoded images are RGB already; kept for completeness
  media::ResampleFilter resample = media::ResampleFilter::kBicubic;
  double rescale_factor = 1.0 / 255.0;
  // OPENAI_CLIP_MEAN / OPENAI_CLIP_STD unless the config says otherwise.
  std::array<double, 3> image_mean = {0.48145466, 0.4578275, 0.40821073};
  std::array<double, 3> image_std = {0.26862954, 0.26130258, 0.27577711};
  // size.shortest_edge / size.longest_edge; the older top-level min_pixels /
  // max_pixels keys override them (transformers' backward compatibility).
  int64_t min_pixels = 56 * 56;
  int64_t max_pixels = 28 * 28 * 1280;
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t merge_size = 2;

  static Result<ImageProcessorConfig> from_json(const nlohmann::json& preprocessor_config);
};

}  // namespace eric::models::qwen2_vl
