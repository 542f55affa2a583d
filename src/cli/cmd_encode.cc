// `eric encode`: preprocesses images or videos and runs the model's encoder
// in-process (all items in one batch; one modality per run, as the server
// never mixes them), writing embeddings_0, embeddings_1, ... (float32) to a
// safetensors file. With --inputs, the encoder takes pixel_values and
// image_grid_thw from a safetensors file instead (one image per grid row),
// which checks the encoder against golden data without the preprocessing.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/media_argument.h"
#include "media/image_decoder.h"
#include "media/media_loader.h"
#include "models/loaded_model.h"
#include "tensor/safetensors.h"

namespace eric::cli {

namespace {

struct EncodeArgs {
  std::string model_dir;
  std::vector<std::string> images;
  std::vector<std::string> videos;
  models::VideoSamplingOptions sampling;
  std::string inputs;
  std::string backend;
  std::optional<int64_t> min_pixels;
  std::optional<int64_t> max_pixels;
  std::string out;
  std::string device = "cpu";
  std::string cuda_dtype = "bf16";
  std::string cuda_memory_limit;
};

// One ProcessedItem per row of image_grid_thw, slicing pixel_values (or, for
// a file `eric preprocess --video` wrote, video_grid_thw and
// pixel_values_videos).
Result<std::vector<models::ProcessedItem>> items_from_inputs(const std::string& path) {
  ERIC_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  const auto names = file.names();
  const bool video = std::find(names.begin(), names.end(), "pixel_values") == names.end() &&
                     std::find(names.begin(), names.end(), "pixel_values_videos") != names.end();
  const char* pixels_name = video ? "pixel_values_videos" : "pixel_values";
  const char* grid_name = video ? "video_grid_thw" : "image_grid_thw";
  ERIC_ASSIGN_OR_RETURN(Tensor pixels, file.get(pixels_name));
  ERIC_ASSIGN_OR_RETURN(Tensor grid, file.get(grid_name));
  ERIC_ASSIGN_OR_RETURN(grid, grid.to(DType::kI64));
  if (grid.rank() != 2 || grid.dim(1) != 3) {
    return InvalidArgument("{}: {} must be [n, 3], got {}", path, grid_name, grid.shape().to_string());
  }
  ERIC_ASSIGN_OR_RETURN(pixels, pixels.to(DType::kF32));
  std::vector<models::ProcessedItem> items;
  int64_t row = 0;
  for (int64_t i = 0; i < grid.dim(0); ++i) {
    const int64_t* g = grid.data<int64_t>() + 3 * i;
    const int64_t n = g[0] * g[1] * g[2];
    if (row + n > pixels.dim(0)) {
      return InvalidArgument("{}: {} has {} rows, fewer than the grids need", path, pixels_name, pixels.dim(0));
    }
    models::ProcessedItem item;
    item.modality = video ? models::Modality::kVideo : models::Modality::kImage;
    ERIC_ASSIGN_OR_RETURN(Tensor px, pixels.slice(0, row, row + n));
    ERIC_ASSIGN_OR_RETURN(Tensor gi, grid.slice(0, i, i + 1));
    ERIC_ASSIGN_OR_RETURN(gi, gi.clone());
    item.tensors.emplace_back(pixels_name, px);
    item.tensors.emplace_back(grid_name, gi);
    items.push_back(std::move(item));
    row += n;
  }
  if (row != pixels.dim(0)) {
    return InvalidArgument("{}: {} has {} rows, the grids cover {}", path, pixels_name, pixels.dim(0), row);
  }
  return items;
}

Status run_encode(const EncodeArgs& args) {
  const int sources = int(!args.images.empty()) + int(!args.videos.empty()) + int(!args.inputs.empty());
  if (sources != 1) return InvalidArgument("give exactly one of --image (repeatable), --video (repeatable) or --inputs");
  models::EncoderOptions encoder_options;
  ERIC_ASSIGN_OR_RETURN(models::DeviceOptions device,
                        models::parse_device_options(args.device, args.cuda_dtype, args.cuda_memory_limit));
  encoder_options.set_device(device);
  ERIC_ASSIGN_OR_RETURN(models::LoadedModel model,
                        models::load_model(args.model_dir, /*load_encoder=*/true, encoder_options));
  std::vector<models::ProcessedItem> items;
  if (!args.inputs.empty()) {
    ERIC_ASSIGN_OR_RETURN(items, items_from_inputs(args.inputs));
  } else {
    models::ProcessorOptions options;
    ERIC_ASSIGN_OR_RETURN(options.backend, models::image_processor_backend_from_string(args.backend));
    options.min_pixels = args.min_pixels;
    options.max_pixels = args.max_pixels;
    for (const auto& path : args.videos) {
      ERIC_ASSIGN_OR_RETURN(models::ProcessedItem item,
                            preprocess_video_argument(*model.processor, path, args.sampling, options));
      items.push_back(std::move(item));
    }
    for (const auto& path : args.images) {
      ERIC_ASSIGN_OR_RETURN(std::string bytes, read_media_argument(path));
      auto image = media::decode_image(bytes);
      if (!image.ok()) return image.status().with_context(path);
      auto item = model.processor->process_image(*image, options);
      if (!item.ok()) return item.status().with_context(path);
      items.push_back(*std::move(item));
    }
  }
  std::vector<const models::ProcessedItem*> batch;
  for (const auto& item : items) batch.push_back(&item);
  const auto start = std::chrono::steady_clock::now();
  ERIC_ASSIGN_OR_RETURN(std::vector<Tensor> embeddings, model.encoder->encode(batch));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  NamedTensors out;
  for (size_t i = 0; i < embeddings.size(); ++i) {
    fmt::print("embeddings_{}: {}\n", i, embeddings[i].shape().to_string());
    out.emplace_back(fmt::format("embeddings_{}", i), embeddings[i]);
  }
  ERIC_RETURN_IF_ERROR(write_safetensors(args.out, out));
  fmt::print("encoded {} item{} in {:.3f} s -> {}\n", items.size(), items.size() == 1 ? "" : "s", seconds, args.out);
  return Status::Ok();
}

void add_encode_command(CLI::App& app) {
  auto args = std::make_shared<EncodeArgs>();
  auto* cmd = app.add_subcommand("encode", "preprocess images or videos and run the model's encoder, write the embeddings");
  cmd->add_option("--model", args->model_dir, "model folder (config.json, safetensors)")->required();
  cmd->add_option("--image", args->images, "image path, or http(s)://, data: or file:// URL (repeatable)");
  cmd->add_option("--video", args->videos,
                  "video path, or http(s)://, data: (incl. data:video/jpeg;base64,f1,f2,...) or file:// URL (repeatable)");
  add_video_sampling_options(cmd, args->sampling);
  cmd->add_option("--inputs", args->inputs, "safetensors with pixel_values and image_grid_thw, or pixel_values_videos and video_grid_thw (skips preprocessing)");
  cmd->add_option("--image-processor-backend", args->backend, "pillow or torchvision");
  cmd->add_option("--min-pixels", args->min_pixels, "override the processor's min_pixels");
  cmd->add_option("--max-pixels", args->max_pixels, "override the processor's max_pixels");
  cmd->add_option("--out", args->out, "output .safetensors file")->required();
  cmd->add_option("--device", args->device, "run the encoder on cpu or cuda (GPU 0)")->capture_default_str();
  cmd->add_option("--cuda-dtype", args->cuda_dtype, "weights and activations on the GPU: bf16 or f32")
      ->capture_default_str();
  cmd->add_option("--cuda-memory-limit", args->cuda_memory_limit,
                  "GPU memory the encoder may hold: a size (20GiB, 512MiB; a bare number is GiB) or a share of "
                  "the card (40%); default: no limit; needs --device cuda");
  cmd->callback([args] {
    Status st = run_encode(*args);
    if (!st.ok()) fail(st);
  });
}

}  // namespace

ERIC_REGISTER_COMMAND(add_encode_command);

}  // namespace eric::cli
