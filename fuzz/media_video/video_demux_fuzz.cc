// Feeds arbitrary bytes to media::decode_video with tight limits: the result
// must be the selected frames, each of the announced size within the pixel
// limit, or an error with a message; never a crash, hang or unbounded
// allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "media/video_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  eric::media::VideoDecodeOptions options;
  options.max_pixels_per_frame = 1 << 16;
  options.max_total_frames = 10'000;
  options.max_frames_to_decode = 64;
  options.max_duration_s = 3600;
  options.threads = 1;
  eric::media::FrameSelection selection;
  selection.max_num_frames = 4;
  auto video = eric::media::decode_video(bytes, selection, options);
  if (video.ok()) {
    if (video->frames.empty() || video->frames.size() != video->frame_indices.size()) __builtin_trap();
    for (const auto& f : video->frames) {
      if (f.width <= 0 || f.height <= 0) __builtin_trap();
      if (static_cast<int64_t>(f.width) * f.height > options.max_pixels_per_frame) __builtin_trap();
      if (f.pixels.size() != static_cast<size_t>(f.width) * f.height * 3) __builtin_trap();
    }
  } else if (video.status().message().empty()) {
    __builtin_trap();
  }
  return 0;
}
