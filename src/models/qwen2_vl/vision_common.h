// Pieces shared by the Qwen2-VL and Qwen2.5-VL vision towers (Qwen2.5-VL
// includes this header): grids, per-frame attention segments, the 2-D
// rotary table, the Conv3d patch embedding, the transformer block, the patch
// merger, and packing a batch of items into one forward pass.
#pragma once

#include <memory>
#include <vector>

#include "models/model.h"
#include "models/qwen2_vl/tower_plan.h"
#include "models/qwen2_vl/vision_config.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/norm.h"
#include "nn/weight_loader.h"

namespace eric::models::qwen2_vl {

// One image (t = 1) or video (t = frames / temporal_patch_size), in patches.
struct GridTHW {
  int64_t t = 0, h = 0, w = 0;
  int64_t patches() const { return t * h * w; }
};

// image_grid_thw [n, 3] (int64 or int32) -> grids.
Result<std::vector<GridTHW>> grids_from_tensor(const Tensor& grid_thw);
Result<Tensor> grids_to_tensor(const std::vector<GridTHW>& grids);  // [n, 3] int64

// Checks the grids against the config (not empty, positive, h and w
// multiples of spatial_merge_size).
Status validate_grids(const VisionConfig& cfg, const std::vector<GridTHW>& grids);
// The same, and pixel_values [sum patches, patch_dim] float32.
Status validate_inputs(const VisionConfig& cfg, const Tensor& pixel_values, const std::vector<GridTHW>& grids);

// Attention segments of full attention: every frame of every item is its own
// sequence of h*w patches (repeat_interleave(h*w, t).cumsum, padded with 0).
std::vector<int64_t> frame_cu_seqlens(const std::vector<GridTHW>& grids);

// rot_pos_emb: per patch, in the processor's 2x2-merge-block order, the
// rotary angles [patches, head_dim/2] = [row * inv_freq | col * inv_freq],
// inv_freq over head_dim/2 rotary dims with theta 10000. With `group_order`
// (a permutation of the merge groups, e.g. Qwen2.5-VL's window index), the
// groups' rows come in that order instead: the same table gathered, made in
// one pass. Split over the global thread pool.
Result<Tensor> rotary_angles(const std::vector<GridTHW>& grids, int64_t head_dim, int64_t merge_size,
                             const std::vector<int64_t>* group_order = nullptr);
// cos/sin of cat(angles, angles): two [patches, head_dim] tensors.
Result<std::pair<Tensor, Tensor>> rotary_cos_sin(const Tensor& angles);

// Conv3d(in, embed, kernel = stride = [T, P, P], bias=False) over patches that
// are already flattened (C, T, P, P): a matmul with the reshaped kernel.
class PatchEmbed {
 public:
  static PatchEmbed load(nn::WeightLoader& loader, const std::string& prefix, const VisionConfig& cfg);
  Result<Tensor> forward(const Tensor& pixel_values) const { return proj_.forward(pixel_values); }
  const nn::Linear& proj() const { return proj_; }  // [embed_dim, patch_dim], no bias

 private:
  nn::Linear proj_;
};

// How the two families' blocks differ.
struct BlockStyle {
  nn::Norm::Kind norm = nn::Norm::Kind::kLayerNorm;  // norm1, norm2, merger.ln_q
  bool gated_mlp = false;                             // gate/up/down (with bias) instead of fc1/fc2
};

// Pre-norm ViT block: x += attn(norm1(x)); x += mlp(norm2(x)).
class VisionBlock {
 public:
  static Result<VisionBlock> load(nn::WeightLoader& loader, const std::string& prefix, const VisionConfig& cfg,
                                  const BlockStyle& style, const nn::TensorParallel& tp = {});
  // In place on x [tokens, embed_dim].
  Status forward(Tensor& x, const Tensor& cos, const Tensor& sin, const std::vector<int64_t>& cu_seqlens) const;

  // The loaded layers (for copies on other devices).
  const nn::Norm& norm1() const { return norm1_; }
  const nn::Norm& norm2() const { return norm2_; }
  const nn::VisionAttention& attn() const { return attn_; }
  bool gated() const { return gated_; }
  const nn::MLP& mlp() const { return mlp_; }
  const nn::GatedMLP& gated_mlp() const { return gated_mlp_; }

 private:
  nn::Norm norm1_, norm2_;
  nn::VisionAttention attn_;
  bool gated_ = false;
  nn::MLP mlp_;
  nn::GatedMLP gated_mlp_;
};

// PatchMerger: ln_q, then each run of merge_unit consecutive patches is
// concatenated and sent through Linear -> GELU -> Linear to out_hidden.
class PatchMerger {
 public:
  static PatchMerger load(nn::WeightLoader& loader, const std::string& prefix, const VisionConfig& cfg,
                          nn::Norm::Kind norm, const nn::TensorParallel& tp = {});
  Result<Tensor> forward(const Tensor& x) const;
  const nn::Norm& ln_q() const { return ln_q_; }
  const nn::MLP& mlp() const { return mlp_; }
  int64_t merged_dim() const { return merged_dim_; }

 private:
  nn::Norm ln_q_;
  nn::MLP mlp_;
  int64_t merged_dim_ = 0;
};

// The weights every Qwen vision tower has; the families differ in how the
// blocks' attention segments and token order are arranged.
struct VisionTowerWeights {
  PatchEmbed patch_embed;
  std::vector<VisionBlock> blocks;
  PatchMerger merger;

  // `weights` holds the tower's tensors with "visual." stripped. With a
  // collective of world size > 1, this rank keeps its shard of each block's
  // attention heads and MLP, and of the merger's MLP.
  static Result<VisionTowerWeights> load(const WeightMap& weights, const VisionConfig& cfg, const BlockStyle& style,
                                         const EncoderOptions& options = {});

  // The tower on the CPU: patch embedding, reorder by the plan, the blocks on
  // the plan's segments, the merger, merged tokens back in processor order.
  // pixel_values [patches, patch_dim] float32 -> [patches / merge_unit, out_hidden].
  Result<Tensor> forward(const TowerPlan& plan, const Tensor& pixel_values, int64_t merge_unit) const;
};

// The inputs of one encode() call, checked item by item, not yet packed.
struct ItemBatch {
  std::vector<GridTHW> grids;         // every item's grids, in item order
  std::vector<const Tensor*> pixels;  // item i's pixel values [patches_i, width], float32
  std::vector<int64_t> item_tokens;   // item i's merged tokens: patches_i / merge_unit
  int64_t total_patches = 0;
  int64_t width = 0;  // values per patch, the same in every item
};
// Each item's pixel_values/image_grid_thw (or pixel_values_videos/
// video_grid_thw): rank 2, float32, one width, as many rows as its grids hold
// patches. InvalidArgument names the item.
Result<ItemBatch> collect_items(const std::vector<const ProcessedItem*>& items, int64_t merge_unit);

// An Encoder over packed batches: encode() concatenates the items' patches,
// runs forward() once and splits the merged tokens back per item.
class PackedVisionEncoder : public Encoder {
 public:
  explicit PackedVisionEncoder(VisionConfig cfg) : cfg_(std::move(cfg)) {}
  int64_t output_hidden_size() const override { return cfg_.out_hidden; }
  // collect_items, then encode_batch.
  Result<std::vector<Tensor>> encode(const std::vector<const ProcessedItem*>& items) final;

  // pixel_values [sum patches, patch_dim] float32 -> [sum patches / merge_unit, out_hidden].
  virtual Result<Tensor> forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const = 0;
  const VisionConfig& config() const { return cfg_; }

 protected:
  // One item list's tokens, an owned tensor per item. Here: the items'
  // pixel rows copied into one packed tensor, forward(), the result split.
  // A device backend overrides it to move each item's rows to the device
  // where they lie, without the packed host copy (CudaVisionEncoder).
  virtual Result<std::vector<Tensor>> encode_batch(const ItemBatch& batch);

  VisionConfig cfg_;
};

}  // namespace eric::models::qwen2_vl
