// Video preprocessing benchmark: eric's time to turn one video file (usually
// a 30 s 720p H.264 clip) into Qwen2-VL pixel_values_videos — demux + decode
// up to the last selected frame + RGB conversion of the selected frames
// (Cornserve's selection: at most 32 frames by linspace) + smart_resize +
// bicubic resize + rescale/normalise + patchify — with each stage timed.
//
//   video_preprocess_bench --video FILE [--preprocessor-config F] [--video-config F]
//                          [--iters N] [--threads N] [--max-num-frames N]
//
// --threads 1 runs everything on the calling thread (FFmpeg's decoder and
// eric's pool); 0 lets both use every core. Prints lines parsed by
// bench/run_video_preprocess_bench.sh:
//   eric_ms backend=... threads=... total=... decode=... process=... frames=... pixel_values_videos=[N, D]
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/thread_pool.h"
#include "media/video_decoder.h"
#include "models/qwen2_vl/video_processor.h"

namespace {

using namespace eric;

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

nlohmann::json read_json(const std::string& path) {
  if (path.empty()) return nlohmann::json::object();
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

int run(const std::string& video_path, const std::string& pp_path, const std::string& vpp_path, int iters,
        int threads, int max_num_frames) {
  std::ifstream in(video_path, std::ios::binary);
  if (!in) {
    fmt::print(stderr, "cannot read {}\n", video_path);
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();

  models::ModelConfig mc;
  mc.model_type = "qwen2_vl";
  mc.preprocessor_config = read_json(pp_path);
  mc.video_preprocessor_config = read_json(vpp_path);
  auto processor = models::make_qwen2_vl_video_processor(mc);
  if (!processor.ok()) {
    fmt::print(stderr, "{}\n", processor.status().to_string());
    return 1;
  }
  media::FrameSelection selection;
  selection.max_num_frames = max_num_frames;
  media::VideoDecodeOptions decode_options;
  decode_options.threads = threads;
  for (auto backend : {models::ImageProcessorBackend::kPillow, models::ImageProcessorBackend::kTorchvision}) {
    models::ProcessorOptions options;
    options.backend = backend;
    std::vector<double> total, decode, process;
    std::string shape;
    size_t frames = 0;
    for (int i = 0; i < iters + 1; ++i) {  // the first run warms caches and is not counted
      const double t0 = now_ms();
      auto video = media::decode_video(bytes, selection, decode_options);
      const double t1 = now_ms();
      if (!video.ok()) {
        fmt::print(stderr, "{}\n", video.status().to_string());
        return 1;
      }
      auto item = (*processor)->process_video(video->frames, options);
      const double t2 = now_ms();
      if (!item.ok()) {
        fmt::print(stderr, "{}\n", item.status().to_string());
        return 1;
      }
      shape = item->find("pixel_values_videos")->shape().to_string();
      frames = video->frames.size();
      if (i == 0) continue;
      total.push_back(t2 - t0);
      decode.push_back(t1 - t0);
      process.push_back(t2 - t1);
    }
    fmt::print("eric_ms backend={} threads={} total={:.1f} decode={:.1f} process={:.1f} frames={} "
               "pixel_values_videos={}\n",
               backend == models::ImageProcessorBackend::kPillow ? "pillow" : "torchvision",
               threads == 0 ? static_cast<int>(std::thread::hardware_concurrency()) : threads, median(total),
               median(decode), median(process), frames, shape);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"eric video preprocessing benchmark"};
  std::string video, pp, vpp;
  int iters = 3, threads = 1, max_num_frames = 32;
  app.add_option("--video", video, "video file")->required();
  app.add_option("--preprocessor-config", pp, "preprocessor_config.json (default: none)");
  app.add_option("--video-config", vpp, "video_preprocessor_config.json (default: none)");
  app.add_option("--iters", iters, "timed runs (median reported)");
  app.add_option("--threads", threads, "1: single thread; 0: all cores (FFmpeg decoder and eric's pool)");
  app.add_option("--max-num-frames", max_num_frames, "Cornserve's max_num_frames (linspace selection)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) eric::ThreadPool::set_global_threads(threads);
  return run(video, pp, vpp, std::max(1, iters), threads, max_num_frames);
}
