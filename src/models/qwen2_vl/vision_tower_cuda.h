// The Qwen vision tower on the CUDA backend (both families: Qwen2.5-VL runs
// it with its window plan). Weights are uploaded once at load, in bf16 (the
// default) or float32; each forward uploads the pixel values through pinned
// staging, runs patch embedding, the plan's reordering, the blocks on the
// plan's attention segments and the merger on the GPU, and downloads the
// float32 result. Compiled only with the CUDA backend (ERIC_HAVE_CUDA).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "backend/cuda/context.h"
#include "models/qwen2_vl/tower_plan.h"
#include "models/qwen2_vl/vision_common.h"
#include "nn/cuda/layers.h"

namespace eric::models::qwen2_vl {

// GPU milliseconds of one forward pass by phase, from CUDA events recorded
// between the phases (benchmarks: where the time goes). embed: patch
// embedding, reordering, rotary tables; attention: q/k/v GEMMs, rotary,
// attention, out-projection; mlp: the MLP GEMMs and activations;
// norm_residual: the blocks' norms and residual adds; merger: ln_q, the
// merger MLP and the scatter back.
struct TowerPhaseTimes {
  double embed_ms = 0, attention_ms = 0, mlp_ms = 0, norm_residual_ms = 0, merger_ms = 0;
  double total_ms() const { return embed_ms + attention_ms + mlp_ms + norm_residual_ms + merger_ms; }
};

class CudaVisionTower {
 public:
  CudaVisionTower() = default;
  // Uploads `w` (loaded on the host: all of it, or this rank's shard) to
  // ctx's device in `dtype`; a sharded tower's row-parallel layers sum over
  // `comm`.
  static Result<CudaVisionTower> upload(cuda::Context& ctx, const VisionTowerWeights& w, const VisionConfig& cfg,
                                        DType dtype,
                                        std::shared_ptr<cuda::NcclCommunicator> comm = nullptr);
  // pixel_values [patches, patch_dim] float32 (host) -> [patches / merge_unit,
  // out_hidden] on the device, in processor order, in dtype(); enqueued on
  // ctx's stream (not synchronised).
  Result<cuda::DeviceTensor> forward(cuda::Context& ctx, const TowerPlan& plan, const Tensor& pixel_values) const;
  // The same from pixel values already on the device, in dtype(). With
  // `times`, also waits for the pass and fills in its per-phase GPU times.
  Result<cuda::DeviceTensor> forward(cuda::Context& ctx, const TowerPlan& plan, const cuda::DeviceTensor& pixels,
                                     TowerPhaseTimes* times = nullptr) const;
  DType dtype() const { return dtype_; }

 private:
  struct Block {
    nn::CudaNorm norm1, norm2;
    nn::CudaVisionAttention attn;
    bool gated = false;
    nn::CudaMLP mlp;
    nn::CudaGatedMLP gated_mlp;
  };
  DType dtype_ = DType::kBF16;
  int64_t merge_unit_ = 4;
  int64_t merged_dim_ = 0;
  nn::CudaLinear patch_embed_;
  std::vector<Block> blocks_;
  nn::CudaNorm ln_q_;
  nn::CudaMLP merger_mlp_;
};

// An Encoder whose forward runs a CudaVisionTower on the plan of its family.
class CudaVisionEncoder : public PackedVisionEncoder {
 public:
  // Checks that GPU options.device_index exists, loads the weights on the
  // host, uploads them in options.cuda_dtype and drops the host copies.
  static Result<std::unique_ptr<CudaVisionEncoder>> load(const VisionConfig& cfg, const WeightMap& weights,
                                                          const BlockStyle& style, PlanBuilder plan,
                                                          const EncoderOptions& options);
  ~CudaVisionEncoder() override;
  // Unavailable once this process met a sticky CUDA error (cuda::context_lost).
  Status health() const override;
  Result<Tensor> forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const override;
  // The device result, left on the GPU (not serialised with forward()).
  Result<cuda::DeviceTensor> forward_on_device(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const;
  // For benchmarks and tests (callers serialise their use with encode()).
  cuda::Context& context() const { return *ctx_; }
  const CudaVisionTower& tower() const { return tower_; }
  Result<TowerPlan> plan(const std::vector<GridTHW>& grids) const { return plan_(grids, cfg_); }

 protected:
  // No packed host copy: each item's pixel rows go from its own tensor into
  // its rows of one device buffer (cuda::upload_rows: converted in parallel,
  // chunked through pinned memory, overlapping the copies), and each item's
  // result rows come back into its own output tensor (cuda::download_rows).
  // The same values as forward() of the packed batch.
  Result<std::vector<Tensor>> encode_batch(const ItemBatch& batch) override;

 private:
  CudaVisionEncoder(VisionConfig cfg, PlanBuilder plan) : PackedVisionEncoder(std::move(cfg)), plan_(plan) {}
  PlanBuilder plan_;
  std::unique_ptr<cuda::Context> ctx_;  // declared before tower_: the weights go back to its stream's cache first
  CudaVisionTower tower_;
  mutable std::mutex mu_;  // one forward at a time on the context's stream
};

}  // namespace eric::models::qwen2_vl
