// The Qwen2-VL / Qwen2.5-VL video processor: transformers'
// Qwen2VLVideoProcessor (torchvision; the default) or the original
// Qwen2VLImageProcessor's video path (Pillow), selectable per request with
// ProcessorOptions::backend like images. Each frame is resized with
// smart_resize to multiples of patch_size * merge_size within the VIDEO pixel
// limits, rescaled and normalised exactly as the image processor does (this
// class runs qwen2_vl::ImageProcessor on every frame, so both modalities share
// one arithmetic); the frame count is padded to a multiple of
// temporal_patch_size by repeating the last frame, and the frames are cut into
// patches in transformers' order:
//   pixel_values_videos [grid_t * grid_h * grid_w, C * T * P * P] float32,
//     row = (t, block_h, block_w, in-block h, in-block w),
//     column = (channel, frame within the temporal patch, py, px)
//   video_grid_thw      [1, 3] int64 = {grid_t, grid_h, grid_w}
//   num_tokens          grid_t * grid_h * grid_w / merge_size^2
//
// Settings come from the checkpoint's video_preprocessor_config.json when it
// exists, else from preprocessor_config.json (transformers' fallback). The
// pixel limits are resolved as Qwen2VLVideoProcessor.__init__ does: top-level
// min_pixels / max_pixels win over size.shortest_edge / size.longest_edge,
// and without either the video defaults apply (128*28*28 and 28*28*768, not
// the image defaults). So a checkpoint with only Qwen2-VL-7B-Instruct's
// preprocessor_config.json uses its min_pixels 3136 / max_pixels 12845056 for
// video as well.
#pragma once

#include <memory>
#include <vector>

#include "media/frame_selection.h"
#include "media/image.h"
#include "models/model.h"
#include "models/qwen2_vl/image_processor.h"
#include "models/qwen2_vl/image_processor_config.h"

namespace eric::models::qwen2_vl {

struct VideoProcessorConfig {
  // Resize / rescale / normalise / patch settings (the image processor's keys,
  // read from the resolved video config), with min_pixels / max_pixels
  // holding the VIDEO limits.
  ImageProcessorConfig frames;
  // Frame sampling settings of transformers' video processor (fps mode).
  double fps = 2.0;
  int64_t min_frames = 4;
  int64_t max_frames = 768;
  bool do_sample_frames = false;  // transformers' default for these models

  static constexpr int64_t kDefaultMinPixels = 128 * 28 * 28;
  static constexpr int64_t kDefaultMaxPixels = 28 * 28 * 768;

  // `video_config` is video_preprocessor_config.json's content, or an empty
  // object / null when the checkpoint has none; then `image_config`
  // (preprocessor_config.json) is used.
  static Result<VideoProcessorConfig> resolve(const nlohmann::json& video_config, const nlohmann::json& image_config);
};

class VideoProcessor {
 public:
  // `default_backend` applies when a request leaves the backend at kDefault;
  // kDefault here means torchvision (transformers' Qwen2VLVideoProcessor).
  VideoProcessor(VideoProcessorConfig config, ImageProcessorBackend default_backend);

  // frames: the decoded frames in order (media::decode_video's output), all
  // of one size. options.min_pixels / max_pixels override the video limits
  // for this request; options.backend picks the arithmetic. Thread-safe;
  // frames are processed in parallel on ThreadPool::global().
  Result<ProcessedItem> process_video(const std::vector<media::RgbImage>& frames,
                                      const ProcessorOptions& options) const;

  // The frame selection transformers' fps mode would use with this
  // checkpoint's fps / min_frames / max_frames / temporal_patch_size, for
  // media::decode_video (Cornserve's default is FrameSelection{} instead:
  // linspace, at most 32 frames).
  media::FrameSelection fps_selection() const;

  const VideoProcessorConfig& config() const { return config_; }

 private:
  VideoProcessorConfig config_;
  ImageProcessor frame_processor_;
};

}  // namespace eric::models::qwen2_vl

namespace eric::models {

// For model_type qwen2_vl and qwen2_5_vl: the video processor of a checkpoint
// (ModelConfig::video_preprocessor_config, else preprocessor_config).
Result<std::unique_ptr<qwen2_vl::VideoProcessor>> make_qwen2_vl_video_processor(const ModelConfig& config);

}  // namespace eric::models
