// Cornserve's data:video/jpeg;base64,<f1>,<f2>,... videos: already-extracted
// JPEG frames, decoded with the Pillow-exact image decoder as Cornserve's
// ImageLoader does (PIL.Image.open(...).convert("RGB")).
#include "media/image_decoder.h"
#include "media/video_decoder.h"

namespace eric::media {

Result<DecodedVideo> decode_jpeg_frame_list(const std::vector<std::string>& jpeg_frames,
                                            const FrameSelection& selection, const VideoDecodeOptions& o) {
  if (jpeg_frames.empty()) return InvalidArgument("JPEG frame list holds no frames");
  if (selection.mode == FrameSelection::Mode::kFps) {
    return InvalidArgument("a JPEG frame list has no frame rate, so fps-based frame sampling cannot apply to it");
  }
  const auto total = static_cast<int64_t>(jpeg_frames.size());
  if (total > o.max_total_frames) {
    return ResourceExhausted("JPEG frame list has {} frames, above the limit of {}", total, o.max_total_frames);
  }
  DecodedVideo out;
  out.container = "jpeg_frame_list";
  out.codec = "jpeg";
  out.total_frames = total;
  ERIC_ASSIGN_OR_RETURN(out.frame_indices, select_frame_indices(total, 0.0, selection));
  if (static_cast<int64_t>(out.frame_indices.size()) > o.max_selected_frames) {
    return ResourceExhausted("{} frames selected, above the limit of {}", out.frame_indices.size(),
                             o.max_selected_frames);
  }
  DecodeOptions image_options;
  image_options.max_pixels = o.max_pixels_per_frame;
  out.frames.reserve(out.frame_indices.size());
  for (int64_t index : out.frame_indices) {
    auto image = decode_image(jpeg_frames[static_cast<size_t>(index)], image_options);
    if (!image.ok()) return image.status().with_context("JPEG frame " + std::to_string(index));
    if (!out.frames.empty() && (image->width != out.frames.front().width || image->height != out.frames.front().height)) {
      return InvalidArgument("JPEG frame {} is {}x{}, but frame {} is {}x{}; all frames must have one size", index,
                             image->width, image->height, out.frame_indices.front(), out.frames.front().width,
                             out.frames.front().height);
    }
    // All frames share the first one's size: bound the whole list's memory once it is known.
    if (out.frames.empty()) {
      ERIC_RETURN_IF_ERROR(check_selected_pixels(out.frame_indices.size(), image->width, image->height, o));
    }
    out.frames.push_back(std::move(*image));
  }
  out.width = out.frames.front().width;
  out.height = out.frames.front().height;
  return out;
}

}  // namespace eric::media
