#include "models/qwen2_vl/tower_plan.h"

#include <cstring>

#include "common/thread_pool.h"
#include "models/qwen2_vl/vision_common.h"

namespace eric::models::qwen2_vl {

Result<TowerPlan> full_attention_plan(const std::vector<GridTHW>& grids, const VisionConfig& cfg) {
  TowerPlan plan;
  plan.cu_full = frame_cu_seqlens(grids);
  plan.full_attention_block.assign(static_cast<size_t>(cfg.depth), true);
  ERIC_ASSIGN_OR_RETURN(plan.angles, rotary_angles(grids, cfg.head_dim(), cfg.spatial_merge_size));
  return plan;
}

double tower_flops(const VisionConfig& cfg, const TowerPlan& plan, int64_t patches, bool gated_mlp) {
  auto attention = [&](const std::vector<int64_t>& cu) {
    double f = 0;
    for (size_t i = 0; i + 1 < cu.size(); ++i) {
      const double s = static_cast<double>(cu[i + 1] - cu[i]);
      f += 4.0 * s * s * static_cast<double>(cfg.embed_dim);  // QK^T and PV over all heads
    }
    return f;
  };
  const double n = static_cast<double>(patches);
  const double e = static_cast<double>(cfg.embed_dim), m = static_cast<double>(cfg.mlp_hidden);
  const double full = attention(plan.cu_full), windowed = attention(plan.cu_window);
  double f = 2.0 * n * static_cast<double>(cfg.patch_dim()) * e;  // patch embed
  for (bool is_full : plan.full_attention_block) {
    f += 2.0 * n * e * 4.0 * e;  // qkv + proj
    f += is_full ? full : windowed;
    f += (gated_mlp ? 3.0 : 2.0) * 2.0 * n * e * m;
  }
  const double merged = e * static_cast<double>(cfg.merge_unit());
  const double rows = n / static_cast<double>(cfg.merge_unit());
  f += 2.0 * rows * merged * merged + 2.0 * rows * merged * static_cast<double>(cfg.out_hidden);
  return f;
}

Result<Tensor> gather_row_groups(const Tensor& x, const std::vector<int64_t>& index, int64_t group) {
  if (x.rank() != 2 || x.dtype() != DType::kF32) {
    return InvalidArgument("window reorder: x must be [rows, d] float32, got {} {}", dtype_name(x.dtype()),
                           x.shape().to_string());
  }
  const int64_t d = x.dim(1);
  const int64_t n = static_cast<int64_t>(index.size());
  if (n * group != x.dim(0)) {
    return InvalidArgument("window reorder: {} groups of {} rows do not cover {} rows", n, group, x.dim(0));
  }
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= n) return OutOfRange("window reorder: index[{}] = {} outside 0..{}", i, index[i], n - 1);
  }
  ERIC_ASSIGN_OR_RETURN(Tensor src_c, x.contiguous());
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, x.shape()));
  const float* src = src_c.data<float>();
  float* dst = out.mutable_data<float>();
  const size_t bytes = sizeof(float) * static_cast<size_t>(group * d);
  ThreadPool::global().parallel_for(n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + i * group * d, src + index[i] * group * d, bytes);
  });
  return out;
}

Result<Tensor> scatter_rows(const Tensor& x, const std::vector<int64_t>& index) {
  if (x.rank() != 2 || x.dtype() != DType::kF32) {
    return InvalidArgument("window restore: x must be [rows, d] float32, got {} {}", dtype_name(x.dtype()),
                           x.shape().to_string());
  }
  const int64_t d = x.dim(1);
  const int64_t n = static_cast<int64_t>(index.size());
  if (n != x.dim(0)) return InvalidArgument("window restore: {} indices for {} rows", n, x.dim(0));
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= n) return OutOfRange("window restore: index[{}] = {} outside 0..{}", i, index[i], n - 1);
  }
  ERIC_ASSIGN_OR_RETURN(Tensor src_c, x.contiguous());
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, x.shape()));
  const float* src = src_c.data<float>();
  float* dst = out.mutable_data<float>();
  ThreadPool::global().parallel_for(n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + index[i] * d, src + i * d, sizeof(float) * d);
  });
  return out;
}

}  // namespace eric::models::qwen2_vl
