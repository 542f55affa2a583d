#include "media/frame_selection.h"

#include <algorithm>
#include <cmath>

namespace eric::media {

namespace {

// numpy.linspace(0, stop, num, dtype=int): y[i] = i * (stop / (num - 1)) in
// float64 (numpy multiplies by the step when it is non-zero, divides
// otherwise), the last element set to `stop` exactly, then truncated to int.
std::vector<int64_t> numpy_linspace_int(int64_t stop, int64_t num) {
  std::vector<int64_t> out(static_cast<size_t>(num));
  if (num == 1) {
    out[0] = 0;
    return out;
  }
  const double delta = static_cast<double>(stop);
  const double div = static_cast<double>(num - 1);
  const double step = delta / div;
  for (int64_t i = 0; i < num; ++i) {
    const double y = step == 0.0 ? static_cast<double>(i) / div * delta : static_cast<double>(i) * step;
    out[static_cast<size_t>(i)] = static_cast<int64_t>(y);
  }
  out.back() = stop;
  return out;
}

// torch.arange(0, total, total / num).int() with torch's default float32
// dtype: the length is ceil(total / step) in double, each element is
// start + step * i computed in double (CPU accumulation type) and stored as
// float32, then truncated to int32.
std::vector<int64_t> torch_arange_int(int64_t total, int64_t num) {
  const double step = static_cast<double>(total) / static_cast<double>(num);
  const auto size = static_cast<int64_t>(std::ceil(static_cast<double>(total) / step));
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) {
    const float v = static_cast<float>(step * static_cast<double>(i));
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

}  // namespace

Result<std::vector<int64_t>> select_frame_indices(int64_t total_frames, double source_fps,
                                                  const FrameSelection& s) {
  if (total_frames < 1) return InvalidArgument("video has no frames (frame count {})", total_frames);
  if (s.mode == FrameSelection::Mode::kLinspace) {
    if (s.max_num_frames > 0 && total_frames > s.max_num_frames) {
      return numpy_linspace_int(total_frames - 1, s.max_num_frames);
    }
    std::vector<int64_t> all(static_cast<size_t>(total_frames));
    for (int64_t i = 0; i < total_frames; ++i) all[static_cast<size_t>(i)] = i;
    return all;
  }

  if (!(s.fps > 0.0) || !std::isfinite(s.fps)) return InvalidArgument("fps must be positive, got {}", s.fps);
  if (s.frame_factor < 1) return InvalidArgument("frame_factor must be positive, got {}", s.frame_factor);
  if (s.min_frames < 0 || s.max_frames < 1) {
    return InvalidArgument("min_frames ({}) must be >= 0 and max_frames ({}) >= 1", s.min_frames, s.max_frames);
  }
  if (!(source_fps > 0.0) || !std::isfinite(source_fps)) {
    return InvalidArgument("fps-based frame sampling needs the video's frame rate, which is unknown ({})",
                           source_fps);
  }
  // Qwen2VLVideoProcessor.sample_frames, in Python's float arithmetic.
  const double factor = static_cast<double>(s.frame_factor);
  const double total = static_cast<double>(total_frames);
  const double max_frames =
      std::floor(std::min(static_cast<double>(s.max_frames), total) / factor) * factor;
  double num = total / source_fps * s.fps;
  num = std::min({std::max(num, static_cast<double>(s.min_frames)), max_frames, total});
  const auto num_frames = static_cast<int64_t>(std::floor(num / factor) * factor);
  if (num_frames < 1) {
    return InvalidArgument(
        "fps sampling of a {}-frame video at {} fps gives no frames (frame count rounds down to 0 in multiples "
        "of {})",
        total_frames, s.fps, s.frame_factor);
  }
  return torch_arange_int(total_frames, num_frames);
}

}  // namespace eric::media
