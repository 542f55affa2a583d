// The device-independent tower plan (models/qwen2_vl/tower_plan.h): what each
// family's plan holds, the FLOP count the GPU benchmark reports, and the
// error a `--device cuda` load gives where no GPU (or no CUDA build) exists.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "models/qwen2_5_vl/vision_encoder.h"
#include "models/qwen2_5_vl/window_index.h"
#include "models/qwen2_vl/device_encoder.h"
#include "models/qwen2_vl/test_model.h"
#include "models/qwen2_vl/vision_encoder.h"
#include "tensor/checkpoint.h"
#include "../common/temp_dir.h"

#ifdef ERIC_HAVE_CUDA
#include "backend/cuda/device_query.h"
#endif

namespace eric::models {
namespace {

using qwen2_vl::GridTHW;
using qwen2_vl::TowerPlan;
using qwen2_vl::VisionConfig;

VisionConfig tiny_config(int64_t depth, std::vector<int64_t> fullatt = {}) {
  VisionConfig c;
  c.depth = depth;
  c.embed_dim = 32;
  c.num_heads = 2;
  c.mlp_hidden = 64;
  c.out_hidden = 48;
  c.window_size = 56;  // windows of 2x2 merge units
  c.fullatt_block_indexes = std::move(fullatt);
  return c;
}

TEST(TowerPlan, Qwen2VlAttendsWithinFramesInProcessorOrder) {
  const VisionConfig c = tiny_config(3);
  const std::vector<GridTHW> grids = {{1, 4, 6}, {2, 2, 4}};
  TowerPlan p = qwen2_vl::full_attention_plan(grids, c).value();
  EXPECT_FALSE(p.reorders());
  EXPECT_EQ(p.cu_full, (std::vector<int64_t>{0, 24, 32, 40}));
  EXPECT_EQ(p.full_attention_block, (std::vector<bool>{true, true, true}));
  for (size_t b = 0; b < 3; ++b) EXPECT_EQ(p.cu_seqlens(b), p.cu_full);
  Tensor angles = qwen2_vl::rotary_angles(grids, c.head_dim(), c.spatial_merge_size).value();
  ASSERT_EQ(p.angles.shape(), angles.shape());
  for (int64_t i = 0; i < angles.numel(); ++i) ASSERT_EQ(p.angles.data<float>()[i], angles.data<float>()[i]) << i;
}

TEST(TowerPlan, Qwen25VlReordersByWindowsAndMarksFullBlocks) {
  const VisionConfig c = tiny_config(4, {1, 3});
  const std::vector<GridTHW> grids = {{1, 4, 6}, {1, 2, 2}};
  TowerPlan p = qwen2_5_vl::window_plan(grids, c).value();
  const qwen2_5_vl::WindowLayout l = qwen2_5_vl::window_layout(grids, c);
  ASSERT_TRUE(p.reorders());
  EXPECT_EQ(p.window_index, l.window_index);
  EXPECT_EQ(p.window_index, (std::vector<int64_t>{0, 1, 3, 4, 2, 5, 6}));
  EXPECT_EQ(p.cu_window, l.cu_window_seqlens);
  EXPECT_EQ(p.cu_full, (std::vector<int64_t>{0, 24, 28}));
  EXPECT_EQ(p.full_attention_block, (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(p.cu_seqlens(0), p.cu_window);
  EXPECT_EQ(p.cu_seqlens(1), p.cu_full);
  // Angles travel with their merge units: row u*4+j of the plan is row
  // window_index[u]*4+j of the processor-order table.
  Tensor angles = qwen2_vl::rotary_angles(grids, c.head_dim(), c.spatial_merge_size).value();
  ASSERT_EQ(p.angles.shape(), angles.shape());
  const int64_t d = angles.dim(1), unit = c.merge_unit();
  for (size_t u = 0; u < p.window_index.size(); ++u) {
    for (int64_t j = 0; j < unit; ++j) {
      for (int64_t k = 0; k < d; ++k) {
        ASSERT_EQ(p.angles.data<float>()[(static_cast<int64_t>(u) * unit + j) * d + k],
                  angles.data<float>()[(p.window_index[u] * unit + j) * d + k]);
      }
    }
  }
}

TEST(TowerPlan, FlopsCountEveryGemmAndAttentionProduct) {
  // One 2x2 image, one block: every term by hand.
  VisionConfig c = tiny_config(1);
  TowerPlan p = qwen2_vl::full_attention_plan({{1, 2, 2}}, c).value();
  const double n = 4, e = 32, m = 64, pd = static_cast<double>(c.patch_dim()), merged = 4 * e;
  const double common = 2 * n * pd * e + 2 * n * e * 4 * e + 4 * n * n * e + 2 * merged * merged + 2 * merged * 48;
  EXPECT_DOUBLE_EQ(qwen2_vl::tower_flops(c, p, 4, false), common + 2 * 2 * n * e * m);
  EXPECT_DOUBLE_EQ(qwen2_vl::tower_flops(c, p, 4, true), common + 3 * 2 * n * e * m);
  // Windows shrink only the attention term: 24 patches in windows of 16 and 8.
  c = tiny_config(1);
  TowerPlan w = qwen2_5_vl::window_plan({{1, 4, 6}}, c).value();
  TowerPlan f = qwen2_vl::full_attention_plan({{1, 4, 6}}, c).value();
  EXPECT_DOUBLE_EQ(qwen2_vl::tower_flops(c, f, 24, true) - qwen2_vl::tower_flops(c, w, 24, true),
                   4.0 * e * (24.0 * 24 - 16 * 16 - 8 * 8));
}

// rot_pos_emb's table against its definition, token by token: patches in
// 2x2 merge-block order, every frame alike; groups over several thread-pool
// pieces (the 64x64 grid), and in a given group order.
TEST(TowerPlan, RotaryAnglesFollowTheMergeBlockOrder) {
  const int64_t head_dim = 16, dim = 8, q = 4, m = 2;
  const std::vector<GridTHW> grids = {{2, 4, 6}, {1, 2, 2}, {1, 64, 64}};
  Tensor angles = qwen2_vl::rotary_angles(grids, head_dim, m).value();
  int64_t patches = 0;
  for (const auto& g : grids) patches += g.patches();
  ASSERT_EQ(angles.shape(), (Shape{patches, dim}));
  auto expect_row = [&](const float* got, int64_t row, int64_t col, int64_t token) {
    for (int64_t j = 0; j < q; ++j) {
      const float inv = 1.0f / std::pow(10000.0f, static_cast<float>(2 * j) / static_cast<float>(dim));
      ASSERT_EQ(got[j], static_cast<float>(row) * inv) << "token " << token << " dim " << j;
      ASSERT_EQ(got[q + j], static_cast<float>(col) * inv) << "token " << token << " dim " << q + j;
    }
  };
  int64_t token = 0;
  for (const auto& g : grids) {
    for (int64_t p = 0; p < g.patches(); ++p, ++token) {
      const int64_t group = (p / (m * m)) % ((g.h / m) * (g.w / m)), in = p % (m * m);
      const int64_t row = group / (g.w / m) * m + in / m, col = group % (g.w / m) * m + in % m;
      expect_row(angles.data<float>() + token * dim, row, col, token);
    }
  }
  // A group order: group order[i]'s rows become group i's.
  const int64_t groups = patches / (m * m);
  std::vector<int64_t> order(static_cast<size_t>(groups));
  for (int64_t i = 0; i < groups; ++i) order[static_cast<size_t>(i)] = (i * 7 + 3) % groups;  // 7 is prime to groups
  Tensor reordered = qwen2_vl::rotary_angles(grids, head_dim, m, &order).value();
  for (int64_t i = 0; i < groups; ++i) {
    for (int64_t k = 0; k < m * m * dim; ++k) {
      ASSERT_EQ(reordered.data<float>()[i * m * m * dim + k],
                angles.data<float>()[order[static_cast<size_t>(i)] * m * m * dim + k])
          << "group " << i;
    }
  }
  order.pop_back();
  EXPECT_FALSE(qwen2_vl::rotary_angles(grids, head_dim, m, &order).ok());
  order.push_back(groups);
  EXPECT_EQ(qwen2_vl::rotary_angles(grids, head_dim, m, &order).status().code(), ErrorCode::kOutOfRange);
  EXPECT_FALSE(qwen2_vl::rotary_angles({{1, 3, 4}}, head_dim, m).ok());  // 3 rows do not merge in pairs
}

TEST(TowerPlan, HostGatherRejectsIndicesOutOfRange) {
  Tensor x = Tensor::empty(DType::kF32, {4, 2}).value();
  EXPECT_FALSE(qwen2_vl::gather_row_groups(x, {0, 2}, 2).ok());
  EXPECT_FALSE(qwen2_vl::scatter_rows(x, {0, 1, 2, 4}).ok());
}

// Without a GPU (CI) or without the CUDA backend, --device cuda fails at load
// with an error that names the device, never a crash.
TEST(DeviceSelection, CudaWithoutAGpuFailsNamingTheDevice) {
#ifdef ERIC_HAVE_CUDA
  auto devices = cuda::list_devices();
  if (devices.ok() && !devices->empty()) GTEST_SKIP() << "a GPU is present; the CUDA tower tests cover it";
#endif
  testing::TempDir tmp("tower_plan_device");
  const std::string dir = tmp.file("model");
  ASSERT_TRUE(qwen2_vl::write_test_model("qwen2_vl", dir, TestModelOptions{}).ok());
  WeightMap w = Checkpoint::open(dir).value().load({"visual."}).value();
  VisionConfig c = VisionConfig::parse_qwen2_vl(ModelConfig::load(dir).value().config).value();
  EncoderOptions o;
  o.device = ComputeDevice::kCuda;
  auto r = qwen2_vl::load_qwen2_vl_encoder(c, w, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("--device cuda"), std::string::npos) << r.status().to_string();
}

TEST(DeviceSelection, ParsesDeviceAndDtypeNames) {
  EXPECT_EQ(device_from_string("cuda").value(), ComputeDevice::kCuda);
  EXPECT_EQ(device_from_string("cpu").value(), ComputeDevice::kCpu);
  EXPECT_FALSE(device_from_string("gpu").ok());
  EXPECT_EQ(cuda_dtype_from_string("bf16").value(), DType::kBF16);
  EXPECT_EQ(cuda_dtype_from_string("f32").value(), DType::kF32);
  EXPECT_FALSE(cuda_dtype_from_string("f16").ok());
}

// The three device options together, as every command and process takes them.
TEST(DeviceSelection, DeviceOptionsAreParsedAndCheckedTogether) {
  const DeviceOptions gpu = parse_device_options("cuda", "f32", "40%").value();
  EXPECT_EQ(gpu.device, ComputeDevice::kCuda);
  EXPECT_EQ(gpu.cuda_dtype, DType::kF32);
  EXPECT_DOUBLE_EQ(gpu.cuda_memory_limit.fraction, 0.4);
  EncoderOptions o;
  o.set_device(gpu);
  EXPECT_EQ(o.device, ComputeDevice::kCuda);
  EXPECT_EQ(o.cuda_dtype, DType::kF32);
  EXPECT_DOUBLE_EQ(o.cuda_memory_limit.fraction, 0.4);
  EXPECT_TRUE(parse_device_options("cpu", "bf16", "").value().cuda_memory_limit.none());
  EXPECT_NE(parse_device_options("gpu", "bf16", "").status().message().find("unknown device"), std::string::npos);
  EXPECT_NE(parse_device_options("cuda", "f16", "").status().message().find("dtype"), std::string::npos);
  EXPECT_NE(parse_device_options("cpu", "bf16", "20GiB").status().message().find("needs --device cuda"),
            std::string::npos);
}

}  // namespace
}  // namespace eric::models
