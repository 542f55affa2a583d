#include "models/qwen2_vl/vision_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "backend/cpu/ops.h"
#include "common/thread_pool.h"

namespace eric::models::qwen2_vl {

Result<std::vector<GridTHW>> grids_from_tensor(const Tensor& grid_thw) {
  if (grid_thw.rank() != 2 || grid_thw.dim(1) != 3) {
    return InvalidArgument("image_grid_thw must be [n, 3], got {}", grid_thw.shape().to_string());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor g, grid_thw.to(DType::kI64));
  ERIC_ASSIGN_OR_RETURN(g, g.contiguous());
  const int64_t* p = g.data<int64_t>();
  std::vector<GridTHW> grids;
  for (int64_t i = 0; i < g.dim(0); ++i) grids.push_back({p[3 * i], p[3 * i + 1], p[3 * i + 2]});
  return grids;
}

Result<Tensor> grids_to_tensor(const std::vector<GridTHW>& grids) {
  std::vector<int64_t> v;
  for (const auto& g : grids) v.insert(v.end(), {g.t, g.h, g.w});
  return Tensor::from_vector(v, Shape{static_cast<int64_t>(grids.size()), 3});
}

Status validate_grids(const VisionConfig& cfg, const std::vector<GridTHW>& grids) {
  if (grids.empty()) return InvalidArgument("no images: image_grid_thw is empty");
  for (size_t i = 0; i < grids.size(); ++i) {
    const auto& g = grids[i];
    if (g.t <= 0 || g.h <= 0 || g.w <= 0) {
      return InvalidArgument("grid {} is [{}, {}, {}]: every dimension must be positive", i, g.t, g.h, g.w);
    }
    if (g.h % cfg.spatial_merge_size != 0 || g.w % cfg.spatial_merge_size != 0) {
      return InvalidArgument("grid {} is [{}, {}, {}]: h and w must be multiples of spatial_merge_size {}", i, g.t,
                             g.h, g.w, cfg.spatial_merge_size);
    }
  }
  return Status::Ok();
}

Status validate_inputs(const VisionConfig& cfg, const Tensor& pixel_values, const std::vector<GridTHW>& grids) {
  ERIC_RETURN_IF_ERROR(validate_grids(cfg, grids));
  int64_t total = 0;
  for (const auto& g : grids) total += g.patches();
  if (pixel_values.dtype() != DType::kF32) {
    return InvalidArgument("pixel_values must be float32, got {}", dtype_name(pixel_values.dtype()));
  }
  if (pixel_values.rank() != 2 || pixel_values.dim(0) != total || pixel_values.dim(1) != cfg.patch_dim()) {
    return InvalidArgument("pixel_values is {}, expected [{}, {}] for the given grids", pixel_values.shape().to_string(),
                           total, cfg.patch_dim());
  }
  return Status::Ok();
}

std::vector<int64_t> frame_cu_seqlens(const std::vector<GridTHW>& grids) {
  std::vector<int64_t> cu{0};
  for (const auto& g : grids) {
    for (int64_t f = 0; f < g.t; ++f) cu.push_back(cu.back() + g.h * g.w);
  }
  return cu;
}

Result<Tensor> rotary_angles(const std::vector<GridTHW>& grids, int64_t head_dim, int64_t merge_size,
                             const std::vector<int64_t>* group_order) {
  // VisionRotaryEmbedding(head_dim / 2): inv_freq = 1 / theta^(arange(0, dim, 2) / dim), in float32 as torch.
  const int64_t dim = head_dim / 2;
  const int64_t q = dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(q));
  for (int64_t j = 0; j < q; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(dim);
    inv_freq[static_cast<size_t>(j)] = 1.0f / std::pow(10000.0f, e);
  }
  const int64_t m = merge_size;
  if (m <= 0) return InvalidArgument("rotary angles: spatial merge size {}", m);
  // Merge groups in processor order: per grid, frame, block row, block
  // column; group_start[i] is grid i's first group.
  std::vector<int64_t> group_start{0};
  for (const auto& g : grids) {
    if (g.h % m != 0 || g.w % m != 0) {
      return InvalidArgument("rotary angles: grid {}x{} is not a multiple of the merge size {}", g.h, g.w, m);
    }
    group_start.push_back(group_start.back() + g.t * (g.h / m) * (g.w / m));
  }
  const int64_t groups = group_start.back();
  if (group_order != nullptr && static_cast<int64_t>(group_order->size()) != groups) {
    return InvalidArgument("rotary angles: an order of {} merge groups for {}", group_order->size(), groups);
  }
  const int64_t unit = m * m;
  ERIC_ASSIGN_OR_RETURN(Tensor angles, Tensor::empty(DType::kF32, {groups * unit, dim}));
  float* out = angles.mutable_data<float>();
  Status bad = Status::Ok();
  std::mutex bad_mu;
  ThreadPool::global().parallel_for(groups, 256, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t src = group_order != nullptr ? (*group_order)[static_cast<size_t>(i)] : i;
      if (src < 0 || src >= groups) {
        std::lock_guard<std::mutex> lock(bad_mu);
        bad = OutOfRange("rotary angles: group order entry {} is {}, outside 0..{}", i, src, groups - 1);
        return;
      }
      // The grid holding group src, then its block row and column (the frame
      // does not move the angles).
      const size_t k = static_cast<size_t>(std::upper_bound(group_start.begin(), group_start.end(), src) -
                                           group_start.begin()) - 1;
      const int64_t blocks_w = grids[k].w / m;
      const int64_t in_frame = (src - group_start[k]) % ((grids[k].h / m) * blocks_w);
      const int64_t bh = in_frame / blocks_w, bw = in_frame % blocks_w;
      float* o = out + i * unit * dim;
      for (int64_t ih = 0; ih < m; ++ih)
        for (int64_t iw = 0; iw < m; ++iw) {
          const float row = static_cast<float>(bh * m + ih);
          const float col = static_cast<float>(bw * m + iw);
          for (int64_t j = 0; j < q; ++j) {
            o[j] = row * inv_freq[static_cast<size_t>(j)];
            o[q + j] = col * inv_freq[static_cast<size_t>(j)];
          }
          o += dim;
        }
    }
  });
  ERIC_RETURN_IF_ERROR(bad);
  return angles;
}

Result<std::pair<Tensor, Tensor>> rotary_cos_sin(const Tensor& angles) {
  const int64_t n = angles.dim(0);
  const int64_t half = angles.dim(1);
  ERIC_ASSIGN_OR_RETURN(Tensor cos, Tensor::empty(DType::kF32, {n, 2 * half}));
  ERIC_ASSIGN_OR_RETURN(Tensor sin, Tensor::empty(DType::kF32, {n, 2 * half}));
  const float* a = angles.data<float>();
  float* c = cos.mutable_data<float>();
  float* s = sin.mutable_data<float>();
  ThreadPool::global().parallel_for(n, 256, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      for (int64_t j = 0; j < half; ++j) {
        const float x = a[i * half + j];
        const float cx = std::cos(x), sx = std::sin(x);
        c[i * 2 * half + j] = c[i * 2 * half + half + j] = cx;
        s[i * 2 * half + j] = s[i * 2 * half + half + j] = sx;
      }
    }
  });
  return std::make_pair(std::move(cos), std::move(sin));
}

PatchEmbed PatchEmbed::load(nn::WeightLoader& loader, const std::string& prefix, const VisionConfig& cfg) {
  PatchEmbed p;
  Tensor kernel = loader.take(nn::join_name(prefix, "weight"),
                              Shape{cfg.embed_dim, cfg.in_channels, cfg.temporal_patch_size, cfg.patch_size,
                                    cfg.patch_size});
  if (kernel.defined()) {
    auto flat = kernel.reshape({cfg.embed_dim, cfg.patch_dim()});
    if (flat.ok()) p.proj_ = nn::Linear::from_tensors(*flat, Tensor());
  }
  return p;
}

Result<VisionBlock> VisionBlock::load(nn::WeightLoader& loader, const std::string& prefix, const VisionConfig& cfg,
                                      const BlockStyle& style, const nn::TensorParallel& tp) {
  VisionBlock b;
  constexpr float kEps = 1e-6f;
  b.norm1_ = nn::Norm::load(loader, nn::join_name(prefix, "norm1"), cfg.embed_dim, kEps, style.norm);
  b.norm2_ = nn::Norm::load(loader, nn::join_name(prefix, "norm2"), cfg.embed_dim, kEps, style.norm);
  b.attn_ = nn::VisionAttention::load(loader, nn::join_name(prefix, "attn"), cfg.embed_dim, cfg.num_heads, tp);
  b.gated_ = style.gated_mlp;
  ERIC_ASSIGN_OR_RETURN(nn::Activation act, nn::activation_from_name(cfg.hidden_act));
  if (style.gated_mlp) {
    if (act != nn::Activation::kSilu) {
      return Unimplemented("gated MLP with hidden_act '{}' (only silu is supported)", cfg.hidden_act);
    }
    b.gated_mlp_ = nn::GatedMLP::load(loader, nn::join_name(prefix, "mlp"), cfg.embed_dim, cfg.mlp_hidden, true, tp);
  } else {
    b.mlp_ = nn::MLP::load(loader, nn::join_name(prefix, "mlp"), cfg.embed_dim, cfg.mlp_hidden, 0, act, "fc1", "fc2", tp);
  }
  return b;
}

Status VisionBlock::forward(Tensor& x, const Tensor& cos, const Tensor& sin,
                            const std::vector<int64_t>& cu_seqlens) const {
  ERIC_ASSIGN_OR_RETURN(Tensor h, norm1_.forward(x));
  ERIC_ASSIGN_OR_RETURN(Tensor a, attn_.forward(h, cos, sin, cu_seqlens));
  ERIC_RETURN_IF_ERROR(cpu::add_(x, a));
  ERIC_ASSIGN_OR_RETURN(h, norm2_.forward(x));
  ERIC_ASSIGN_OR_RETURN(Tensor m, gated_ ? gated_mlp_.forward(h) : mlp_.forward(h));
  return cpu::add_(x, m);
}

PatchMerger PatchMerger::load(nn::WeightLoader& loader, const std::string& prefix, const VisionConfig& cfg,
                              nn::Norm::Kind norm, const nn::TensorParallel& tp) {
  PatchMerger p;
  p.merged_dim_ = cfg.embed_dim * cfg.merge_unit();
  p.ln_q_ = nn::Norm::load(loader, nn::join_name(prefix, "ln_q"), cfg.embed_dim, 1e-6f, norm);
  p.mlp_ = nn::MLP::load(loader, nn::join_name(prefix, "mlp"), p.merged_dim_, p.merged_dim_, cfg.out_hidden,
                         nn::Activation::kGeluErf, "0", "2", tp);
  return p;
}

Result<Tensor> PatchMerger::forward(const Tensor& x) const {
  ERIC_ASSIGN_OR_RETURN(Tensor h, ln_q_.forward(x));
  ERIC_ASSIGN_OR_RETURN(Tensor merged, h.reshape({-1, merged_dim_}));
  return mlp_.forward(merged);
}

Result<VisionTowerWeights> VisionTowerWeights::load(const WeightMap& weights, const VisionConfig& cfg,
                                                    const BlockStyle& style, const EncoderOptions& options) {
  nn::TensorParallel tp;
  if (options.collective && options.collective->world_size() > 1) {
    const auto& c = options.collective;
    tp.rank = c->rank();
    tp.world_size = c->world_size();
    tp.all_reduce = [c](Tensor& t) { return c->all_reduce_sum(t); };
    if (cfg.num_heads % tp.world_size != 0 || cfg.mlp_hidden % tp.world_size != 0) {
      return InvalidArgument("tensor parallel size {} does not divide num_heads {} and the MLP width {}",
                             tp.world_size, cfg.num_heads, cfg.mlp_hidden);
    }
  }
  nn::WeightLoader loader(weights, "visual.");
  VisionTowerWeights w;
  w.patch_embed = PatchEmbed::load(loader, "patch_embed.proj", cfg);
  for (int64_t i = 0; i < cfg.depth; ++i) {
    ERIC_ASSIGN_OR_RETURN(VisionBlock b, VisionBlock::load(loader, fmt::format("blocks.{}", i), cfg, style, tp));
    w.blocks.push_back(std::move(b));
  }
  w.merger = PatchMerger::load(loader, "merger", cfg, style.norm, tp);
  ERIC_RETURN_IF_ERROR(loader.finish());
  return w;
}

Result<Tensor> VisionTowerWeights::forward(const TowerPlan& plan, const Tensor& pixel_values,
                                           int64_t merge_unit) const {
  if (plan.full_attention_block.size() != blocks.size()) {
    return InvalidArgument("tower plan covers {} blocks, the tower has {}", plan.full_attention_block.size(),
                           blocks.size());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor x, patch_embed.forward(pixel_values));
  if (plan.reorders()) {
    ERIC_ASSIGN_OR_RETURN(x, gather_row_groups(x, plan.window_index, merge_unit));
  }
  ERIC_ASSIGN_OR_RETURN(auto cos_sin, rotary_cos_sin(plan.angles));
  for (size_t i = 0; i < blocks.size(); ++i) {
    ERIC_RETURN_IF_ERROR(blocks[i].forward(x, cos_sin.first, cos_sin.second, plan.cu_seqlens(i)));
  }
  ERIC_ASSIGN_OR_RETURN(Tensor merged, merger.forward(x));
  if (!plan.reorders()) return merged;
  return scatter_rows(merged, plan.window_index);
}

namespace {
// The item's pixel tensor and grid, under the image or the video names.
Status item_inputs(const ProcessedItem& item, size_t index, const Tensor** pixels, const Tensor** grid) {
  *pixels = item.find("pixel_values");
  *grid = item.find("image_grid_thw");
  if (*pixels == nullptr && *grid == nullptr) {
    *pixels = item.find("pixel_values_videos");
    *grid = item.find("video_grid_thw");
  }
  if (*pixels == nullptr || *grid == nullptr) {
    return InvalidArgument("item {} lacks pixel_values/image_grid_thw (or pixel_values_videos/video_grid_thw)", index);
  }
  return Status::Ok();
}
}  // namespace

Result<ItemBatch> collect_items(const std::vector<const ProcessedItem*>& items, int64_t merge_unit) {
  ItemBatch batch;
  for (size_t i = 0; i < items.size(); ++i) {
    const Tensor* px = nullptr;
    const Tensor* grid = nullptr;
    ERIC_RETURN_IF_ERROR(item_inputs(*items[i], i, &px, &grid));
    ERIC_ASSIGN_OR_RETURN(auto item_grids, grids_from_tensor(*grid));
    int64_t patches = 0;
    for (const auto& g : item_grids) patches += g.patches();
    if (px->rank() != 2 || px->dim(0) != patches) {
      return InvalidArgument("item {}: pixel_values is {}, but its grids hold {} patches", i, px->shape().to_string(),
                             patches);
    }
    if (i == 0) batch.width = px->dim(1);
    if (px->dim(1) != batch.width || px->dtype() != DType::kF32) {
      return InvalidArgument("item {}: pixel_values is {} {}, expected float32 rows of {}", i,
                             dtype_name(px->dtype()), px->shape().to_string(), batch.width);
    }
    batch.grids.insert(batch.grids.end(), item_grids.begin(), item_grids.end());
    batch.pixels.push_back(px);
    batch.item_tokens.push_back(patches / merge_unit);
    batch.total_patches += patches;
  }
  return batch;
}

Result<std::vector<Tensor>> PackedVisionEncoder::encode(const std::vector<const ProcessedItem*>& items) {
  if (items.empty()) return std::vector<Tensor>{};
  ERIC_ASSIGN_OR_RETURN(ItemBatch batch, collect_items(items, cfg_.merge_unit()));
  return encode_batch(batch);
}

Result<std::vector<Tensor>> PackedVisionEncoder::encode_batch(const ItemBatch& batch) {
  std::vector<Tensor> parts;
  for (const Tensor* px : batch.pixels) parts.push_back(*px);  // shares storage: no copy here
  ERIC_ASSIGN_OR_RETURN(Tensor packed, concat_rows(parts));
  ERIC_ASSIGN_OR_RETURN(Tensor merged, forward(packed, batch.grids));
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t n : batch.item_tokens) {
    ERIC_ASSIGN_OR_RETURN(Tensor part, merged.slice(0, start, start + n));
    // Own copies, so one item's result does not keep the whole batch alive.
    ERIC_ASSIGN_OR_RETURN(Tensor copy, part.clone());
    out.push_back(std::move(copy));
    start += n;
  }
  return out;
}

}  // namespace eric::models::qwen2_vl
