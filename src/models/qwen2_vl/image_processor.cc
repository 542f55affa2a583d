#include "models/qwen2_vl/image_processor.h"

#include <algorithm>
#include <cstring>

#include "media/resample.h"
#include "models/qwen2_vl/smart_resize.h"

namespace eric::models::qwen2_vl {

namespace {
// Largest resized image a request may ask for (unless the model's own
// max_pixels is larger): 64 Mpx, five times Qwen2-VL's default maximum.
constexpr int64_t kMaxResizedPixels = int64_t{1} << 26;
}  // namespace

ImageProcessor::ImageProcessor(ImageProcessorConfig config, ImageProcessorBackend default_backend)
    : config_(config),
      default_backend_(default_backend == ImageProcessorBackend::kDefault ? ImageProcessorBackend::kTorchvision
                                                                          : default_backend),
      pillow_lut_(make_pillow_lut(config)),
      torchvision_lut_(make_torchvision_lut(config)) {}

// transformers' numpy path: rescale() multiplies in float64 and casts to
// float32; normalize() subtracts and divides by float32 mean/std.
ImageProcessor::ChannelLut ImageProcessor::make_pillow_lut(const ImageProcessorConfig& c) {
  ChannelLut lut;
  for (int ch = 0; ch < 3; ++ch) {
    const float mean = static_cast<float>(c.image_mean[ch]);
    const float std = static_cast<float>(c.image_std[ch]);
    for (int v = 0; v < 256; ++v) {
      float x = c.do_rescale ? static_cast<float>(static_cast<double>(v) * c.rescale_factor) : static_cast<float>(v);
      if (c.do_normalize) x = (x - mean) / std;
      lut[ch][v] = x;
    }
  }
  return lut;
}

// transformers' fast path (BaseImageProcessorFast.rescale_and_normalize):
// with both steps on, mean and std are divided by the rescale factor
// (float32 tensors times the Python float 1/rescale_factor) and the uint8
// values, cast to float32, are normalised with them in one step.
ImageProcessor::ChannelLut ImageProcessor::make_torchvision_lut(const ImageProcessorConfig& c) {
  ChannelLut lut;
  const float inv_rescale = static_cast<float>(1.0 / c.rescale_factor);
  for (int ch = 0; ch < 3; ++ch) {
    float mean = static_cast<float>(c.image_mean[ch]);
    float std = static_cast<float>(c.image_std[ch]);
    if (c.do_rescale && c.do_normalize) {
      mean = mean * inv_rescale;
      std = std * inv_rescale;
    }
    for (int v = 0; v < 256; ++v) {
      float x = static_cast<float>(v);
      if (c.do_normalize) {
        x = (x - mean) / std;
      } else if (c.do_rescale) {
        x = x * static_cast<float>(c.rescale_factor);
      }
      lut[ch][v] = x;
    }
  }
  return lut;
}

Result<ProcessedItem> ImageProcessor::process_image(const media::RgbImage& image,
                                                    const ProcessorOptions& options) const {
  if (image.empty() || image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return InvalidArgument("qwen2_vl image processor: invalid image {}x{} with {} bytes", image.width, image.height,
                           image.pixels.size());
  }
  int64_t min_pixels = config_.min_pixels;
  int64_t max_pixels = config_.max_pixels;
  if (options.min_pixels) {
    if (*options.min_pixels <= 0) return InvalidArgument("min_pixels must be positive, got {}", *options.min_pixels);
    min_pixels = *options.min_pixels;
  }
  if (options.max_pixels) {
    if (*options.max_pixels <= 0) return InvalidArgument("max_pixels must be positive, got {}", *options.max_pixels);
    max_pixels = *options.max_pixels;
  }
  if (min_pixels > max_pixels) {
    return InvalidArgument("min_pixels ({}) must not exceed max_pixels ({})", min_pixels, max_pixels);
  }
  // A per-request min_pixels could otherwise ask for an arbitrarily large
  // resize (pixel_values take 24 bytes per pixel).
  if (options.min_pixels && min_pixels > std::max(kMaxResizedPixels, config_.max_pixels)) {
    return InvalidArgument("min_pixels {} exceeds the limit of {} pixels", min_pixels,
                           std::max(kMaxResizedPixels, config_.max_pixels));
  }
  const ImageProcessorBackend backend =
      options.backend == ImageProcessorBackend::kDefault ? default_backend_ : options.backend;

  const int64_t patch = config_.patch_size;
  const int64_t merge = config_.merge_size;
  const int64_t temporal = config_.temporal_patch_size;
  const int64_t factor = patch * merge;

  media::RgbImage resized_storage;
  const media::RgbImage* resized = &image;
  if (config_.do_resize) {
    ERIC_ASSIGN_OR_RETURN(ResizedSize size, smart_resize(image.height, image.width, factor, min_pixels, max_pixels));
    if (size.height * size.width > std::max(kMaxResizedPixels, config_.max_pixels) + factor * factor +
                                         factor * (size.height + size.width)) {
      return ResourceExhausted("resized image {}x{} would exceed the limit of {} pixels", size.width, size.height,
                               std::max(kMaxResizedPixels, config_.max_pixels));
    }
    if (size.height != image.height || size.width != image.width) {
      const int w = static_cast<int>(size.width), h = static_cast<int>(size.height);
      if (backend == ImageProcessorBackend::kPillow) {
        ERIC_ASSIGN_OR_RETURN(resized_storage, media::resize_pillow(image, w, h, config_.resample));
      } else {
        ERIC_ASSIGN_OR_RETURN(resized_storage, media::resize_torchvision_aa(image, w, h, config_.resample));
      }
      resized = &resized_storage;
    }
  }
  const int64_t height = resized->height, width = resized->width;
  if (height % factor != 0 || width % factor != 0) {
    return InvalidArgument("image {}x{} is not a multiple of patch_size * merge_size = {} (do_resize is off)", width,
                           height, factor);
  }

  const int64_t grid_t = 1;  // one image, repeated to fill temporal_patch_size frames
  const int64_t grid_h = height / patch, grid_w = width / patch;
  const int64_t rows = grid_t * grid_h * grid_w;
  const int64_t plane = patch * patch;
  const int64_t cols = 3 * temporal * plane;
  ERIC_ASSIGN_OR_RETURN(Tensor pixel_values, Tensor::empty(DType::kF32, {rows, cols}));
  const ChannelLut& lut = backend == ImageProcessorBackend::kPillow ? pillow_lut_ : torchvision_lut_;

  // transformers: reshape to (t, T, C, gh/m, m, P, gw/m, m, P), permute to
  // (t, gh/m, gw/m, m, m, C, T, P, P) and flatten: row = (block_h, block_w,
  // in-block h, in-block w), column = (channel, frame, py, px).
  float* out = pixel_values.mutable_data<float>();
  for (int64_t bh = 0; bh < grid_h / merge; ++bh) {
    for (int64_t bw = 0; bw < grid_w / merge; ++bw) {
      for (int64_t mh = 0; mh < merge; ++mh) {
        for (int64_t mw = 0; mw < merge; ++mw) {
          const int64_t y0 = (bh * merge + mh) * patch;
          const int64_t x0 = (bw * merge + mw) * patch;
          for (int c = 0; c < 3; ++c) {
            float* dst_c = out + c * temporal * plane;
            const auto& table = lut[c];
            for (int64_t py = 0; py < patch; ++py) {
              const uint8_t* src = resized->row(static_cast<int>(y0 + py)) + x0 * 3 + c;
              float* d = dst_c + py * patch;
              for (int64_t px = 0; px < patch; ++px) d[px] = table[src[px * 3]];
            }
            for (int64_t t = 1; t < temporal; ++t) std::memcpy(dst_c + t * plane, dst_c, plane * sizeof(float));
          }
          out += cols;
        }
      }
    }
  }

  ProcessedItem item;
  item.modality = Modality::kImage;
  ERIC_ASSIGN_OR_RETURN(Tensor grid, Tensor::from_vector<int64_t>({grid_t, grid_h, grid_w}, {1, 3}));
  item.tensors.emplace_back("pixel_values", std::move(pixel_values));
  item.tensors.emplace_back("image_grid_thw", std::move(grid));
  item.num_tokens = grid_t * grid_h * grid_w / (merge * merge);
  return item;
}

}  // namespace eric::models::qwen2_vl

namespace eric::models {

Result<std::unique_ptr<ModalityProcessor>> make_qwen2_vl_image_processor(const ModelConfig& config) {
  auto parsed = qwen2_vl::ImageProcessorConfig::from_json(config.preprocessor_config);
  if (!parsed.ok()) return parsed.status().with_context(config.dir);
  return std::unique_ptr<ModalityProcessor>(
      new qwen2_vl::ImageProcessor(*parsed, ImageProcessorBackend::kTorchvision));
}

}  // namespace eric::models
