// CUDA backend benchmark (tools/device/check.sh runs it on a GPU machine):
//  1. the card's bf16 GEMM rate through our cuBLASLt path (8192^3), the
//     denominator of MFU;
//  2. the 7B vision tower's Linear shapes (hidden 1280, MLP 5120) at one
//     1024x1024 image (5476 patch tokens) times batch 1/4/8;
//  3. varlen attention (16 heads x 80) over batch 1/4/8 such images, full
//     attention and Qwen2.5-VL's 256-token windows, bf16 and f32;
//  4. an estimate of the whole 32-block tower from 2 and 3 (images/s, MFU);
//  5. Qwen2.5-VL's MLP GEMMs at width 3420 against 3456 (alignment);
//  6. the memory-bound ops of a block against the card's copy rate;
//  7. last, the experimental wgmma attention beside the default kernel.
// Times are CUDA-event means of `reps` runs after warm-ups. Prints a table last.
#include <cuda_runtime.h>

#include <fmt/format.h>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_error.h"
#include "backend/cuda/device_query.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "cuda_bench_util.h"

namespace {
using namespace eric;
using namespace eric::cuda;

struct Row {
  std::string what;
  double ms;
  double tflops;
};

using bench::filled;
using bench::time_ms;

}  // namespace

int main() {
  auto devices = list_devices();
  if (!devices.ok() || devices.value().empty()) {
    std::fprintf(stderr, "cuda_gemm_attention_bench: %s\n",
                 devices.ok() ? "no CUDA device" : devices.status().message().c_str());
    return 2;
  }
  const DeviceInfo& dev = devices.value()[0];
  auto ctx_or = Context::create(0);
  if (!ctx_or.ok()) {
    std::fprintf(stderr, "context: %s\n", ctx_or.status().message().c_str());
    return 1;
  }
  Context& ctx = *ctx_or.value();
  std::vector<Row> rows, estimates;

  // 1. Peak-ish bf16 GEMM rate.
  const int64_t big = 8192;
  {
    const double tflops = bench::bf16_gemm_tflops(ctx, big);
    rows.push_back({"bf16 GEMM 8192^3 (card rate)", 2.0 * big * big * big / tflops / 1e9, tflops});
  }
  const double peak = rows[0].tflops;

  // 2./3. Vision tower shapes.
  const int64_t tokens = 5476, hidden = 1280, heads = 16, head_dim = 80, mlp = 5120, window = 256;
  for (int batch : {1, 4, 8}) {
    const int64_t m = tokens * batch;
    struct Lin { const char* name; int64_t in, out; };
    double layer_ms = 0, layer_flops = 0;  // one Qwen2-VL-7B vision block at this batch
    for (Lin l : {Lin{"qkv 1280->3840", hidden, 3 * hidden}, Lin{"proj 1280->1280", hidden, hidden},
                  Lin{"fc1 1280->5120", hidden, mlp}, Lin{"fc2 5120->1280", mlp, hidden}}) {
      DeviceTensor x = filled(ctx, DType::kBF16, Shape{m, l.in}), w = filled(ctx, DType::kBF16, Shape{l.out, l.in});
      DeviceTensor bias = filled(ctx, DType::kBF16, Shape{l.out});
      DeviceTensor y = ctx.empty(DType::kBF16, Shape{m, l.out}).value();
      double ms = time_ms(ctx, 10, [&] { return linear_out(ctx, x, w, &bias, y); });
      rows.push_back({"b" + std::to_string(batch) + " bf16 linear " + l.name, ms, 2.0 * m * l.in * l.out / ms / 1e9});
      layer_ms += ms;
      layer_flops += 2.0 * m * l.in * l.out;
    }
    for (DType dt : {DType::kBF16, DType::kF32}) {
      // Random q, k, v: the softmax's running max must move as it does on real scores.
      DeviceTensor q = bench::random_filled(ctx, dt, Shape{m, heads, head_dim}, 1);
      DeviceTensor k = bench::random_filled(ctx, dt, Shape{m, heads, head_dim}, 2);
      DeviceTensor v = bench::random_filled(ctx, dt, Shape{m, heads, head_dim}, 3);
      for (bool windowed : {false, true}) {
        std::vector<int64_t> cu{0};
        const int64_t seg = windowed ? window : tokens;
        double flops = 0;
        for (int i = 0; i < batch; ++i) {
          for (int64_t t = 0; t < tokens; t += seg) {
            const int64_t len = std::min(seg, tokens - t);
            cu.push_back(cu.back() + len);
            flops += 4.0 * len * len * heads * head_dim;
          }
        }
        const double ms = time_ms(ctx, 3, [&]() -> Status {
          auto out = varlen_attention(ctx, q, k, v, cu, 0.1118f);
          return out.ok() ? Status::Ok() : out.status();
        });
        rows.push_back({"b" + std::to_string(batch) + " " + std::string(dtype_name(dt)) + " attention " +
                            (windowed ? "window 256" : "full 5476"),
                        ms, flops / ms / 1e9});
        if (dt == DType::kBF16 && !windowed) {
          layer_ms += ms;
          layer_flops += flops;
        }
        // The tensor-core kernel's block shapes and softmax variants, forced, at batch 1 and 8.
        if (dt == DType::kBF16 && batch != 4) {
          for (auto [impl, name] : kernels::kTensorCoreVariants) {
            const double forced_ms = time_ms(ctx, 3, [&]() -> Status {
              auto out = varlen_attention(ctx, q, k, v, cu, 0.1118f, impl);
              return out.ok() ? Status::Ok() : out.status();
            });
            rows.push_back({"b" + std::to_string(batch) + " bf16 attention " + (windowed ? "window 256" : "full 5476") + ", " + name,
                            forced_ms, flops / forced_ms / 1e9});
          }
        }
      }
    }
    // An estimate until the models run on the device: 32 blocks of the GEMMs
    // and bf16 full attention above (norms, rotary, residuals and the merger
    // left out), so an upper bound on images/s.
    const int depth = 32;
    estimates.push_back({"b" + std::to_string(batch) + " est. 7B tower (32 blocks) " +
                             fmt::format("{:.2f} img/s", batch / (depth * layer_ms / 1e3)),
                         depth * layer_ms, layer_flops / layer_ms / 1e9});
  }
  for (const Row& e : estimates) rows.push_back(e);

  // 5. Qwen2.5-VL's MLP width (3420: rows of 6840 bytes, not 16-byte
  //    aligned) against the same GEMMs padded to 3456, at batch 1.
  for (int64_t width : {int64_t{3420}, int64_t{3456}}) {
    struct Lin { const char* name; int64_t in, out; };
    for (Lin l : {Lin{"gate/up 1280->", hidden, width}, Lin{"down ->1280", width, hidden}}) {
      DeviceTensor x = filled(ctx, DType::kBF16, Shape{tokens, l.in}), w = filled(ctx, DType::kBF16, Shape{l.out, l.in});
      DeviceTensor bias = filled(ctx, DType::kBF16, Shape{l.out});
      DeviceTensor y = ctx.empty(DType::kBF16, Shape{tokens, l.out}).value();
      const double ms = time_ms(ctx, 10, [&] { return linear_out(ctx, x, w, &bias, y); });
      rows.push_back({fmt::format("b1 bf16 linear {} ({} wide)", l.name, width), ms,
                      2.0 * tokens * l.in * l.out / ms / 1e9});
    }
  }

  // 6. The memory-bound ops of one block at batch 1, against the card's
  //    device-to-device copy rate (bytes read + written).
  struct MemRow {
    std::string what;
    double ms;
    double gbps;
  };
  std::vector<MemRow> mem;
  double copy_gbps = 0;
  {
    const int64_t n = int64_t{64} << 20;  // 256 MiB of float32
    DeviceTensor a = filled(ctx, DType::kF32, Shape{n}), b = ctx.empty(DType::kF32, Shape{n}).value();
    const double ms = time_ms(ctx, 10, [&]() -> Status {
      return cuda_status(cudaMemcpyAsync(b.raw_data(), a.raw_data(), a.nbytes(), cudaMemcpyDeviceToDevice,
                                         ctx.stream()),
                         "copy");
    });
    copy_gbps = 2.0 * a.nbytes() / ms / 1e6;
    mem.push_back({"device-to-device copy 256 MiB", ms, copy_gbps});
  }
  auto mem_row = [&](const std::string& what, double bytes, const std::function<Status()>& op) {
    const double ms = time_ms(ctx, 10, op);
    mem.push_back({what, ms, bytes / ms / 1e6});
  };
  {
    const double act = static_cast<double>(tokens) * hidden;  // elements of one activation
    DeviceTensor xb = filled(ctx, DType::kBF16, Shape{tokens, hidden});
    DeviceTensor xf = filled(ctx, DType::kF32, Shape{tokens, hidden});
    DeviceTensor gb = filled(ctx, DType::kBF16, Shape{hidden});
    DeviceTensor h = filled(ctx, DType::kBF16, Shape{tokens, mlp});
    DeviceTensor hb = filled(ctx, DType::kBF16, Shape{mlp});
    DeviceTensor gate = filled(ctx, DType::kBF16, Shape{tokens, 3420}), up = filled(ctx, DType::kBF16, Shape{tokens, 3420});
    DeviceTensor q = filled(ctx, DType::kBF16, Shape{tokens, heads, head_dim});
    DeviceTensor cs = filled(ctx, DType::kF32, Shape{tokens, head_dim});
    auto ok = [](auto r) { return r.ok() ? Status::Ok() : r.status(); };
    mem_row("layer_norm bf16 [5476, 1280]", act * 4, [&] { return ok(layer_norm(ctx, xb, gb, &gb, 1e-6f)); });
    mem_row("layer_norm f32 -> bf16 [5476, 1280]", act * 6, [&] { return ok(layer_norm(ctx, xf, gb, &gb, 1e-6f)); });
    mem_row("rms_norm f32 -> bf16 [5476, 1280]", act * 6, [&] { return ok(rms_norm(ctx, xf, gb, 1e-6f)); });
    mem_row("add_ bf16 += bf16 [5476, 1280]", act * 6, [&] { return add_(ctx, xb, xb); });
    mem_row("add_ f32 += bf16 [5476, 1280]", act * 10, [&] { return add_(ctx, xf, xb); });
    mem_row("bias + quick_gelu bf16 [5476, 5120]", act * 4 * 4, [&] {
      return bias_act_(ctx, h, &hb, kernels::Act::kQuickGelu);
    });
    mem_row("silu_mul bf16 [5476, 3420]", static_cast<double>(tokens) * 3420 * 6, [&] {
      return ok(silu_mul(ctx, gate, up));
    });
    mem_row("rotary bf16 [5476, 16, 80]", act * 4 + static_cast<double>(tokens) * head_dim * 8, [&] {
      return apply_rotary_(ctx, q, cs, cs);
    });
    DeviceTensor k = filled(ctx, DType::kBF16, Shape{tokens, heads, head_dim});
    mem_row("rotary q+k bf16 [5476, 16, 80] x 2", act * 8 + static_cast<double>(tokens) * head_dim * 8, [&] {
      return apply_rotary_(ctx, q, k, cs, cs);
    });
    std::vector<int64_t> perm(static_cast<size_t>(tokens / 4));
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>((i * 7) % perm.size());
    mem_row("gather_row_groups bf16 [5476, 1280] / 4", act * 4, [&] { return ok(gather_row_groups(ctx, xb, perm, 4)); });
    // The op above validates and uploads its index on every call (host work
    // that can outlast the copy); the kernel alone, index already on device:
    DeviceTensor dperm =
        upload(Tensor::from_vector(perm, Shape{static_cast<int64_t>(perm.size())}).value(), DType::kI32, ctx).value();
    DeviceTensor gathered = ctx.empty(DType::kBF16, Shape{tokens, hidden}).value();
    mem_row("  its kernel alone (index on device)", act * 4, [&] {
      return cuda_status(kernels::reorder_rows(gathered.raw_data(), xb.raw_data(), dperm.data<int32_t>(),
                                               static_cast<int64_t>(perm.size()), 4 * hidden * 2, false, ctx.stream()),
                         "reorder_rows");
    });
  }

  std::printf("\n%s (sm_%d%d, %d SMs), CUDA runtime %s\n", dev.name.c_str(), dev.compute_major, dev.compute_minor,
              dev.multiprocessors, runtime_version().c_str());
  std::printf("%-44s %10s %10s %8s\n", "case", "ms", "TFLOP/s", "of GEMM");
  for (const Row& r : rows) std::printf("%-44s %10.3f %10.1f %7.1f%%\n", r.what.c_str(), r.ms, r.tflops, 100.0 * r.tflops / peak);
  std::printf("\n%-44s %10s %10s %8s\n", "memory-bound op (batch 1)", "ms", "GB/s", "of copy");
  for (const MemRow& r : mem) std::printf("%-44s %10.4f %10.1f %7.1f%%\n", r.what.c_str(), r.ms, r.gbps, 100.0 * r.gbps / copy_gbps);
  std::fflush(stdout);

  // 7. The experimental Hopper (wgmma) attention, after everything else is
  //    printed: a fault in an unmeasured kernel ends the process. Full
  //    attention, batch 1 and 8, beside the default kernel on the same data.
  if (!kernels::wgmma_attention_available()) {
    std::printf("\nwgmma attention: not available (needs sm_90 and a build with sm_90a code)\n");
    return 0;
  }
  std::printf("\n%-44s %10s %10s %8s\n", "experimental attention (bf16, full 5476)", "ms", "TFLOP/s", "of GEMM");
  for (int batch : {1, 8}) {
    const int64_t m = tokens * batch;
    DeviceTensor q = bench::random_filled(ctx, DType::kBF16, Shape{m, heads, head_dim}, 1);
    DeviceTensor k = bench::random_filled(ctx, DType::kBF16, Shape{m, heads, head_dim}, 2);
    DeviceTensor v = bench::random_filled(ctx, DType::kBF16, Shape{m, heads, head_dim}, 3);
    std::vector<int64_t> cu{0};
    for (int i = 0; i < batch; ++i) cu.push_back(cu.back() + tokens);
    const double flops = 4.0 * tokens * tokens * heads * head_dim * batch;
    std::vector<std::pair<kernels::AttnImpl, std::string>> impls{{kernels::AttnImpl::kTensorCore, "default (mma.sync)"}};
    for (const auto& e : kernels::kExperimentalTensorCoreVariants) impls.emplace_back(e.impl, e.name);
    for (const auto& [impl, name] : impls) {
      const double ms = time_ms(ctx, 3, [&]() -> Status {
        auto out = varlen_attention(ctx, q, k, v, cu, 0.1118f, impl);
        return out.ok() ? Status::Ok() : out.status();
      });
      const double tflops = flops / ms / 1e9;
      std::printf("%-44s %10.3f %10.1f %7.1f%%\n", ("b" + std::to_string(batch) + " " + name).c_str(), ms, tflops,
                  100.0 * tflops / peak);
      std::fflush(stdout);
    }
  }
  return 0;
}
