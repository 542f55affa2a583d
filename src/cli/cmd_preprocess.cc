// `eric preprocess`: runs a model's image processor on one image and writes
// exactly the tensors the encoder would get (pixel_values, image_grid_thw) to
// a safetensors file. A debugging and verification tool: the CLI is trusted,
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
  std::string backend;
  std::optional<int64_t> min_pixels;
  std::optional<int64_t> max_pixels;
  std::string out;
};

Status run_preprocess(const PreprocessArgs& args) {
  ERIC_ASSIGN_OR_RETURN(models::LoadedModel model, models::load_model(args.model_dir, /*load_encoder=*/false));
  models::ProcessorOptions options;
  ERIC_ASSIGN_OR_RETURN(options.backend, models::image_processor_backend_from_string(args.backend));
  options.min_pixels = args.min_pixels;
  options.max_pixels = args.max_pixels;
  ERIC_ASSIGN_OR_RETURN(std::string bytes, read_media_argument(args.image));
  auto image = media::decode_image(bytes);
  if (!image.ok()) return image.status().with_context(args.image);
  ERIC_ASSIGN_OR_RETURN(models::ProcessedItem item, model.processor->process_image(*image, options));
  NamedTensors out;
  for (const char* name : {"pixel_values", "image_grid_thw"}) {
    const Tensor* t = item.find(name);
    if (t == nullptr) {
      return Unimplemented("model_type '{}' produces no '{}' for images", model.config.model_type, name);
    }
    out.emplace_back(name, *t);
  }
  ERIC_RETURN_IF_ERROR(write_safetensors(args.out, out));
  fmt::print("{}: pixel_values {}, image_grid_thw [{}], {} tokens -> {}\n", args.image,
             item.find("pixel_values")->shape().to_string(),
             fmt::format("{}, {}, {}", item.find("image_grid_thw")->data<int64_t>()[0],
                         item.find("image_grid_thw")->data<int64_t>()[1],
                         item.find("image_grid_thw")->data<int64_t>()[2]),
             item.num_tokens, args.out);
  return Status::Ok();
}

void add_preprocess_command(CLI::App& app) {
  auto args = std::make_shared<PreprocessArgs>();
  auto* cmd = app.add_subcommand("preprocess", "run a model's image processor on one image, write its tensors");
  cmd->add_option("--model", args->model_dir, "model folder (config.json, preprocessor_config.json)")->required();
  cmd->add_option("--image", args->image, "image file path, or http(s)://, data: or file:// URL")->required();
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
