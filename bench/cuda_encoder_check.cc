// The Qwen vision towers on the GPU, checked and timed in one run (the lent
// GPU machine's time is short; tools/device/encoder_check.sh builds and runs
// this with the standalone project in tools/device/):
//  1. accuracy: tiny and `--dims real` Qwen2-VL and Qwen2.5-VL test
//     checkpoints (written here, deterministic), several image sizes, a video
//     item and a mixed batch of three items in one forward pass: CUDA bf16 and
//     CUDA f32 against the CPU float32 forward, ||out - ref|| / ||ref|| with
//     PASS/FAIL at 2e-2 (bf16) and 1e-3 (f32);
//  2. throughput: the real-dims towers at 1024x1024 (74x74 patches), batch 1,
//     4 and 8, bf16: the GPU forward alone (CUDA events, median after
//     warm-ups) and encode() end to end (item rows up, forward, item rows down), images/s,
//     FLOPs counted from the shapes (qwen2_vl::tower_flops), TFLOP/s and the
//     fraction of an 8192^3 bf16 cuBLASLt GEMM measured in the same run, and
//     one pass split into phases (attention, MLP, norms + residuals, embed,
//     merger; CUDA events between them) with the TFLOP/s of each;
//  3. every tensor-core attention variant (kernels::kTensorCoreVariants) in
//     the whole bf16 tower: its accuracy on the first real-dims case and its
//     GPU time at batch 8;
//  4. after the summary, the experimental wgmma attention
//     (kExperimentalTensorCoreVariants) in the whole towers at batch 8: GPU
//     time, and output against the default kernel's.
// Prints a summary table last; exits 1 when a check fails, 2 without a GPU.
//
//   cuda_encoder_check [--work-dir DIR] [--skip-real] [--skip-bench]
#include <cuda_runtime.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/device_query.h"
#include "backend/cuda/kernels.h"
#include "cuda_bench_util.h"
#include "models/qwen2_5_vl/vision_encoder.h"
#include "models/qwen2_5_vl/window_index.h"
#include "models/qwen2_vl/test_model.h"
#include "models/qwen2_vl/vision_encoder.h"
#include "models/qwen2_vl/vision_tower_cuda.h"
#include "tensor/checkpoint.h"

namespace {

using namespace eric;
using models::EncoderOptions;
using models::ProcessedItem;
using models::qwen2_vl::CudaVisionEncoder;
using models::qwen2_vl::GridTHW;
using models::qwen2_vl::PackedVisionEncoder;
using models::qwen2_vl::VisionConfig;
namespace fs = std::filesystem;

constexpr double kBf16Tol = 2e-2;
constexpr double kF32Tol = 1e-3;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

template <typename T>
T or_die(Result<T> r, const std::string& what) {
  if (!r.ok()) {
    std::fprintf(stderr, "cuda_encoder_check: %s: %s\n", what.c_str(), r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}
void or_die(const Status& st, const std::string& what) {
  if (!st.ok()) {
    std::fprintf(stderr, "cuda_encoder_check: %s: %s\n", what.c_str(), st.to_string().c_str());
    std::exit(1);
  }
}

struct Family {
  std::string arch;  // qwen2_vl or qwen2_5_vl
  bool gated = false;
};

struct Model {
  VisionConfig cfg;
  WeightMap weights;
};

Model write_and_open(const Family& f, bool real, const fs::path& dir) {
  models::TestModelOptions o;
  o.seed = 0;
  o.real_dims = real;
  // Real dims in bf16 (half the bytes to write); every path upcasts the same
  // bf16 values, so the CPU float32 reference sees exactly the GPU's weights.
  o.dtype = real ? DType::kBF16 : DType::kF32;
  o.num_shards = 1;
  const double t0 = now_s();
  or_die(models::qwen2_vl::write_test_model(f.arch, dir.string(), o), "writing " + dir.string());
  const nlohmann::json config = or_die(models::ModelConfig::load(dir.string()), "config").config;
  Model m;
  m.cfg = or_die(f.gated ? VisionConfig::parse_qwen2_5_vl(config) : VisionConfig::parse_qwen2_vl(config), "config");
  Checkpoint ck = or_die(Checkpoint::open(dir.string()), "open " + dir.string());
  m.weights = or_die(ck.load({"visual."}), "load " + dir.string());
  std::printf("[%s %s] checkpoint written and mapped in %.1f s\n", f.arch.c_str(), real ? "real" : "tiny",
              now_s() - t0);
  std::fflush(stdout);
  return m;
}

std::unique_ptr<PackedVisionEncoder> load(const Family& f, const Model& m, models::ComputeDevice device, DType dtype) {
  EncoderOptions o;
  o.device = device;
  o.device_index = 0;
  o.cuda_dtype = dtype;
  const std::string what = fmt::format("loading {} on {} {}", f.arch, models::device_name(device), dtype_name(dtype));
  if (f.gated) return or_die(models::qwen2_5_vl::load_qwen2_5_vl_encoder(m.cfg, m.weights, o), what);
  return or_die(models::qwen2_vl::load_qwen2_vl_encoder(m.cfg, m.weights, o), what);
}

// One item per grid, pixel values ~ N(0, 1) (the processor's normalised range).
std::vector<ProcessedItem> make_items(const VisionConfig& cfg, const std::vector<GridTHW>& grids, uint32_t seed) {
  std::vector<ProcessedItem> items;
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (const GridTHW& g : grids) {
    Tensor px = Tensor::empty(DType::kF32, {g.patches(), cfg.patch_dim()}).value();
    float* p = px.mutable_data<float>();
    for (int64_t i = 0; i < px.numel(); ++i) p[i] = dist(gen);
    ProcessedItem item;
    item.modality = g.t > 1 ? models::Modality::kVideo : models::Modality::kImage;
    item.tensors.emplace_back(g.t > 1 ? "pixel_values_videos" : "pixel_values", px);
    item.tensors.emplace_back(g.t > 1 ? "video_grid_thw" : "image_grid_thw",
                              models::qwen2_vl::grids_to_tensor({g}).value());
    item.num_tokens = g.patches() / cfg.merge_unit();
    items.push_back(std::move(item));
  }
  return items;
}

Result<std::vector<Tensor>> try_encode(PackedVisionEncoder& enc, const std::vector<ProcessedItem>& items) {
  std::vector<const ProcessedItem*> ptrs;
  for (const auto& i : items) ptrs.push_back(&i);
  return enc.encode(ptrs);
}
std::vector<Tensor> encode(PackedVisionEncoder& enc, const std::vector<ProcessedItem>& items, const std::string& what) {
  return or_die(try_encode(enc, items), what);
}

// ||out - ref|| / ||ref|| over all items together.
double rel_l2(const std::vector<Tensor>& out, const std::vector<Tensor>& ref) {
  double num = 0, den = 0;
  if (out.size() != ref.size()) return INFINITY;
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k].shape() != ref[k].shape()) return INFINITY;
    const float* o = out[k].data<float>();
    const float* r = ref[k].data<float>();
    for (int64_t i = 0; i < out[k].numel(); ++i) {
      const double d = double{o[i]} - double{r[i]};
      if (!std::isfinite(o[i])) return INFINITY;
      num += d * d;
      den += double{r[i]} * r[i];
    }
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

struct Case {
  std::string name;
  std::vector<GridTHW> grids;
};

struct AccuracyRow {
  std::string family, dims, name, dtype;
  double err, tol, cpu_s, gpu_s;
  bool pass() const { return err < tol; }
};

struct BenchRow {
  std::string family;
  int batch;
  double gpu_ms, e2e_ms, tflop, tflops, frac;
};

std::string grids_text(const std::vector<GridTHW>& grids) {
  std::string s;
  for (const auto& g : grids) s += fmt::format("{}{}x{}x{}", s.empty() ? "" : "+", g.t, g.h, g.w);
  return s;
}

// Returns the CUDA bf16 encoder, which the benchmark reuses.
std::unique_ptr<PackedVisionEncoder> check_accuracy(const Family& f, const std::string& dims, const Model& m,
                                                    const std::vector<Case>& cases, std::vector<AccuracyRow>& rows) {
  double t0 = now_s();
  auto cpu = load(f, m, models::ComputeDevice::kCpu, DType::kF32);
  auto bf16 = load(f, m, models::ComputeDevice::kCuda, DType::kBF16);
  auto f32 = load(f, m, models::ComputeDevice::kCuda, DType::kF32);
  std::printf("[%s %s] CPU f32, CUDA bf16 and CUDA f32 towers loaded in %.1f s\n", f.arch.c_str(), dims.c_str(),
              now_s() - t0);
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& cs = cases[c];
    std::vector<ProcessedItem> items = make_items(m.cfg, cs.grids, 1000 + static_cast<uint32_t>(c));
    t0 = now_s();
    std::vector<Tensor> ref = encode(*cpu, items, "CPU " + cs.name);
    const double cpu_s = now_s() - t0;
    for (auto [enc, dt, tol] : {std::tuple{bf16.get(), "bf16", kBf16Tol}, std::tuple{f32.get(), "f32", kF32Tol}}) {
      // A failing GPU call is a FAIL row with its error, not the end of the
      // run: one device session should report every case.
      auto warm = try_encode(*enc, items);  // first call: cuBLASLt heuristics, allocator growth
      t0 = now_s();
      auto out = warm.ok() ? try_encode(*enc, items) : warm;
      if (!out.ok()) std::printf("error %s %s %s: %s\n", f.arch.c_str(), dt, cs.name.c_str(), out.status().to_string().c_str());
      AccuracyRow r{f.arch, dims, cs.name + " (" + grids_text(cs.grids) + ")", dt,
                    out.ok() ? rel_l2(*out, ref) : INFINITY, tol, cpu_s, now_s() - t0};
      std::printf("check %-10s %-4s %-44s %-4s rel_err %.3e (tol %.0e) %s  cpu %.2f s gpu %.3f s\n", r.family.c_str(),
                  r.dims.c_str(), r.name.c_str(), r.dtype.c_str(), r.err, r.tol, r.pass() ? "PASS" : "FAIL", r.cpu_s,
                  r.gpu_s);
      std::fflush(stdout);
      rows.push_back(r);
    }
    // Every tensor-core attention variant in the whole bf16 tower, on the
    // first real-dims case (the variants' speed is compared in bench()).
    if (dims == "real" && c == 0) {
      for (const auto& variant : cuda::kernels::kTensorCoreVariants) {
        cuda::kernels::set_default_tensor_core_attention(variant.impl);
        auto out = try_encode(*bf16, items);
        AccuracyRow r{f.arch, dims, cs.name + ", attention " + variant.name, "bf16",
                      out.ok() ? rel_l2(*out, ref) : INFINITY, kBf16Tol, cpu_s, 0};
        if (!out.ok()) std::printf("error %s %s: %s\n", f.arch.c_str(), r.name.c_str(), out.status().to_string().c_str());
        std::printf("check %-10s %-4s %-44s %-4s rel_err %.3e (tol %.0e) %s\n", r.family.c_str(), r.dims.c_str(),
                    r.name.c_str(), r.dtype.c_str(), r.err, r.tol, r.pass() ? "PASS" : "FAIL");
        rows.push_back(r);
      }
      cuda::kernels::set_default_tensor_core_attention(cuda::kernels::AttnImpl::kAuto);
      std::fflush(stdout);
    }
  }
  return bf16;
}

CudaVisionEncoder* as_cuda(PackedVisionEncoder& e) {
  auto* enc = dynamic_cast<CudaVisionEncoder*>(&e);
  if (enc == nullptr) {
    std::fprintf(stderr, "cuda_encoder_check: --device cuda did not give a CudaVisionEncoder\n");
    std::exit(1);
  }
  return enc;
}

// `batch` 1024x1024 images (74x74 patches after smart_resize): their items,
// plan and packed pixels on the device, for timing the GPU forward alone.
struct DeviceBatch {
  std::vector<ProcessedItem> items;
  models::qwen2_vl::TowerPlan plan;
  cuda::DeviceTensor pixels;
  int64_t patches = 0;
};
DeviceBatch device_batch(CudaVisionEncoder& enc, const VisionConfig& cfg, int batch) {
  DeviceBatch b;
  std::vector<GridTHW> grids(static_cast<size_t>(batch), GridTHW{1, 74, 74});
  b.items = make_items(cfg, grids, 7);
  for (const auto& g : grids) b.patches += g.patches();
  std::vector<Tensor> pixels;
  for (const auto& it : b.items) pixels.push_back(it.tensors[0].second);
  const Tensor packed = or_die(concat_rows(pixels), "pack");
  b.plan = or_die(enc.plan(grids), "plan");
  b.pixels = or_die(cuda::upload(packed, DType::kBF16, enc.context()), "upload pixels");
  return b;
}

void bench(const Family& f, const Model& m, PackedVisionEncoder& bf16, double gemm_tflops, std::vector<BenchRow>& rows) {
  CudaVisionEncoder* enc = as_cuda(bf16);
  cuda::Context& ctx = enc->context();
  for (int batch : {1, 4, 8}) {
    // The GPU forward alone: pixels uploaded once, plan built once.
    DeviceBatch db = device_batch(*enc, m.cfg, batch);
    const std::vector<ProcessedItem>& items = db.items;
    const auto& plan = db.plan;
    const cuda::DeviceTensor& dev_px = db.pixels;
    const int64_t patches = db.patches;
    auto timed = cuda::bench::median_ms(ctx, 2, 5, [&]() -> Status {
      auto out = enc->tower().forward(ctx, plan, dev_px);
      return out.ok() ? Status::Ok() : out.status();
    });
    if (!timed.ok()) {
      std::printf("error bench %s batch %d: %s\n", f.arch.c_str(), batch, timed.status().to_string().c_str());
      return;  // a failed GPU call is usually sticky: the larger batches would fail too
    }
    const double gpu_ms = *timed;
    // encode() end to end: each item's rows up, the forward, each item's rows down.
    std::vector<double> e2e;
    for (int i = 0; i < 4; ++i) {
      const double t0 = now_s();
      auto out = try_encode(*enc, items);
      if (!out.ok()) {
        std::printf("error bench %s batch %d e2e: %s\n", f.arch.c_str(), batch, out.status().to_string().c_str());
        return;
      }
      if (i > 0) e2e.push_back((now_s() - t0) * 1e3);  // the first is a warm-up
    }
    std::sort(e2e.begin(), e2e.end());
    const double flops = models::qwen2_vl::tower_flops(m.cfg, plan, patches, f.gated);
    // Where the GPU time goes: one more pass with events between phases.
    models::qwen2_vl::TowerPhaseTimes ph;
    std::string phases;
    auto profiled = enc->tower().forward(ctx, plan, dev_px, &ph);
    if (profiled.ok()) {
      const double n = static_cast<double>(patches), e = static_cast<double>(m.cfg.embed_dim);
      const double depth = static_cast<double>(m.cfg.depth), u = static_cast<double>(m.cfg.merge_unit());
      const double mlp_f = depth * (f.gated ? 3.0 : 2.0) * 2.0 * n * e * static_cast<double>(m.cfg.mlp_hidden);
      const double proj_f = depth * 8.0 * n * e * e;  // q, k, v, out
      const double embed_f = 2.0 * n * static_cast<double>(m.cfg.patch_dim()) * e;
      const double merger_f = 2.0 * (n / u) * (e * u) * (e * u) + 2.0 * (n / u) * (e * u) * m.cfg.out_hidden;
      const double core_f = flops - mlp_f - proj_f - embed_f - merger_f;
      auto rate = [](double fl, double ms) { return ms > 0 ? fl / ms / 1e9 : 0.0; };
      phases = fmt::format("  phases ({:.1f} ms): attention {:.1f} ms ({:.0f} TFLOP/s; QK^T/PV {:.0f}% of its FLOPs), "
                  "mlp {:.1f} ms ({:.0f} TFLOP/s), norms+residual {:.1f} ms, embed {:.1f} ms, merger {:.1f} ms\n",
                  ph.total_ms(), ph.attention_ms, rate(proj_f + core_f, ph.attention_ms),
                  100.0 * core_f / (proj_f + core_f), ph.mlp_ms, rate(mlp_f, ph.mlp_ms), ph.norm_residual_ms,
                  ph.embed_ms, ph.merger_ms);
    } else {
      phases = "  phases: " + profiled.status().to_string() + "\n";
    }
    BenchRow r{f.arch, batch, gpu_ms, e2e[1], flops / 1e12, flops / gpu_ms / 1e9, 0};
    r.frac = r.tflops / gemm_tflops;
    std::printf("bench %-10s batch %d: gpu %.1f ms (%.2f img/s), e2e %.1f ms (%.2f img/s), %.2f TFLOP, %.1f TFLOP/s, "
                "%.1f%% of GEMM\n",
                r.family.c_str(), batch, r.gpu_ms, batch / (r.gpu_ms / 1e3), r.e2e_ms, batch / (r.e2e_ms / 1e3),
                r.tflop, r.tflops, 100 * r.frac);
    std::fputs(phases.c_str(), stdout);
    std::fflush(stdout);
    rows.push_back(r);
    // The attention variants in the whole tower at the largest batch (the
    // default row above is the 4 warps x 32 rows one).
    if (batch != 8) continue;
    for (const auto& variant : cuda::kernels::kTensorCoreVariants) {
      cuda::kernels::set_default_tensor_core_attention(variant.impl);
      auto ms = cuda::bench::median_ms(ctx, 1, 3, [&]() -> Status {
        auto out = enc->tower().forward(ctx, plan, dev_px);
        return out.ok() ? Status::Ok() : out.status();
      });
      if (!ms.ok()) {
        std::printf("error bench %s batch 8, attention %s: %s\n", f.arch.c_str(), variant.name,
                    ms.status().to_string().c_str());
        break;
      }
      BenchRow v{f.arch + ", attention " + variant.name, batch, *ms, 0, flops / 1e12, flops / *ms / 1e9, 0};
      v.frac = v.tflops / gemm_tflops;
      std::printf("bench %s batch 8: gpu %.1f ms (%.2f img/s), %.1f TFLOP/s, %.1f%% of GEMM\n", v.family.c_str(),
                  v.gpu_ms, batch / (v.gpu_ms / 1e3), v.tflops, 100 * v.frac);
      rows.push_back(v);
    }
    cuda::kernels::set_default_tensor_core_attention(cuda::kernels::AttnImpl::kAuto);
    std::fflush(stdout);
  }
}

// The experimental wgmma attention in the whole real-dims bf16 tower, run
// after every other result is printed (a fault in an unmeasured kernel ends
// the process): batch 8 of 1024², its GPU time and its output against the
// default kernel's. Returns how many variants failed.
int experimental_attention(const Family& f, const Model& m, double gemm_tflops) {
  auto bf16 = load(f, m, models::ComputeDevice::kCuda, DType::kBF16);
  CudaVisionEncoder* enc = as_cuda(*bf16);
  cuda::Context& ctx = enc->context();
  DeviceBatch db = device_batch(*enc, m.cfg, 8);
  const double flops = models::qwen2_vl::tower_flops(m.cfg, db.plan, db.patches, f.gated);
  auto run = [&]() -> Result<Tensor> {
    ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor out, enc->tower().forward(ctx, db.plan, db.pixels));
    return cuda::download_f32(out, ctx);
  };
  auto time = [&]() {
    return cuda::bench::median_ms(ctx, 1, 3, [&]() -> Status {
      auto out = enc->tower().forward(ctx, db.plan, db.pixels);
      return out.ok() ? Status::Ok() : out.status();
    });
  };
  const Tensor reference = or_die(run(), "default forward");
  const double base_ms = or_die(time(), "default forward timing");
  std::printf("experimental %-10s default (mma.sync)            gpu %7.1f ms  %.1f%% of GEMM\n", f.arch.c_str(),
              base_ms, 100.0 * flops / base_ms / 1e9 / gemm_tflops);
  std::fflush(stdout);
  int failed = 0;
  for (const auto& variant : cuda::kernels::kExperimentalTensorCoreVariants) {
    cuda::kernels::set_default_tensor_core_attention(variant.impl);
    auto out = run();
    auto ms = out.ok() ? time() : Result<double>(out.status());
    cuda::kernels::set_default_tensor_core_attention(cuda::kernels::AttnImpl::kAuto);
    if (!ms.ok()) {
      std::printf("experimental %-10s %-28s error: %s\n", f.arch.c_str(), variant.name, ms.status().to_string().c_str());
      ++failed;
      break;  // a failed GPU call is usually sticky
    }
    const double err = rel_l2({*out}, {reference});
    const bool pass = err < kBf16Tol;
    failed += pass ? 0 : 1;
    std::printf("experimental %-10s %-28s gpu %7.1f ms  %.1f%% of GEMM  vs default rel_err %.3e %s\n",
                f.arch.c_str(), variant.name, *ms, 100.0 * flops / *ms / 1e9 / gemm_tflops, err,
                pass ? "PASS" : "FAIL");
    std::fflush(stdout);
  }
  return failed;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path work = "/tmp/eric-encoder-check";
  bool skip_real = false, skip_bench = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--work-dir" && i + 1 < argc) work = argv[++i];
    else if (a == "--skip-real") skip_real = true;
    else if (a == "--skip-bench") skip_bench = true;
    else {
      std::fprintf(stderr, "usage: cuda_encoder_check [--work-dir DIR] [--skip-real] [--skip-bench]\n");
      return 2;
    }
  }
  const double t_start = now_s();
  auto devices = cuda::list_devices();
  if (!devices.ok() || devices->empty()) {
    std::fprintf(stderr, "cuda_encoder_check: %s\n", devices.ok() ? "no CUDA device" : devices.status().message().c_str());
    return 2;
  }
  const cuda::DeviceInfo& dev = devices->front();
  std::printf("%s (sm_%d%d, %d SMs, %.0f GiB), CUDA runtime %s\n", dev.name.c_str(), dev.compute_major,
              dev.compute_minor, dev.multiprocessors, dev.total_memory_bytes / double(1 << 30),
              cuda::runtime_version().c_str());
  fs::remove_all(work);
  fs::create_directories(work);

  const std::vector<Family> families = {{"qwen2_vl", false}, {"qwen2_5_vl", true}};
  // Tiny: every size is cheap on the CPU. Grids are in 14-px patches (after
  // smart_resize): 224^2, 448^2, 336x588, a 2-frame video, and a mixed batch.
  const std::vector<Case> tiny_cases = {
      {"224x224", {{1, 16, 16}}},
      {"448x448", {{1, 32, 32}}},
      {"336x588", {{1, 24, 42}}},
      {"video 2x224x224", {{2, 16, 16}}},
      {"mixed batch of 3", {{1, 16, 16}, {1, 24, 42}, {2, 16, 16}}},
  };
  // Real dims: two cases per family keep the CPU reference under a minute.
  const std::vector<Case> real_cases = {
      {"1024x1024", {{1, 74, 74}}},
      {"mixed batch of 3", {{1, 16, 16}, {1, 24, 42}, {1, 32, 32}}},
  };

  std::vector<AccuracyRow> acc;
  std::vector<BenchRow> perf;
  double gemm_tflops = 0;
  if (!skip_bench) {
    auto ctx = or_die(cuda::Context::create(0), "context");
    gemm_tflops = cuda::bench::bf16_gemm_tflops(*ctx);
    std::printf("bf16 GEMM 8192^3: %.1f TFLOP/s\n", gemm_tflops);
  }
  for (const Family& f : families) {
    {
      Model tiny = write_and_open(f, false, work / (f.arch + "_tiny"));
      (void)check_accuracy(f, "tiny", tiny, tiny_cases, acc);
    }
    if (skip_real) continue;
    const fs::path real_dir = work / (f.arch + "_real");
    Model real = write_and_open(f, true, real_dir);
    auto bf16 = check_accuracy(f, "real", real, real_cases, acc);
    if (!skip_bench) bench(f, real, *bf16, gemm_tflops, perf);
    bf16.reset();
    real = Model();
    fs::remove_all(real_dir);  // 1.3 GB each
  }

  int failed = 0;
  std::printf("\n== eric CUDA encoder check: %s, %.0f s ==\n", dev.name.c_str(), now_s() - t_start);
  std::printf("%-10s %-4s %-62s %-4s %10s %7s %s\n", "family", "dims", "case", "dt", "rel_err", "tol", "result");
  for (const AccuracyRow& r : acc) {
    std::printf("%-10s %-4s %-62s %-4s %10.3e %7.0e %s\n", r.family.c_str(), r.dims.c_str(), r.name.c_str(),
                r.dtype.c_str(), r.err, r.tol, r.pass() ? "PASS" : "FAIL");
    failed += r.pass() ? 0 : 1;
  }
  if (!perf.empty()) {
    std::printf("\nreal dims, 1024x1024 (5476 patches/image), bf16; bf16 GEMM 8192^3 = %.1f TFLOP/s\n", gemm_tflops);
    std::printf("%-44s %5s %9s %9s %9s %9s %8s %9s %8s\n", "family", "batch", "gpu ms", "img/s", "e2e ms", "e2e img/s",
                "TFLOP", "TFLOP/s", "of GEMM");
    for (const BenchRow& r : perf) {
      const std::string e2e = r.e2e_ms > 0 ? fmt::format("{:9.1f} {:9.2f}", r.e2e_ms, r.batch / (r.e2e_ms / 1e3))
                                            : fmt::format("{:>9} {:>9}", "-", "-");  // attention variants: GPU only
      std::printf("%-44s %5d %9.1f %9.2f %s %8.2f %9.1f %7.1f%%\n", r.family.c_str(), r.batch, r.gpu_ms,
                  r.batch / (r.gpu_ms / 1e3), e2e.c_str(), r.tflop, r.tflops, 100 * r.frac);
    }
  }
  std::printf("%s: %d of %zu accuracy checks failed\n", failed ? "FAIL" : "PASS", failed, acc.size());
  std::fflush(stdout);

  // Last: the experimental wgmma attention (real dims again, written anew).
  if (!skip_real && !skip_bench) {
    if (!cuda::kernels::wgmma_attention_available()) {
      std::printf("\nexperimental wgmma attention: not available (needs sm_90 and a build with sm_90a code)\n");
    } else {
      std::printf("\n== experimental wgmma attention, real dims, batch 8 of 1024², bf16 ==\n");
      int experimental_failed = 0;
      for (const Family& f : families) {
        const fs::path real_dir = work / (f.arch + "_real");
        Model real = write_and_open(f, true, real_dir);
        experimental_failed += experimental_attention(f, real, gemm_tflops);
        real = Model();
        fs::remove_all(real_dir);
      }
      std::printf("%s: %d experimental variant(s) failed\n", experimental_failed ? "FAIL" : "PASS", experimental_failed);
      failed += experimental_failed;
    }
  }
  return failed ? 1 : 0;
}
