#include "models/qwen2_vl/processor.h"

#include <cmath>

namespace eric::models::qwen2_vl {

Processor::Processor(std::unique_ptr<ModalityProcessor> image, std::unique_ptr<VideoProcessor> video)
    : image_(std::move(image)), video_(std::move(video)) {}

Result<ProcessedItem> Processor::process_image(const media::RgbImage& image, const ProcessorOptions& options) const {
  return image_->process_image(image, options);
}

Result<media::FrameSelection> Processor::video_frame_selection(const VideoSamplingOptions& sampling) const {
  if (!sampling.fps) {
    if (sampling.min_frames || sampling.max_frames) {
      return InvalidArgument("'min_frames' and 'max_frames' apply to fps sampling only: give 'fps' as well");
    }
    media::FrameSelection s;  // Cornserve: linspace, at most 32 frames
    if (sampling.max_num_frames) {
      if (*sampling.max_num_frames < 0) {
        return InvalidArgument("'max_num_frames' must be >= 0 (0 keeps every frame), got {}", *sampling.max_num_frames);
      }
      s.max_num_frames = *sampling.max_num_frames;
    }
    return s;
  }
  if (sampling.max_num_frames) {
    return InvalidArgument("give either 'max_num_frames' (linspace selection) or 'fps' (fps sampling), not both");
  }
  media::FrameSelection s = video_->fps_selection();
  if (!std::isfinite(*sampling.fps) || !(*sampling.fps > 0)) {
    return InvalidArgument("'fps' must be a positive number, got {}", *sampling.fps);
  }
  s.fps = *sampling.fps;
  if (sampling.min_frames) s.min_frames = *sampling.min_frames;
  if (sampling.max_frames) s.max_frames = *sampling.max_frames;
  if (s.min_frames < 1 || s.max_frames < 1 || s.min_frames > s.max_frames) {
    return InvalidArgument("'min_frames' ({}) and 'max_frames' ({}) must be positive with min_frames <= max_frames",
                           s.min_frames, s.max_frames);
  }
  return s;
}

Result<ProcessedItem> Processor::process_video(const std::vector<media::RgbImage>& frames,
                                               const ProcessorOptions& options) const {
  return video_->process_video(frames, options);
}

}  // namespace eric::models::qwen2_vl

namespace eric::models {

Result<std::unique_ptr<ModalityProcessor>> make_qwen2_vl_processor(const ModelConfig& config) {
  ERIC_ASSIGN_OR_RETURN(std::unique_ptr<ModalityProcessor> image, make_qwen2_vl_image_processor(config));
  ERIC_ASSIGN_OR_RETURN(std::unique_ptr<qwen2_vl::VideoProcessor> video, make_qwen2_vl_video_processor(config));
  return std::unique_ptr<ModalityProcessor>(new qwen2_vl::Processor(std::move(image), std::move(video)));
}

}  // namespace eric::models
