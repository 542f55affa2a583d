#include "models/qwen2_vl/vision_tower_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "backend/cuda/cuda_error.h"
#include "backend/cuda/device_allocator.h"
#include "backend/cuda/device_query.h"

namespace eric::models::qwen2_vl {

namespace {
// Records an event after each phase on the stream and, at finish(), adds the
// time between consecutive events to the phase that ended there. Inactive
// (every call a no-op) without a TowerPhaseTimes to fill.
class PhaseTimer {
 public:
  PhaseTimer(cudaStream_t stream, TowerPhaseTimes* out) : stream_(stream), out_(out) {}
  ~PhaseTimer() {
    for (auto& m : marks_) cudaEventDestroy(m.event);
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

  // Marks the end of a phase (nullptr: the start of the first).
  Status mark(double TowerPhaseTimes::*phase) {
    if (out_ == nullptr) return Status::Ok();
    Mark m{nullptr, phase};
    ERIC_CUDA_RETURN_IF_ERROR(cudaEventCreate(&m.event), "phase timer event");
    marks_.push_back(m);
    ERIC_CUDA_RETURN_IF_ERROR(cudaEventRecord(m.event, stream_), "phase timer record");
    return Status::Ok();
  }
  Status finish() {
    if (out_ == nullptr || marks_.empty()) return Status::Ok();
    ERIC_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(marks_.back().event), "phase timer wait");
    *out_ = TowerPhaseTimes{};
    for (size_t i = 1; i < marks_.size(); ++i) {
      float ms = 0;
      ERIC_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, marks_[i - 1].event, marks_[i].event), "phase timer");
      (*out_).*(marks_[i].phase) += ms;
    }
    return Status::Ok();
  }

 private:
  struct Mark {
    cudaEvent_t event;
    double TowerPhaseTimes::*phase;
  };
  cudaStream_t stream_;
  TowerPhaseTimes* out_;
  std::vector<Mark> marks_;
};
}  // namespace

Result<CudaVisionTower> CudaVisionTower::upload(cuda::Context& ctx, const VisionTowerWeights& w,
                                                const VisionConfig& cfg, DType dtype,
                                                std::shared_ptr<cuda::NcclCommunicator> comm) {
  if (dtype != DType::kBF16 && dtype != DType::kF32) {
    return InvalidArgument("CUDA vision tower: compute dtype {} (bf16 or f32)", dtype_name(dtype));
  }
  CudaVisionTower t;
  t.dtype_ = dtype;
  t.merge_unit_ = cfg.merge_unit();
  t.merged_dim_ = w.merger.merged_dim();
  ERIC_ASSIGN_OR_RETURN(t.patch_embed_, nn::CudaLinear::upload(ctx, w.patch_embed.proj(), dtype));
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    const VisionBlock& b = w.blocks[i];
    Block d;
    auto uploaded = [&]() -> Status {
      ERIC_ASSIGN_OR_RETURN(d.norm1, nn::CudaNorm::upload(ctx, b.norm1(), dtype));
      ERIC_ASSIGN_OR_RETURN(d.norm2, nn::CudaNorm::upload(ctx, b.norm2(), dtype));
      ERIC_ASSIGN_OR_RETURN(d.attn, nn::CudaVisionAttention::upload(ctx, b.attn(), dtype, comm));
      d.gated = b.gated();
      if (d.gated) {
        ERIC_ASSIGN_OR_RETURN(d.gated_mlp, nn::CudaGatedMLP::upload(ctx, b.gated_mlp(), dtype, comm));
      } else {
        ERIC_ASSIGN_OR_RETURN(d.mlp, nn::CudaMLP::upload(ctx, b.mlp(), dtype, comm));
      }
      return Status::Ok();
    }();
    if (!uploaded.ok()) return uploaded.with_context(fmt::format("uploading vision block {}", i));
    t.blocks_.push_back(std::move(d));
  }
  ERIC_ASSIGN_OR_RETURN(t.ln_q_, nn::CudaNorm::upload(ctx, w.merger.ln_q(), dtype));
  ERIC_ASSIGN_OR_RETURN(t.merger_mlp_, nn::CudaMLP::upload(ctx, w.merger.mlp(), dtype, comm));
  // The host tensors may be freed as soon as this returns: upload() copied
  // them into pinned staging; wait for the copies so load errors show here.
  ERIC_RETURN_IF_ERROR(ctx.synchronize());
  return t;
}

Result<cuda::DeviceTensor> CudaVisionTower::forward(cuda::Context& ctx, const TowerPlan& plan,
                                                    const Tensor& pixel_values) const {
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor px, cuda::upload(pixel_values, dtype_, ctx));
  return forward(ctx, plan, px);
}

Result<cuda::DeviceTensor> CudaVisionTower::forward(cuda::Context& ctx, const TowerPlan& plan,
                                                    const cuda::DeviceTensor& pixels, TowerPhaseTimes* times) const {
  if (plan.full_attention_block.size() != blocks_.size()) {
    return InvalidArgument("tower plan covers {} blocks, the CUDA tower has {}", plan.full_attention_block.size(),
                           blocks_.size());
  }
  ERIC_RETURN_IF_ERROR(pixels.expect_dtype(dtype_, "CUDA vision tower pixel values"));
  PhaseTimer timer(ctx.stream(), times);
  ERIC_RETURN_IF_ERROR(timer.mark(nullptr));
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor embedded, patch_embed_.forward(ctx, pixels));
  // The residual stream stays float32 in either compute dtype: only the
  // branches (norm outputs, GEMMs, attention) run in bf16, and each branch
  // output is added to the float32 stream. Rounding the sum of 32 blocks'
  // updates to bf16 after every add (as a bf16 torch model does) is the
  // largest error of bf16 inference; this costs two float32 passes a block.
  cuda::DeviceTensor x = embedded;  // already float32 in f32 compute
  if (x.dtype() != DType::kF32) {
    ERIC_ASSIGN_OR_RETURN(x, cuda::to_dtype(ctx, embedded, DType::kF32));
  }
  if (plan.reorders()) {
    ERIC_ASSIGN_OR_RETURN(x, cuda::gather_row_groups(ctx, x, plan.window_index, merge_unit_));
  }
  // cos/sin of the plan's angles (float32 in either dtype), on the device:
  // the host's share is the [tokens, head_dim / 2] angle table.
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor angles, cuda::upload(plan.angles, DType::kF32, ctx));
  ERIC_ASSIGN_OR_RETURN(auto cos_sin, cuda::rotary_cos_sin(ctx, angles));
  const cuda::DeviceTensor& cos = cos_sin.first;
  const cuda::DeviceTensor& sin = cos_sin.second;
  // The plan's two sets of attention segments, on the device once.
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceSeqlens cu_full, cuda::upload_seqlens(ctx, plan.cu_full));
  cuda::DeviceSeqlens cu_window;  // stays empty (an error if used) where the plan has no windows
  if (plan.cu_window == plan.cu_full) {
    cu_window = cu_full;
  } else if (!plan.cu_window.empty()) {
    ERIC_ASSIGN_OR_RETURN(cu_window, cuda::upload_seqlens(ctx, plan.cu_window));
  }
  ERIC_RETURN_IF_ERROR(timer.mark(&TowerPhaseTimes::embed_ms));
  // Each residual add is fused with the norm that follows it (the next
  // block's norm1, or the merger's ln_q after the last block).
  if (blocks_.empty()) return InvalidArgument("CUDA vision tower without blocks");
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor h, blocks_[0].norm1.forward(ctx, x));
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    ERIC_RETURN_IF_ERROR(timer.mark(&TowerPhaseTimes::norm_residual_ms));
    ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor a,
                          b.attn.forward(ctx, h, cos, sin, plan.full_attention_block[i] ? cu_full : cu_window));
    ERIC_RETURN_IF_ERROR(timer.mark(&TowerPhaseTimes::attention_ms));
    ERIC_ASSIGN_OR_RETURN(h, b.norm2.add_forward(ctx, x, a));
    ERIC_RETURN_IF_ERROR(timer.mark(&TowerPhaseTimes::norm_residual_ms));
    ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor m, b.gated ? b.gated_mlp.forward(ctx, h) : b.mlp.forward(ctx, h));
    ERIC_RETURN_IF_ERROR(timer.mark(&TowerPhaseTimes::mlp_ms));
    const nn::CudaNorm& next_norm = i + 1 < blocks_.size() ? blocks_[i + 1].norm1 : ln_q_;
    ERIC_ASSIGN_OR_RETURN(h, next_norm.add_forward(ctx, x, m));
  }
  ERIC_RETURN_IF_ERROR(timer.mark(&TowerPhaseTimes::norm_residual_ms));
  // h is ln_q(x) (the last block's fused add); merge_unit consecutive patches per row.
  ERIC_ASSIGN_OR_RETURN(h, h.reshape({-1, merged_dim_}));
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor merged, merger_mlp_.forward(ctx, h));
  if (plan.reorders()) {
    ERIC_ASSIGN_OR_RETURN(merged, cuda::scatter_rows(ctx, merged, plan.window_index));
  }
  ERIC_RETURN_IF_ERROR(timer.mark(&TowerPhaseTimes::merger_ms));
  ERIC_RETURN_IF_ERROR(timer.finish());
  return merged;
}

Result<std::unique_ptr<CudaVisionEncoder>> CudaVisionEncoder::load(const VisionConfig& cfg, const WeightMap& weights,
                                                                   const BlockStyle& style, PlanBuilder plan,
                                                                   const EncoderOptions& options) {
  if (options.cuda_dtype != DType::kBF16 && options.cuda_dtype != DType::kF32) {
    return InvalidArgument("--cuda-dtype {}: bf16 or f32", dtype_name(options.cuda_dtype));
  }
  auto devices = cuda::list_devices();
  if (!devices.ok()) {
    return Unavailable("--device cuda: no usable GPU on this machine ({})", devices.status().message());
  }
  if (options.device_index < 0 || options.device_index >= static_cast<int>(devices->size())) {
    return Unavailable("--device cuda: GPU {} requested, but {} CUDA device(s) are visible", options.device_index,
                       devices->size());
  }
  {
    // --cuda-memory-limit, on this GPU's allocator before anything is
    // allocated there (the context's cuBLASLt workspace included). The
    // allocator is process-wide: the last encoder loaded sets its GPU's
    // limit, none included, so a limit never outlives its encoder's options.
    const cuda::DeviceInfo& gpu = (*devices)[static_cast<size_t>(options.device_index)];
    const uint64_t limit = options.cuda_memory_limit.resolve(gpu.total_memory_bytes);
    ERIC_ASSIGN_OR_RETURN(cuda::DeviceAllocator * alloc, cuda::DeviceAllocator::for_device(options.device_index));
    Status set = alloc->set_limit(limit);
    if (!set.ok()) return set.with_context(fmt::format("--cuda-memory-limit on GPU {}", options.device_index));
    constexpr double kGiB = double(uint64_t{1} << 30);
    if (limit != 0) {
      spdlog::info("GPU {} ({}): eric holds at most {:.2f} GiB (--cuda-memory-limit) of {:.2f} GiB",
                   options.device_index, gpu.name, double(limit) / kGiB, double(gpu.total_memory_bytes) / kGiB);
    }
    if (limit > gpu.total_memory_bytes) {
      spdlog::warn("--cuda-memory-limit {:.2f} GiB is more than GPU {}'s {:.2f} GiB: it caps nothing",
                   double(limit) / kGiB, options.device_index, double(gpu.total_memory_bytes) / kGiB);
    }
  }
  std::unique_ptr<CudaVisionEncoder> e(new CudaVisionEncoder(cfg, plan));
  auto ctx = cuda::Context::create(options.device_index);
  if (!ctx.ok()) return ctx.status().with_context(fmt::format("--device cuda: GPU {}", options.device_index));
  e->ctx_ = std::move(ctx).value();
  // Tensor parallelism: the ranks (one worker process per GPU) form an NCCL
  // communicator, its id sent over the host collective the engine set up for
  // them; each loads its shard on the host and uploads it.
  std::shared_ptr<cuda::NcclCommunicator> comm;
  const auto& host_group = options.collective;
  if (host_group && host_group->world_size() > 1) {
    const int rank = host_group->rank(), world = host_group->world_size();
    auto id = cuda::exchange_nccl_id(rank, [&](std::vector<float>& values) -> Status {
      ERIC_ASSIGN_OR_RETURN(Tensor t, Tensor::from_vector(values, Shape{static_cast<int64_t>(values.size())}));
      ERIC_RETURN_IF_ERROR(host_group->all_reduce_sum(t));
      std::copy(t.data<float>(), t.data<float>() + t.numel(), values.begin());
      return Status::Ok();
    });
    if (!id.ok()) return id.status().with_context(fmt::format("tensor parallelism, rank {} of {}", rank, world));
    auto created = cuda::NcclCommunicator::create(id.value(), rank, world, options.device_index);
    if (!created.ok()) {
      return created.status().with_context(fmt::format("tensor parallelism, rank {} of {} on GPU {}", rank, world,
                                                       options.device_index));
    }
    comm = std::move(created).value();
  }
  {
    // Host weights (float32) live only until they are on the device.
    ERIC_ASSIGN_OR_RETURN(VisionTowerWeights w, VisionTowerWeights::load(weights, cfg, style, options));
    auto tower = CudaVisionTower::upload(*e->ctx_, w, cfg, options.cuda_dtype, comm);
    if (!tower.ok()) {
      return tower.status().with_context(fmt::format("uploading the vision tower to GPU {}", options.device_index));
    }
    e->tower_ = std::move(tower).value();
  }
  return e;
}

CudaVisionEncoder::~CudaVisionEncoder() {
  if (ctx_) (void)ctx_->synchronize();
}

Status CudaVisionEncoder::health() const { return cuda::context_lost(); }

Result<cuda::DeviceTensor> CudaVisionEncoder::forward_on_device(const Tensor& pixel_values,
                                                                const std::vector<GridTHW>& grids) const {
  ERIC_RETURN_IF_ERROR(validate_inputs(cfg_, pixel_values, grids));
  ERIC_ASSIGN_OR_RETURN(TowerPlan plan, plan_(grids, cfg_));
  // CUDA's current device is per host thread; the serving thread may not be the loading one.
  ERIC_CUDA_RETURN_IF_ERROR(cudaSetDevice(ctx_->device()), "set device");
  return tower_.forward(*ctx_, plan, pixel_values);
}

Result<Tensor> CudaVisionEncoder::forward(const Tensor& pixel_values, const std::vector<GridTHW>& grids) const {
  std::lock_guard<std::mutex> lock(mu_);
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor out, forward_on_device(pixel_values, grids));
  return cuda::download_f32(out, *ctx_);  // waits for the stream
}

Result<std::vector<Tensor>> CudaVisionEncoder::encode_batch(const ItemBatch& batch) {
  ERIC_RETURN_IF_ERROR(validate_grids(cfg_, batch.grids));
  if (batch.width != cfg_.patch_dim()) {
    return InvalidArgument("pixel_values rows hold {} values, expected patch_dim {}", batch.width, cfg_.patch_dim());
  }
  ERIC_ASSIGN_OR_RETURN(TowerPlan plan, plan_(batch.grids, cfg_));
  std::vector<Tensor> in_blocks;
  for (const Tensor* px : batch.pixels) {
    ERIC_ASSIGN_OR_RETURN(Tensor c, px->contiguous());  // the same tensor, unless the item holds a strided view
    in_blocks.push_back(std::move(c));
  }
  ERIC_ASSIGN_OR_RETURN(cuda::RowBlocks pixels, cuda::RowBlocks::create(std::move(in_blocks)));
  // The results' own tensors, written by the download: no packed result on
  // the host, no second copy per item.
  std::vector<Tensor> out;
  for (int64_t n : batch.item_tokens) {
    ERIC_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(DType::kF32, {n, cfg_.out_hidden}));
    out.push_back(std::move(t));
  }
  ERIC_ASSIGN_OR_RETURN(cuda::RowBlocks results, cuda::RowBlocks::create(out));

  std::lock_guard<std::mutex> lock(mu_);
  ERIC_CUDA_RETURN_IF_ERROR(cudaSetDevice(ctx_->device()), "set device");
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor px, ctx_->empty(tower_.dtype(), Shape{batch.total_patches, batch.width}));
  ERIC_RETURN_IF_ERROR(cuda::upload_rows(pixels, px, *ctx_));
  ERIC_ASSIGN_OR_RETURN(cuda::DeviceTensor merged, tower_.forward(*ctx_, plan, px));
  if (merged.rank() != 2 || merged.dim(0) != results.rows() || merged.dim(1) != results.width()) {
    return Internal("CUDA vision tower returned {}, expected [{}, {}] for the batch", merged.shape().to_string(),
                    results.rows(), results.width());
  }
  ERIC_RETURN_IF_ERROR(cuda::download_rows(merged, results, *ctx_));  // waits for the stream
  return out;
}

}  // namespace eric::models::qwen2_vl
