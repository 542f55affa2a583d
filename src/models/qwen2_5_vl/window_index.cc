#include "models/qwen2_5_vl/window_index.h"

#include <cstring>

#include "common/thread_pool.h"

namespace eric::models::qwen2_5_vl {

WindowLayout window_layout(const std::vector<qwen2_vl::GridTHW>& grids, const qwen2_vl::VisionConfig& cfg) {
  WindowLayout out;
  out.cu_window_seqlens.push_back(0);
  const int64_t m = cfg.spatial_merge_size;
  const int64_t ws = cfg.window_size / m / cfg.patch_size;  // vit_merger_window_size, in merge units
  const int64_t unit = cfg.merge_unit();
  int64_t base = 0;
  for (const auto& g : grids) {
    const int64_t lh = g.h / m, lw = g.w / m;
    // As the reference: pad = ws - n % ws, a whole empty window row/column
    // when n divides evenly; empty windows only repeat a cu_seqlens entry.
    const int64_t nh = (lh + ws - lh % ws) / ws;
    const int64_t nw = (lw + ws - lw % ws) / ws;
    for (int64_t f = 0; f < g.t; ++f) {
      for (int64_t wy = 0; wy < nh; ++wy) {
        for (int64_t wx = 0; wx < nw; ++wx) {
          int64_t count = 0;
          for (int64_t y = wy * ws; y < std::min((wy + 1) * ws, lh); ++y) {
            for (int64_t x = wx * ws; x < std::min((wx + 1) * ws, lw); ++x) {
              out.window_index.push_back(base + (f * lh + y) * lw + x);
              ++count;
            }
          }
          const int64_t end = out.cu_window_seqlens.back() + count * unit;
          if (end != out.cu_window_seqlens.back()) out.cu_window_seqlens.push_back(end);
        }
      }
    }
    base += g.t * lh * lw;
  }
  return out;
}

Result<Tensor> gather_row_groups(const Tensor& x, const std::vector<int64_t>& index, int64_t group) {
  const int64_t d = x.dim(1);
  const int64_t n = static_cast<int64_t>(index.size());
  if (n * group != x.dim(0)) {
    return InvalidArgument("window reorder: {} groups of {} rows do not cover {} rows", n, group, x.dim(0));
  }
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, x.shape()));
  const float* src = x.data<float>();
  float* dst = out.mutable_data<float>();
  const size_t bytes = sizeof(float) * static_cast<size_t>(group * d);
  ThreadPool::global().parallel_for(n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + i * group * d, src + index[i] * group * d, bytes);
  });
  return out;
}

Result<Tensor> scatter_rows(const Tensor& x, const std::vector<int64_t>& index) {
  const int64_t d = x.dim(1);
  const int64_t n = static_cast<int64_t>(index.size());
  if (n != x.dim(0)) return InvalidArgument("window restore: {} indices for {} rows", n, x.dim(0));
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, x.shape()));
  const float* src = x.data<float>();
  float* dst = out.mutable_data<float>();
  ThreadPool::global().parallel_for(n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + index[i] * d, src + i * d, sizeof(float) * d);
  });
  return out;
}

}  // namespace eric::models::qwen2_5_vl
