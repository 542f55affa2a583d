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
#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/thread_pool.h"
#include "media/image_decoder.h"
#include "models/qwen2_vl/image_processor.h"

namespace {

using namespace eric;

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run(const std::string& image_path, const std::string& config_path, int iters) {
  std::ifstream in(image_path, std::ios::binary);
  if (!in) {
    fmt::print(stderr, "cannot read {}\n", image_path);
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();

  models::ModelConfig mc;
  mc.model_type = "qwen2_vl";
  mc.preprocessor_config = nlohmann::json::object();
  if (!config_path.empty()) {
    std::ifstream cf(config_path);
    mc.preprocessor_config = nlohmann::json::parse(cf);
  }
  auto processor = models::make_qwen2_vl_image_processor(mc);
  if (!processor.ok()) {
    fmt::print(stderr, "{}\n", processor.status().to_string());
    return 1;
  }
  for (auto backend : {models::ImageProcessorBackend::kPillow, models::ImageProcessorBackend::kTorchvision}) {
    models::ProcessorOptions options;
    options.backend = backend;
    std::vector<double> total, decode, process;
    std::string shape;
    for (int i = 0; i < iters + 1; ++i) {  // the first run warms caches and is not counted
      const double t0 = now_ms();
      auto image = media::decode_image(bytes);
      const double t1 = now_ms();
      if (!image.ok()) {
        fmt::print(stderr, "{}\n", image.status().to_string());
        return 1;
      }
      auto item = (*processor)->process_image(*image, options);
      const double t2 = now_ms();
      if (!item.ok()) {
        fmt::print(stderr, "{}\n", item.status().to_string());
        return 1;
      }
      shape = item->find("pixel_values")->shape().to_string();
      if (i == 0) continue;
      total.push_back(t2 - t0);
      decode.push_back(t1 - t0);
      process.push_back(t2 - t1);
    }
    fmt::print("eric_ms backend={} total={:.2f} decode={:.2f} process={:.2f} pixel_values={}\n",
               backend == models::ImageProcessorBackend::kPillow ? "pillow" : "torchvision", median(total),
               median(decode), median(process), shape);
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
