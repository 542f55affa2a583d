#include "models/qwen2_vl/smart_resize.h"

#include <algorithm>
#include <cmath>

namespace eric::models::qwen2_vl {

Result<ResizedSize> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                 int64_t max_pixels) {
  if (height <= 0 || width <= 0) {
    return InvalidArgument("image size {}x{} (height x width) must be positive", height, width);
  }
  if (factor <= 0) return InvalidArgument("smart_resize factor {} must be positive", factor);
  // Python: max(height, width) / min(height, width) > 200, a float division.
  const double ratio = static_cast<double>(std::max(height, width)) / static_cast<double>(std::min(height, width));
  if (ratio > 200) {
    return InvalidArgument("absolute aspect ratio must be smaller than 200, got {} ({}x{} height x width)", ratio,
                           height, width);
  }
  const double h = static_cast<double>(height);
  const double w = static_cast<double>(width);
  const double f = static_cast<double>(factor);
  // round(): half to even, which nearbyint gives in the default rounding mode.
  int64_t h_bar = static_cast<int64_t>(std::nearbyint(h / f)) * factor;
  int64_t w_bar = static_cast<int64_t>(std::nearbyint(w / f)) * factor;
  if (h_bar * w_bar > max_pixels) {
    const double beta = std::sqrt((h * w) / static_cast<double>(max_pixels));
    h_bar = std::max(factor, static_cast<int64_t>(std::floor(h / beta / f)) * factor);
    w_bar = std::max(factor, static_cast<int64_t>(std::floor(w / beta / f)) * factor);
  } else if (h_bar * w_bar < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    h_bar = static_cast<int64_t>(std::ceil(h * beta / f)) * factor;
    w_bar = static_cast<int64_t>(std::ceil(w * beta / f)) * factor;
  }
  return ResizedSize{h_bar, w_bar};
}

}  // namespace eric::models::qwen2_vl
