// Qwen2-VL's smart_resize (transformers, models/qwen2_vl/image_processing_qwen2_vl.py):
// the size an image is resized to before patching.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace eric::models::qwen2_vl {

struct ResizedSize {
  int64_t height = 0;
  int64_t width = 0;
};

// Both sides become multiples of `factor` (patch_size * merge_size) with the
// pixel count inside [min_pixels, max_pixels], keeping the aspect ratio as
// closely as the rounding allows. Follows transformers' arithmetic exactly:
// Python's round() (half to even) of height / factor, and for out-of-range
// sizes beta = sqrt(pixels ratio) with floor (too large, never below one
// factor) or ceil (too small). An aspect ratio above 200:1 is an error, as
// in transformers.
Result<ResizedSize> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                 int64_t max_pixels);

}  // namespace eric::models::qwen2_vl
