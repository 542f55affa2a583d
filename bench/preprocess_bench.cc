// Image preprocessing benchmark: eric's single-thread time to turn one JPEG
// (usually 1920x1080) into Qwen2-VL pixel_values — decode + smart_resize +
// bicubic resize + rescale/normalise + patchify — with each stage timed too.
//
//   preprocess_bench --image FILE.jpg [--model-config preprocessor_config.json] [--iters N]
//
// Prints lines parsed by bench/run_preprocess_bench.sh:
//   eric_ms backend=pillow total=... decode=... process=... pixel_values=[N, D]
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <optional>
#include <string>

#include "bench_util.h"
#include "common/thread_pool.h"
#include "media/image_decoder.h"
#include "models/qwen2_vl/image_processor.h"

namespace {

using namespace eric;

int run(const std::string& image_path, const std::string& config_path, int iters) {
  auto bytes = bench::read_file(image_path);
  if (bench::report_failure(bytes.status())) return 1;
  models::ModelConfig mc;
  mc.model_type = "qwen2_vl";
  mc.preprocessor_config = bench::read_json(config_path);
  auto processor = models::make_qwen2_vl_image_processor(mc);
  if (bench::report_failure(processor.status())) return 1;
  for (auto backend : {models::ImageProcessorBackend::kPillow, models::ImageProcessorBackend::kTorchvision}) {
    models::ProcessorOptions options;
    options.backend = backend;
    std::optional<media::RgbImage> image;
    std::string shape;
    auto times = bench::time_decode_process(
        iters,
        [&]() -> Status {
          auto decoded = media::decode_image(*bytes);
          if (!decoded.ok()) return decoded.status();
          image = std::move(decoded).value();
          return Status::Ok();
        },
        [&]() -> Status {
          auto item = (*processor)->process_image(*image, options);
          if (!item.ok()) return item.status();
          shape = item->find("pixel_values")->shape().to_string();
          return Status::Ok();
        });
    if (bench::report_failure(times.status())) return 1;
    fmt::print("eric_ms backend={} total={:.2f} decode={:.2f} process={:.2f} pixel_values={}\n",
               bench::backend_name(backend), times->total, times->decode, times->process, shape);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"eric image preprocessing benchmark (single thread)"};
  std::string image, config;
  int iters = 10;
  app.add_option("--image", image, "JPEG file")->required();
  app.add_option("--model-config", config, "preprocessor_config.json (default: transformers' defaults)");
  app.add_option("--iters", iters, "timed runs (median reported)");
  CLI11_PARSE(app, argc, argv);
  eric::ThreadPool::set_global_threads(1);
  return run(image, config, std::max(1, iters));
}
