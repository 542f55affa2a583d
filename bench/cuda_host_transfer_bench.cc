// The host side of the CUDA encoder's transfers, on this machine's cores (no
// GPU needed): eight 1024x1024 images' pixel rows (8 x 5476 x 1176 float32,
// 206 MB) converted to bf16 as cuda::upload_rows does, and their results
// (8 x 1369 x 3584 bf16) widened into float32 item tensors as
// cuda::download_rows does; one thread vs the global pool, GB/s of float32
// read or written, best of five; the widening also into freshly allocated
// result tensors, as encode() does. The old encode() path did both on one
// thread (plus a packed copy of each side).
//
//   cuda_host_transfer_bench [--threads N]   (default: all cores, as eric's --threads)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "backend/cuda/host_transfer.h"
#include "common/thread_pool.h"

namespace {

using namespace eric;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Eight [rows, width] float32 tensors; `fill`: written (every page touched),
// else fresh from the allocator, as encode()'s result tensors are.
cuda::RowBlocks blocks(int64_t rows, int64_t width, bool fill = true) {
  std::vector<Tensor> items;
  for (int i = 0; i < 8; ++i) {
    auto t = Tensor::empty(DType::kF32, {rows, width});
    if (!t.ok()) {
      std::fprintf(stderr, "cuda_host_transfer_bench: %s\n", t.status().to_string().c_str());
      std::exit(1);
    }
    float* p = t->mutable_data<float>();
    for (int64_t k = 0; fill && k < t->numel(); ++k) p[k] = static_cast<float>(k % 1000) * 1e-3f - 0.5f;
    items.push_back(std::move(t).value());
  }
  return cuda::RowBlocks::create(std::move(items)).value();
}

// GB/s of `f32_bytes`, best of five runs of `run`.
double gbps(double f32_bytes, const std::function<Status()>& run) {
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    const double t0 = now_s();
    const Status st = run();
    if (!st.ok()) {
      std::fprintf(stderr, "cuda_host_transfer_bench: %s\n", st.to_string().c_str());
      std::exit(1);
    }
    best = std::min(best, now_s() - t0);
  }
  return f32_bytes / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      ThreadPool::set_global_threads(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: cuda_host_transfer_bench [--threads N]\n");
      return 2;
    }
  }
  cuda::RowBlocks pixels = blocks(5476, 1176);
  cuda::RowBlocks results = blocks(1369, 3584);
  std::vector<uint16_t> staged(
      static_cast<size_t>(std::max(pixels.rows() * pixels.width(), results.rows() * results.width())));
  std::fill(staged.begin(), staged.end(), uint16_t{0x3f80});
  ThreadPool one(1);
  ThreadPool& all = ThreadPool::global();
  const double px_bytes = 4.0 * static_cast<double>(pixels.rows() * pixels.width());
  const double out_bytes = 4.0 * static_cast<double>(results.rows() * results.width());
  auto up = [&](ThreadPool& pool) {
    return gbps(px_bytes, [&] { return cuda::gather_rows(pixels, {0, pixels.rows()}, DType::kBF16, staged.data(), pool); });
  };
  auto down = [&](ThreadPool& pool) {
    return gbps(out_bytes,
                [&] { return cuda::scatter_rows(staged.data(), DType::kBF16, {0, results.rows()}, results, pool); });
  };
  // As encode() does it: into result tensors fresh from the allocator (their
  // first touch, page faults and zeroing by the kernel, counts).
  auto down_fresh = [&](ThreadPool& pool) {
    return gbps(out_bytes, [&] {
      cuda::RowBlocks fresh = blocks(1369, 3584, false);
      return cuda::scatter_rows(staged.data(), DType::kBF16, {0, fresh.rows()}, fresh, pool);
    });
  };
  const double up1 = up(one), upn = up(all), down1 = down(one), downn = down(all);
  const double fresh1 = down_fresh(one), freshn = down_fresh(all);
  std::printf("%s\n", fmt::format("host f32->bf16, pixels of 8 x 1024^2 ({:.0f} MB f32): 1 thread {:.1f} GB/s "
                                  "({:.1f} ms), {} threads {:.1f} GB/s ({:.1f} ms)",
                                  px_bytes / 1e6, up1, px_bytes / up1 / 1e6, all.num_threads(), upn,
                                  px_bytes / upn / 1e6)
                          .c_str());
  std::printf("%s\n", fmt::format("host bf16->f32, results of 8 x 1024^2 ({:.0f} MB f32): 1 thread {:.1f} GB/s "
                                  "({:.1f} ms), {} threads {:.1f} GB/s ({:.1f} ms)",
                                  out_bytes / 1e6, down1, out_bytes / down1 / 1e6, all.num_threads(), downn,
                                  out_bytes / downn / 1e6)
                          .c_str());
  std::printf("%s\n", fmt::format("  the same into fresh result tensors (allocation + first touch): 1 thread {:.1f} GB/s "
                                  "({:.1f} ms), {} threads {:.1f} GB/s ({:.1f} ms)",
                                  fresh1, out_bytes / fresh1 / 1e6, all.num_threads(), freshn, out_bytes / freshn / 1e6)
                          .c_str());
  return 0;
}
