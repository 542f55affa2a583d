// The Qwen2-VL / Qwen2.5-VL image processor: transformers' Qwen2VLImageProcessor
// (Pillow, "slow") and Qwen2VLImageProcessorFast (torchvision), selectable per
// request. Both: smart_resize to multiples of patch_size * merge_size, resize,
// rescale + normalise, repeat the frame to temporal_patch_size, and cut into
// patches ordered so that each merge_size x merge_size block is contiguous:
//   pixel_values   [grid_t * grid_h * grid_w, C * T * P * P] float32
//   image_grid_thw [1, 3] int64
//
// Accuracy. Pillow backend: pixel_values equal transformers' slow processor
// (restated in tools/reference/qwen2_vl_image_processor.py) to 0 absolute
// error on every golden; the resize is bit-exact with Pillow 9.4.
// torchvision backend: follows PyTorch's uint8 AVX2 kernel (int16 weights,
// uint8 between the passes) and the fused rescale+normalise; no torchvision
// is installed here, so it is checked against a float64 restatement: measured
// max |diff| 0.015 (one uint8 step, 1/(255*std)) in 0.3-0.6% of the values
// (156 and 334 of 56448 on the two goldens), and at most two steps in
// general (two passes). PyTorch's float path (GPU, CPUs without AVX2) does
// not round between the passes and differs from this backend by up to ~8
// steps next to hard black/white edges where bicubic overshoots.
#pragma once

#include <array>
#include <memory>

#include "models/model.h"
#include "models/qwen2_vl/image_processor_config.h"

namespace eric::models::qwen2_vl {

class ImageProcessor : public ModalityProcessor {
 public:
  // `default_backend` is used when a request leaves the backend at kDefault.
  ImageProcessor(ImageProcessorConfig config, ImageProcessorBackend default_backend);

  std::vector<Modality> modalities() const override { return {Modality::kImage}; }
  Result<ProcessedItem> process_image(const media::RgbImage& image, const ProcessorOptions& options) const override;

  const ImageProcessorConfig& config() const { return config_; }
  ImageProcessorBackend default_backend() const { return default_backend_; }

 private:
  // uint8 value -> normalised float, per channel: every possible input byte
  // computed once with the backend's exact arithmetic.
  using ChannelLut = std::array<std::array<float, 256>, 3>;
  static ChannelLut make_pillow_lut(const ImageProcessorConfig& c);
  static ChannelLut make_torchvision_lut(const ImageProcessorConfig& c);

  ImageProcessorConfig config_;
  ImageProcessorBackend default_backend_;
  ChannelLut pillow_lut_;
  ChannelLut torchvision_lut_;
};

}  // namespace eric::models::qwen2_vl

namespace eric::models {

// For model_type qwen2_vl and qwen2_5_vl: reads preprocessor_config.json.
// The default backend is torchvision, which transformers' AutoImageProcessor
// picks for these models (FORCE_FAST_IMAGE_PROCESSOR in 4.5x, the default in 5).
Result<std::unique_ptr<ModalityProcessor>> make_qwen2_vl_image_processor(const ModelConfig& config);

}  // namespace eric::models

namespace eric::models::qwen2_vl {
using ::eric::models::make_qwen2_vl_image_processor;
}  // namespace eric::models::qwen2_vl
