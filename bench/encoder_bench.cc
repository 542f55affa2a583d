// Vision-encoder benchmark: times eric's encoder on one checkpoint (usually
// `eric make-test-model --dims real`) for square images of the given sizes,
// counts the FLOPs of every matmul and attention product, and measures plain
// SGEMM on this machine in the same run, so the encoder's GFLOP/s can be read
// against what the GEMM alone reaches.
//
//   encoder_bench --model DIR [--size 448 --size 1024] [--threads N] [--iters K]
//                 [--device cpu|cuda] [--cuda-dtype bf16|f32]
// (with --device cuda the times include the upload and download; the op
// profile and the SGEMM fraction describe the CPU only and are left out;
// bench/cuda_encoder_check measures the GPU towers against the GPU's GEMM).
//
// Prints one line per size:
//   eric_ms_per_image=... gflops=... size=... (parsed by bench/run_encoder_bench.sh)
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <random>

#include "backend/cpu/op_profile.h"
#include "backend/cpu/ops.h"
#include "common/thread_pool.h"
#include "models/loaded_model.h"
#include "models/qwen2_5_vl/window_index.h"
#include "models/qwen2_vl/smart_resize.h"
#include "models/qwen2_vl/vision_common.h"
#include "models/qwen2_vl/vision_config.h"

namespace {

using namespace eric;
using models::qwen2_vl::GridTHW;
using models::qwen2_vl::VisionConfig;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double attention_flops(const std::vector<int64_t>& cu, int64_t dim) {
  double f = 0;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const double s = static_cast<double>(cu[i + 1] - cu[i]);
    f += 4.0 * s * s * static_cast<double>(dim);  // QK^T and PV, 2 flops per multiply-add
  }
  return f;
}

// Every matmul and attention product of one forward pass.
double encoder_flops(const VisionConfig& c, bool qwen25, const GridTHW& g) {
  const double n = static_cast<double>(g.patches());
  const double e = static_cast<double>(c.embed_dim), m = static_cast<double>(c.mlp_hidden);
  double f = 2.0 * n * static_cast<double>(c.patch_dim()) * e;  // patch embed
  const auto full = models::qwen2_vl::frame_cu_seqlens({g});
  const auto windows = qwen25 ? models::qwen2_5_vl::window_layout({g}, c).cu_window_seqlens : full;
  for (int64_t b = 0; b < c.depth; ++b) {
    f += 2.0 * n * e * 3.0 * e + 2.0 * n * e * e;  // qkv, proj
    const bool is_full = !qwen25 || std::count(c.fullatt_block_indexes.begin(), c.fullatt_block_indexes.end(), b);
    f += attention_flops(is_full ? full : windows, c.embed_dim);
    f += (qwen25 ? 3.0 : 2.0) * 2.0 * n * e * m;  // gate/up/down or fc1/fc2
  }
  const double merged = e * static_cast<double>(c.merge_unit());
  const double rows = n / static_cast<double>(c.merge_unit());
  f += 2.0 * rows * merged * merged + 2.0 * rows * merged * static_cast<double>(c.out_hidden);
  return f;
}

// Plain SGEMM throughput at a size like the encoder's big projections.
double sgemm_gflops(int64_t m, int64_t n, int64_t k, int iters) {
  std::vector<float> a(static_cast<size_t>(m * k), 0.01f), b(static_cast<size_t>(k * n), 0.02f),
      c(static_cast<size_t>(m * n));
  cpu::sgemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);  // warm-up
  double best = 1e30;
  for (int i = 0; i < iters; ++i) {
    const double t0 = now_s();
    cpu::sgemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    best = std::min(best, now_s() - t0);
  }
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / best / 1e9;
}

// Where the timed forwards spent their time, by op kind: share of the wall
// time and, for GEMM and attention, the GFLOP/s reached in place.
void print_profile(const std::vector<double>& times_ms) {
  double total_s = 0;
  for (double t : times_ms) total_s += t / 1000.0;
  const auto totals = cpu::profile::snapshot();
  std::string line = "  profile:";
  double accounted = 0;
  for (int k = 0; k < cpu::profile::kKinds; ++k) {
    const auto& t = totals[static_cast<size_t>(k)];
    if (t.calls == 0) continue;
    accounted += t.seconds;
    line += fmt::format(" {}={:.1f}%", cpu::profile::kind_name(static_cast<cpu::profile::OpKind>(k)),
                        100.0 * t.seconds / total_s);
    if (t.flops > 0) line += fmt::format("@{:.1f}GFLOP/s", t.flops / t.seconds / 1e9);
  }
  line += fmt::format(" other={:.1f}%", 100.0 * (total_s - accounted) / total_s);
  fmt::print("{}\n", line);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("eric vision-encoder benchmark");
  std::string model_dir;
  std::vector<int64_t> sizes;
  int threads = 0, iters = 3;
  std::string device = "cpu", cuda_dtype = "bf16";
  app.add_option("--model", model_dir, "checkpoint folder")->required();
  app.add_option("--size", sizes, "square image size in pixels (repeatable; default 448 and 1024)");
  app.add_option("--threads", threads, "compute threads (0: all cores)");
  app.add_option("--iters", iters, "timed iterations per size (median reported)");
  app.add_option("--device", device, "cpu or cuda (GPU 0)")->capture_default_str();
  app.add_option("--cuda-dtype", cuda_dtype, "bf16 or f32 on the GPU")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  models::EncoderOptions encoder_options;
  {
    auto d = models::parse_device_options(device, cuda_dtype, "");
    if (!d.ok()) {
      fmt::print(stderr, "{}\n", d.status().to_string());
      return 1;
    }
    encoder_options.set_device(*d);
  }
  const bool on_cpu = encoder_options.device == models::ComputeDevice::kCpu;
  if (sizes.empty()) sizes = {448, 1024};
  ThreadPool::set_global_threads(threads);
  threads = ThreadPool::global().num_threads();

  const double t_load = now_s();
  auto loaded = models::load_model(model_dir, true, encoder_options);
  if (!loaded.ok()) {
    fmt::print(stderr, "{}\n", loaded.status().to_string());
    return 1;
  }
  const bool qwen25 = loaded->config.model_type == "qwen2_5_vl";
  auto cfg = qwen25 ? VisionConfig::parse_qwen2_5_vl(loaded->config.config)
                    : VisionConfig::parse_qwen2_vl(loaded->config.config);
  if (!cfg.ok()) {
    fmt::print(stderr, "{}\n", cfg.status().to_string());
    return 1;
  }
  fmt::print("model {} ({}) on {}, loaded in {:.1f} s, threads {}\n", model_dir, loaded->config.model_type, device,
             now_s() - t_load, threads);
  double gemm = sgemm_gflops(4096, cfg->embed_dim * 3, cfg->embed_dim, 3);
  fmt::print("sgemm_gflops={:.1f} (M=4096 N={} K={})\n", gemm, cfg->embed_dim * 3, cfg->embed_dim);

  std::mt19937 gen(0);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t size : sizes) {
    // The processor's smart_resize: 1024x1024 becomes 1036x1036 (multiples of 28).
    const int64_t unit = cfg->patch_size * cfg->spatial_merge_size;
    auto resized = models::qwen2_vl::smart_resize(size, size, unit, 3136, 12845056);
    if (!resized.ok()) {
      fmt::print(stderr, "{}\n", resized.status().to_string());
      return 1;
    }
    const GridTHW g{1, resized->height / cfg->patch_size, resized->width / cfg->patch_size};
    models::ProcessedItem item;
    Tensor px = Tensor::empty(DType::kF32, {g.patches(), cfg->patch_dim()}).value();
    for (int64_t i = 0; i < px.numel(); ++i) px.mutable_data<float>()[i] = dist(gen);
    item.tensors.emplace_back("pixel_values", px);
    item.tensors.emplace_back("image_grid_thw", models::qwen2_vl::grids_to_tensor({g}).value());
    std::vector<const models::ProcessedItem*> batch = {&item};
    auto warm = loaded->encoder->encode(batch);  // warm-up
    if (!warm.ok()) {
      fmt::print(stderr, "{}\n", warm.status().to_string());
      return 1;
    }
    std::vector<double> times;
    // Per-kind op times of the timed runs (the accounting costs a clock read
    // per op call: a few hundred per forward).
    cpu::profile::reset();
    cpu::profile::set_enabled(on_cpu);
    for (int i = 0; i < iters; ++i) {
      const double t0 = now_s();
      auto out = loaded->encoder->encode(batch);
      times.push_back((now_s() - t0) * 1000.0);
      fmt::print("  {}x{} iter {}: {:.1f} ms\n", size, size, i, times.back());
    }
    cpu::profile::set_enabled(false);
    if (on_cpu) print_profile(times);
    // SGEMM again right after the timed runs, so both rates see the same load.
    gemm = std::max(gemm, sgemm_gflops(4096, cfg->embed_dim * 3, cfg->embed_dim, 3));
    std::sort(times.begin(), times.end());
    const double ms = times[times.size() / 2];
    const double gflop = encoder_flops(*cfg, qwen25, g) / 1e9;
    fmt::print("eric_ms_per_image={:.2f} size={} resized={} patches={} gflop={:.1f} gflops={:.1f} sgemm_gflops={:.1f} "
               "fraction_of_sgemm={:.2f} threads={}\n",
               ms, size, resized->height, g.patches(), gflop, gflop / (ms / 1000.0), gemm, gflop / (ms / 1000.0) / gemm, threads);
  }
  return 0;
}
