#include "models/qwen2_vl/video_processor.h"

#include <cstring>
#include <mutex>

#include "common/thread_pool.h"

namespace eric::models::qwen2_vl {

namespace {

bool has(const nlohmann::json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

Status read_positive(const nlohmann::json& j, const char* key, int64_t& out) {
  if (!has(j, key)) return Status::Ok();
  if (!j.at(key).is_number_integer() || j.at(key).get<int64_t>() <= 0) {
    return InvalidArgument("video processor config: '{}' must be a positive integer, got {}", key, j.at(key).dump());
  }
  out = j.at(key).get<int64_t>();
  return Status::Ok();
}

}  // namespace

Result<VideoProcessorConfig> VideoProcessorConfig::resolve(const nlohmann::json& video_config,
                                                           const nlohmann::json& image_config) {
  const bool use_video = video_config.is_object() && !video_config.empty();
  const nlohmann::json& j = use_video ? video_config : image_config;
  const char* source = use_video ? "video_preprocessor_config.json" : "preprocessor_config.json";
  if (!j.is_object()) return InvalidArgument("{} is not a JSON object", source);

  // The image processor's parser reads every shared key (and validates size);
  // its pixel limits fall back to the image defaults, so they are re-resolved
  // below with the video defaults.
  VideoProcessorConfig c;
  auto frames = ImageProcessorConfig::from_json(j);
  if (!frames.ok()) return frames.status().with_context(source);
  c.frames = *frames;
  c.frames.min_pixels = kDefaultMinPixels;
  c.frames.max_pixels = kDefaultMaxPixels;
  if (has(j, "size")) {
    ERIC_RETURN_IF_ERROR(read_positive(j.at("size"), "shortest_edge", c.frames.min_pixels));
    ERIC_RETURN_IF_ERROR(read_positive(j.at("size"), "longest_edge", c.frames.max_pixels));
  }
  ERIC_RETURN_IF_ERROR(read_positive(j, "min_pixels", c.frames.min_pixels));
  ERIC_RETURN_IF_ERROR(read_positive(j, "max_pixels", c.frames.max_pixels));
  if (c.frames.min_pixels > c.frames.max_pixels) {
    return InvalidArgument("{}: video min_pixels {} exceeds max_pixels {}", source, c.frames.min_pixels,
                           c.frames.max_pixels);
  }
  if (has(j, "fps")) {
    if (!j.at("fps").is_number() || !(j.at("fps").get<double>() > 0)) {
      return InvalidArgument("{}: 'fps' must be a positive number, got {}", source, j.at("fps").dump());
    }
    c.fps = j.at("fps").get<double>();
  }
  ERIC_RETURN_IF_ERROR(read_positive(j, "min_frames", c.min_frames));
  ERIC_RETURN_IF_ERROR(read_positive(j, "max_frames", c.max_frames));
  if (has(j, "do_sample_frames")) {
    if (!j.at("do_sample_frames").is_boolean()) {
      return InvalidArgument("{}: 'do_sample_frames' must be a boolean", source);
    }
    c.do_sample_frames = j.at("do_sample_frames").get<bool>();
  }
  return c;
}

VideoProcessor::VideoProcessor(VideoProcessorConfig config, ImageProcessorBackend default_backend)
    : config_(config),
      frame_processor_(config.frames, default_backend == ImageProcessorBackend::kDefault
                                          ? ImageProcessorBackend::kTorchvision
                                          : default_backend) {}

media::FrameSelection VideoProcessor::fps_selection() const {
  media::FrameSelection s;
  s.mode = media::FrameSelection::Mode::kFps;
  s.fps = config_.fps;
  s.min_frames = config_.min_frames;
  s.max_frames = config_.max_frames;
  s.frame_factor = config_.frames.temporal_patch_size;
  return s;
}

Result<ProcessedItem> VideoProcessor::process_video(const std::vector<media::RgbImage>& frames,
                                                    const ProcessorOptions& options) const {
  if (frames.empty()) return InvalidArgument("qwen2_vl video processor: the video has no frames");
  for (size_t i = 1; i < frames.size(); ++i) {
    if (frames[i].width != frames[0].width || frames[i].height != frames[0].height) {
      return InvalidArgument("qwen2_vl video processor: frame {} is {}x{} but frame 0 is {}x{}", i, frames[i].width,
                             frames[i].height, frames[0].width, frames[0].height);
    }
  }
  ProcessorOptions frame_options = options;
  if (!frame_options.min_pixels) frame_options.min_pixels = config_.frames.min_pixels;
  if (!frame_options.max_pixels) frame_options.max_pixels = config_.frames.max_pixels;

  const int64_t temporal = config_.frames.temporal_patch_size;
  const int64_t num_frames = static_cast<int64_t>(frames.size());
  const int64_t grid_t = (num_frames + temporal - 1) / temporal;  // last frame repeated to fill the final group

  // Frame 0 fixes the geometry (every frame has the same size, so the same
  // smart_resize result) and is reused for the output.
  std::vector<ProcessedItem> group_items(static_cast<size_t>(temporal));
  ERIC_ASSIGN_OR_RETURN(ProcessedItem first, frame_processor_.process_image(frames[0], frame_options));
  const Tensor& first_pv = *first.find("pixel_values");
  const Tensor& first_grid = *first.find("image_grid_thw");
  const int64_t grid_h = first_grid.data<int64_t>()[1];
  const int64_t grid_w = first_grid.data<int64_t>()[2];
  const int64_t rows_per_frame = grid_h * grid_w;
  const int64_t cols = first_pv.shape()[1];
  const int64_t plane = cols / (3 * temporal);  // P * P
  const int64_t merge = config_.frames.merge_size;

  ERIC_ASSIGN_OR_RETURN(Tensor pixel_values, Tensor::empty(DType::kF32, {grid_t * rows_per_frame, cols}));
  float* out = pixel_values.mutable_data<float>();

  // The image processor's output for one frame holds, per patch row, each
  // channel's P*P values repeated `temporal` times; the video takes the
  // first copy of frame (g*T + t) into slot t of temporal group g.
  auto place = [&](const Tensor& frame_pv, int64_t g, int64_t t) {
    const float* src = frame_pv.data<float>();
    for (int64_t r = 0; r < rows_per_frame; ++r) {
      const float* s = src + r * cols;
      float* d = out + (g * rows_per_frame + r) * cols;
      for (int64_t c = 0; c < 3; ++c) {
        std::memcpy(d + (c * temporal + t) * plane, s + c * temporal * plane, plane * sizeof(float));
      }
    }
  };

  Status failure = Status::Ok();
  std::mutex failure_mutex;
  ThreadPool::global().parallel_for(num_frames, 1, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; ++f) {
      const Tensor* pv = &first_pv;
      ProcessedItem item;
      if (f != 0) {
        auto r = frame_processor_.process_image(frames[static_cast<size_t>(f)], frame_options);
        if (!r.ok()) {
          std::lock_guard<std::mutex> lock(failure_mutex);
          failure = r.status().with_context("video frame " + std::to_string(f));
          return;
        }
        item = std::move(*r);
        pv = item.find("pixel_values");
      }
      place(*pv, f / temporal, f % temporal);
      // The padding frames of the last group repeat the last frame.
      if (f == num_frames - 1) {
        for (int64_t t = f % temporal + 1; t < temporal; ++t) place(*pv, f / temporal, t);
      }
    }
  });
  ERIC_RETURN_IF_ERROR(failure);

  ProcessedItem item;
  item.modality = Modality::kVideo;
  ERIC_ASSIGN_OR_RETURN(Tensor grid, Tensor::from_vector<int64_t>({grid_t, grid_h, grid_w}, {1, 3}));
  item.tensors.emplace_back("pixel_values_videos", std::move(pixel_values));
  item.tensors.emplace_back("video_grid_thw", std::move(grid));
  item.num_tokens = grid_t * grid_h * grid_w / (merge * merge);
  return item;
}

}  // namespace eric::models::qwen2_vl

namespace eric::models {

Result<std::unique_ptr<qwen2_vl::VideoProcessor>> make_qwen2_vl_video_processor(const ModelConfig& config) {
  auto parsed = qwen2_vl::VideoProcessorConfig::resolve(config.video_preprocessor_config, config.preprocessor_config);
  if (!parsed.ok()) return parsed.status().with_context(config.dir);
  return std::make_unique<qwen2_vl::VideoProcessor>(*parsed, ImageProcessorBackend::kTorchvision);
}

}  // namespace eric::models
