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
#include <optional>
#include <string>
#include <thread>

#include "bench_util.h"
#include "common/thread_pool.h"
#include "media/video_decoder.h"
#include "models/qwen2_vl/video_processor.h"

namespace {

using namespace eric;

int run(const std::string& video_path, const std::string& pp_path, const std::string& vpp_path, int iters,
        int threads, int max_num_frames) {
  auto bytes = bench::read_file(video_path);
  if (bench::report_failure(bytes.status())) return 1;
  models::ModelConfig mc;
  mc.model_type = "qwen2_vl";
  mc.preprocessor_config = bench::read_json(pp_path);
  mc.video_preprocessor_config = bench::read_json(vpp_path);
  auto processor = models::make_qwen2_vl_video_processor(mc);
  if (bench::report_failure(processor.status())) return 1;
  media::FrameSelection selection;
  selection.max_num_frames = max_num_frames;
  media::VideoDecodeOptions decode_options;
  decode_options.threads = threads;
  for (auto backend : {models::ImageProcessorBackend::kPillow, models::ImageProcessorBackend::kTorchvision}) {
    models::ProcessorOptions options;
    options.backend = backend;
    std::optional<media::DecodedVideo> video;
    std::string shape;
    auto times = bench::time_decode_process(
        iters,
        [&]() -> Status {
          auto decoded = media::decode_video(*bytes, selection, decode_options);
          if (!decoded.ok()) return decoded.status();
          video = std::move(decoded).value();
          return Status::Ok();
        },
        [&]() -> Status {
          auto item = (*processor)->process_video(video->frames, options);
          if (!item.ok()) return item.status();
          shape = item->find("pixel_values_videos")->shape().to_string();
          return Status::Ok();
        });
    if (bench::report_failure(times.status())) return 1;
    fmt::print("eric_ms backend={} threads={} total={:.1f} decode={:.1f} process={:.1f} frames={} "
               "pixel_values_videos={}\n",
               bench::backend_name(backend),
               threads == 0 ? static_cast<int>(std::thread::hardware_concurrency()) : threads, times->total,
               times->decode, times->process, video->frames.size(), shape);
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
