// The Qwen vision towers on the CUDA backend against the CPU towers, on tiny
// test checkpoints: a mixed batch (image, non-square image, two-frame video)
// through encode(), CUDA float32 within 1e-4 and bf16 within 2e-2 of the CPU
// float32 result. Skips, naming the reason, where no GPU is visible (CI).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>

#include <cuda_runtime.h>

#include "backend/cuda/device_allocator.h"
#include "backend/cuda/device_query.h"
#include "backend/cuda/nccl_comm.h"
#include "distributed/shm_collective.h"
#include "models/qwen2_5_vl/vision_encoder.h"
#include "models/qwen2_vl/test_model.h"
#include "models/qwen2_vl/vision_encoder.h"
#include "models/qwen2_vl/vision_tower_cuda.h"
#include "tensor/checkpoint.h"
#include "../common/temp_dir.h"
#include "model_test_util.h"

namespace eric::models {
namespace {

namespace fs = std::filesystem;
using qwen2_vl::GridTHW;
using qwen2_vl::PackedVisionEncoder;
using qwen2_vl::VisionConfig;

class QwenVisionCuda : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto devices = cuda::list_devices();
    if (!devices.ok() || devices->empty()) {
      GTEST_SKIP() << "GPU test skipped: " << (devices.ok() ? "no CUDA device visible" : devices.status().message());
    }
    dir_.emplace("qwen_vision_cuda_" + GetParam());
    const std::string model = dir_->file("model");
    ASSERT_TRUE(qwen2_vl::write_test_model(GetParam(), model, TestModelOptions{}).ok());
    const auto config = ModelConfig::load(model).value().config;
    cfg_ = (GetParam() == "qwen2_vl" ? VisionConfig::parse_qwen2_vl(config) : VisionConfig::parse_qwen2_5_vl(config))
               .value();
    weights_ = Checkpoint::open(model).value().load({"visual."}).value();
  }
  void TearDown() override {
    weights_.clear();
    dir_.reset();
  }

  std::unique_ptr<PackedVisionEncoder> load(ComputeDevice device, DType dtype) {
    EncoderOptions o;
    o.device = device;
    o.cuda_dtype = dtype;
    auto r = try_load(o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  Result<std::unique_ptr<PackedVisionEncoder>> try_load(const EncoderOptions& o) {
    return GetParam() == "qwen2_vl" ? qwen2_vl::load_qwen2_vl_encoder(cfg_, weights_, o)
                                    : qwen2_5_vl::load_qwen2_5_vl_encoder(cfg_, weights_, o);
  }

  std::optional<testing::TempDir> dir_;  // made only where a GPU is visible
  VisionConfig cfg_;
  WeightMap weights_;
};

std::vector<ProcessedItem> mixed_batch(const VisionConfig& cfg) {
  std::vector<ProcessedItem> items;
  std::mt19937 gen(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (const GridTHW& g : {GridTHW{1, 8, 8}, GridTHW{1, 6, 10}, GridTHW{2, 4, 6}}) {
    Tensor px = Tensor::empty(DType::kF32, {g.patches(), cfg.patch_dim()}).value();
    for (int64_t i = 0; i < px.numel(); ++i) px.mutable_data<float>()[i] = dist(gen);
    ProcessedItem item;
    item.tensors.emplace_back(g.t > 1 ? "pixel_values_videos" : "pixel_values", px);
    item.tensors.emplace_back(g.t > 1 ? "video_grid_thw" : "image_grid_thw", qwen2_vl::grids_to_tensor({g}).value());
    items.push_back(std::move(item));
  }
  return items;
}

using test_util::encode;

double rel_l2(const std::vector<Tensor>& out, const std::vector<Tensor>& ref) {
  EXPECT_EQ(out.size(), ref.size());
  double num = 0, den = 0;
  for (size_t k = 0; k < std::min(out.size(), ref.size()); ++k) {
    EXPECT_EQ(out[k].shape(), ref[k].shape()) << "item " << k;
    if (out[k].shape() != ref[k].shape()) return INFINITY;
    for (int64_t i = 0; i < out[k].numel(); ++i) {
      const double d = double{out[k].data<float>()[i]} - ref[k].data<float>()[i];
      num += d * d;
      den += double{ref[k].data<float>()[i]} * ref[k].data<float>()[i];
    }
  }
  return std::sqrt(num / den);
}

TEST_P(QwenVisionCuda, MixedBatchMatchesTheCpuTower) {
  auto cpu = load(ComputeDevice::kCpu, DType::kF32);
  auto f32 = load(ComputeDevice::kCuda, DType::kF32);
  auto bf16 = load(ComputeDevice::kCuda, DType::kBF16);
  ASSERT_TRUE(cpu && f32 && bf16);
  EXPECT_NE(dynamic_cast<qwen2_vl::CudaVisionEncoder*>(f32.get()), nullptr);
  const std::vector<ProcessedItem> items = mixed_batch(cfg_);
  const std::vector<Tensor> ref = encode(*cpu, items);
  const std::vector<Tensor> out32 = encode(*f32, items);
  const double e32 = rel_l2(out32, ref), e16 = rel_l2(encode(*bf16, items), ref);
  std::printf("%s: CUDA f32 rel err %.3g, bf16 %.3g\n", GetParam().c_str(), e32, e16);
  EXPECT_LT(e32, 1e-4);
  EXPECT_LT(e16, 2e-2);
  // Each item alone gives its rows of the batch (packing and the plan's
  // reordering are per item).
  const std::vector<Tensor> alone = encode(*f32, {items[1]});
  EXPECT_LT(rel_l2(alone, {out32[1]}), 1e-5);
}

TEST_P(QwenVisionCuda, PhaseTimesCoverTheForwardWithoutChangingIt) {
  auto enc = load(ComputeDevice::kCuda, DType::kF32);
  ASSERT_TRUE(enc);
  auto* cuda_enc = dynamic_cast<qwen2_vl::CudaVisionEncoder*>(enc.get());
  ASSERT_NE(cuda_enc, nullptr);
  const std::vector<GridTHW> grids = {{1, 8, 8}, {1, 6, 10}};
  const std::vector<ProcessedItem> items = mixed_batch(cfg_);
  const Tensor px = concat_rows({items[0].tensors[0].second, items[1].tensors[0].second}).value();
  ASSERT_EQ(px.dim(0), 64 + 60);
  cuda::Context& ctx = cuda_enc->context();
  qwen2_vl::TowerPlan plan = cuda_enc->plan(grids).value();
  cuda::DeviceTensor dev = cuda::upload(px, DType::kF32, ctx).value();
  qwen2_vl::TowerPhaseTimes times;
  Tensor plain = cuda::download_f32(cuda_enc->tower().forward(ctx, plan, dev).value(), ctx).value();
  Tensor timed = cuda::download_f32(cuda_enc->tower().forward(ctx, plan, dev, &times).value(), ctx).value();
  EXPECT_LT(rel_l2({timed}, {plain}), 1e-7);
  EXPECT_GT(times.attention_ms, 0.0);
  EXPECT_GT(times.mlp_ms, 0.0);
  EXPECT_GT(times.norm_residual_ms, 0.0);
  EXPECT_GT(times.embed_ms, 0.0);
  EXPECT_GT(times.merger_ms, 0.0);
}

// encode() moves each item's rows to the device where they lie and each
// item's result rows into its own tensor (no packed host copies): the same
// values as forward() of the packed batch, for items of several sizes, one of
// them a strided view, in both compute dtypes.
TEST_P(QwenVisionCuda, EncodeOfSeveralItemsEqualsForwardOfThePackedBatch) {
  for (DType dt : {DType::kBF16, DType::kF32}) {
    SCOPED_TRACE(dtype_name(dt));
    auto enc = load(ComputeDevice::kCuda, dt);
    ASSERT_TRUE(enc);
    std::vector<ProcessedItem> items = mixed_batch(cfg_);
    // A fourth item whose pixel_values is a transposed (non-contiguous) view.
    const GridTHW g{1, 4, 8};
    Tensor columns = Tensor::empty(DType::kF32, {cfg_.patch_dim(), g.patches()}).value();
    std::mt19937 gen(9);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (int64_t i = 0; i < columns.numel(); ++i) columns.mutable_data<float>()[i] = dist(gen);
    ProcessedItem strided;
    strided.tensors.emplace_back("pixel_values", columns.permute({1, 0}).value());
    strided.tensors.emplace_back("image_grid_thw", qwen2_vl::grids_to_tensor({g}).value());
    items.push_back(std::move(strided));

    std::vector<GridTHW> grids;
    std::vector<Tensor> pixels;
    for (const ProcessedItem& item : items) {
      const Tensor* grid = item.find("image_grid_thw") ? item.find("image_grid_thw") : item.find("video_grid_thw");
      for (const GridTHW& ig : qwen2_vl::grids_from_tensor(*grid).value()) grids.push_back(ig);
      pixels.push_back(item.tensors[0].second);
    }
    const Tensor packed = concat_rows(pixels).value();
    const Tensor ref = enc->forward(packed, grids).value();
    const Tensor again = enc->forward(packed, grids).value();
    // Deterministic kernels give the same bits twice; then encode() must too.
    const bool deterministic = std::memcmp(ref.raw_data(), again.raw_data(), ref.nbytes()) == 0;
    const std::vector<Tensor> out = encode(*enc, items);
    ASSERT_EQ(out.size(), items.size());
    int64_t start = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      const Tensor part = ref.slice(0, start, start + out[k].dim(0)).value();
      ASSERT_EQ(out[k].shape(), part.shape()) << "item " << k;
      if (deterministic) {
        EXPECT_EQ(std::memcmp(out[k].raw_data(), part.contiguous().value().raw_data(), part.nbytes()), 0)
            << "item " << k << ": encode() differs from forward() of the packed batch";
      } else {
        EXPECT_LT(rel_l2({out[k]}, {part.clone().value()}), 1e-6) << "item " << k << " (kernels not deterministic)";
      }
      start += out[k].dim(0);
    }
    EXPECT_EQ(start, ref.dim(0));
    // Rows of the wrong width name the problem.
    ProcessedItem bad;
    bad.tensors.emplace_back("pixel_values", Tensor::zeros(DType::kF32, {g.patches(), cfg_.patch_dim() + 1}).value());
    bad.tensors.emplace_back("image_grid_thw", qwen2_vl::grids_to_tensor({g}).value());
    auto err = enc->encode({&bad});
    ASSERT_FALSE(err.ok());
    EXPECT_NE(err.status().message().find("patch_dim"), std::string::npos) << err.status().message();
  }
}

// Tensor parallelism over two GPUs (one thread per rank here; one worker
// process per GPU in the server): the NCCL id travels over the host
// collective, each rank uploads its shard, and rank 0's result equals the
// unsharded tower's. Needs two GPUs: NCCL refuses two ranks on one device.
TEST_P(QwenVisionCuda, TensorParallelOverTwoGpusMatchesOne) {
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus < 2) {
    GTEST_SKIP() << "tensor-parallel GPU test skipped: needs 2 GPUs, " << gpus << " visible";
  }
  if (!cuda::nccl_available()) GTEST_SKIP() << "tensor-parallel GPU test skipped: this build has no NCCL";
  const std::vector<ProcessedItem> items = mixed_batch(cfg_);
  auto single = load(ComputeDevice::kCuda, DType::kF32);
  ASSERT_TRUE(single);
  const std::vector<Tensor> ref = encode(*single, items);

  auto group = distributed::ShmCollectiveGroup::create({2, size_t{1} << 16});
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  std::vector<std::vector<Tensor>> outs(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      auto collective = distributed::open_shm_collective(group.value()->name(), r, 2);
      if (!collective.ok()) return void(errors[static_cast<size_t>(r)] = collective.status().to_string());
      EncoderOptions o;
      o.device = ComputeDevice::kCuda;
      o.device_index = r;
      o.cuda_dtype = DType::kF32;
      o.collective = collective.value();
      auto enc = GetParam() == "qwen2_vl" ? qwen2_vl::load_qwen2_vl_encoder(cfg_, weights_, o)
                                          : qwen2_5_vl::load_qwen2_5_vl_encoder(cfg_, weights_, o);
      if (!enc.ok()) return void(errors[static_cast<size_t>(r)] = enc.status().to_string());
      std::vector<const ProcessedItem*> ptrs;
      for (const auto& i : items) ptrs.push_back(&i);
      auto out = enc.value()->encode(ptrs);
      if (!out.ok()) return void(errors[static_cast<size_t>(r)] = out.status().to_string());
      outs[static_cast<size_t>(r)] = std::move(out).value();
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  EXPECT_LT(rel_l2(outs[0], ref), 1e-5);
  EXPECT_LT(rel_l2(outs[1], ref), 1e-5);  // every rank holds the reduced result
}

// --cuda-memory-limit through the encoder load (the allocator's policy:
// tests/backend/cuda). The allocator is process-wide; each load sets its
// GPU's limit, so the unlimited loads of the other tests lift it again.
TEST_P(QwenVisionCuda, MemoryLimitBelowTheContextFailsTheLoadNamingTheOption) {
  EncoderOptions o;
  o.device = ComputeDevice::kCuda;
  o.cuda_memory_limit = cuda_memory_limit_from_string("1MiB").value();  // cuBLASLt's workspace alone is 32 MiB
  auto r = try_load(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << r.status().to_string();
  EXPECT_NE(r.status().message().find("--cuda-memory-limit"), std::string::npos) << r.status().to_string();
  auto unlimited = load(ComputeDevice::kCuda, DType::kBF16);
  ASSERT_TRUE(unlimited);
  EXPECT_EQ(cuda::DeviceAllocator::for_device(0).value()->limit(), 0u);
}

TEST_P(QwenVisionCuda, AShareOfTheCardIsResolvedAndHeld) {
  EncoderOptions o;
  o.device = ComputeDevice::kCuda;
  o.cuda_memory_limit = cuda_memory_limit_from_string("50%").value();
  auto r = try_load(o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  cuda::DeviceAllocator* alloc = cuda::DeviceAllocator::for_device(0).value();
  const size_t total = cuda::list_devices().value()[0].total_memory_bytes;
  EXPECT_EQ(alloc->limit(), total / 2);
  const std::vector<Tensor> out = encode(*r.value(), mixed_batch(cfg_));
  EXPECT_EQ(out.size(), 3u);
  const cuda::CacheStats st = alloc->stats();
  EXPECT_LE(st.bytes_in_use + st.bytes_cached, st.limit_bytes);
  r.value().reset();
  ASSERT_TRUE(alloc->set_limit(0).ok());
}

INSTANTIATE_TEST_SUITE_P(Families, QwenVisionCuda, ::testing::Values("qwen2_vl", "qwen2_5_vl"));

}  // namespace
}  // namespace eric::models
