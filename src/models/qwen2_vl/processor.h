// The processor both Qwen2-VL and Qwen2.5-VL register: images through
// qwen2_vl::ImageProcessor (preprocessor_config.json) and videos through
// qwen2_vl::VideoProcessor (video_preprocessor_config.json, else
// preprocessor_config.json), behind the one ModalityProcessor the CLI, the
// router and the engine see.
#pragma once

#include <memory>

#include "models/model.h"
#include "models/qwen2_vl/image_processor.h"
#include "models/qwen2_vl/video_processor.h"

namespace eric::models::qwen2_vl {

class Processor final : public ModalityProcessor {
 public:
  Processor(std::unique_ptr<ModalityProcessor> image, std::unique_ptr<VideoProcessor> video);

  std::vector<Modality> modalities() const override { return {Modality::kImage, Modality::kVideo}; }
  Result<ProcessedItem> process_image(const media::RgbImage& image, const ProcessorOptions& options) const override;

  // Without `fps`: Cornserve's linspace selection of at most max_num_frames
  // (default 32). With `fps`: transformers' fps sampling, min_frames /
  // max_frames defaulting to the video config's, frames rounded to a
  // multiple of temporal_patch_size. Mixing the two is InvalidArgument.
  Result<media::FrameSelection> video_frame_selection(const VideoSamplingOptions& sampling) const override;
  Result<ProcessedItem> process_video(const std::vector<media::RgbImage>& frames,
                                      const ProcessorOptions& options) const override;

 private:
  std::unique_ptr<ModalityProcessor> image_;
  std::unique_ptr<VideoProcessor> video_;
};

}  // namespace eric::models::qwen2_vl

namespace eric::models {

// For model_type qwen2_vl and qwen2_5_vl (ModelFamily::make_processor).
Result<std::unique_ptr<ModalityProcessor>> make_qwen2_vl_processor(const ModelConfig& config);

}  // namespace eric::models
