// `eric preprocess`: runs a model's processor on one image or one video and
// writes exactly the tensors the encoder would get (pixel_values and
// image_grid_thw, or pixel_values_videos and video_grid_thw) to a safetensors
// file. A debugging and verification tool: the CLI is trusted,
// so a plain path (no URL scheme) is read directly from the local disk.
#include <fmt/format.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "cli/media_argument.h"
#include "media/image_decoder.h"
#include "media/media_loader.h"
#include "models/loaded_model.h"
#include "tensor/safetensors.h"

namespace eric::cli {

namespace {

struct PreprocessArgs {
  std::string model_dir;
  std::string image;
  std::string video;
  models::VideoSamplingOptions sampling;
  std::string backend;
  std::optional<int64_t> min_pixels;
  std::optional<int64_t> max_pixels;
  std::string out;
};

Status run_preprocess(const PreprocessArgs& args) {
  if (args.image.empty() == args.video.empty()) return InvalidArgument("give either --image or --video");
  ERIC_ASSIGN_OR_RETURN(models::LoadedModel model, models::load_model(args.model_dir, /*load_encoder=*/false));
  models::ProcessorOptions options;
  ERIC_ASSIGN_OR_RETURN(options.backend, models::image_processor_backend_from_string(args.backend));
  options.min_pixels = args.min_pixels;
  options.max_pixels = args.max_pixels;
  const bool is_video = !args.video.empty();
  const std::string& input = is_video ? args.video : args.image;
  models::ProcessedItem item;
  if (is_video) {
    ERIC_ASSIGN_OR_RETURN(item, preprocess_video_argument(*model.processor, args.video, args.sampling, options));
  } else {
    ERIC_ASSIGN_OR_RETURN(std::string bytes, read_media_argument(args.image));
    auto image = media::decode_image(bytes);
    if (!image.ok()) return image.status().with_context(args.image);
    ERIC_ASSIGN_OR_RETURN(item, model.processor->process_image(*image, options));
  }
  const char* pixels_name = is_video ? "pixel_values_videos" : "pixel_values";
  const char* grid_name = is_video ? "video_grid_thw" : "image_grid_thw";
  NamedTensors out;
  for (const char* name : {pixels_name, grid_name}) {
    const Tensor* t = item.find(name);
    if (t == nullptr) {
      return Unimplemented("model_type '{}' produces no '{}' for {}", model.config.model_type, name,
                           is_video ? "videos" : "images");
    }
    out.emplace_back(name, *t);
  }
  ERIC_RETURN_IF_ERROR(write_safetensors(args.out, out));
  const int64_t* g = item.find(grid_name)->data<int64_t>();
  fmt::print("{}: {} {}, {} [{}, {}, {}], {} tokens -> {}\n", input, pixels_name,
             item.find(pixels_name)->shape().to_string(), grid_name, g[0], g[1], g[2], item.num_tokens, args.out);
  return Status::Ok();
}

void add_preprocess_command(CLI::App& app) {
  auto args = std::make_shared<PreprocessArgs>();
  auto* cmd = app.add_subcommand("preprocess", "run a model's processor on one image or video, write its tensors");
  cmd->add_option("--model", args->model_dir, "model folder (config.json, preprocessor_config.json)")->required();
  auto* image = cmd->add_option("--image", args->image, "image file path, or http(s)://, data: or file:// URL");
  auto* video = cmd->add_option("--video", args->video,
                                "video file path, or http(s)://, data: (incl. data:video/jpeg;base64,f1,f2,...) "
                                "or file:// URL");
  image->excludes(video);
  add_video_sampling_options(cmd, args->sampling);
  cmd->add_option("--image-processor-backend", args->backend,
                  "pillow or torchvision (default: what transformers picks for the model)");
  cmd->add_option("--min-pixels", args->min_pixels, "override the processor's min_pixels");
  cmd->add_option("--max-pixels", args->max_pixels, "override the processor's max_pixels");
  cmd->add_option("--out", args->out, "output .safetensors file")->required();
  cmd->callback([args] {
    Status st = run_preprocess(*args);
    if (!st.ok()) fail(st);
  });
}

}  // namespace

ERIC_REGISTER_COMMAND(add_preprocess_command);

}  // namespace eric::cli
