// Qwen2-VL / Qwen2.5-VL vision encoders: config parsing, window layout, test
// checkpoints, loading errors, batching invariants, and the goldens written
// by the PyTorch reference (tools/reference/, tests/data/goldens/).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "models/loaded_model.h"
#include "models/qwen2_5_vl/vision_encoder.h"
#include "models/qwen2_5_vl/window_index.h"
#include "models/qwen2_vl/test_model.h"
#include "models/qwen2_vl/vision_encoder.h"
#include "tensor/checkpoint.h"
#include "tensor/safetensors.h"
#include "../common/temp_dir.h"
#include "model_test_util.h"

namespace eric::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using qwen2_vl::GridTHW;
using qwen2_vl::VisionConfig;

using testing::TempDir;
using test_util::encode;

std::string write_model(const TempDir& dir, const std::string& arch, DType dtype = DType::kF32, int shards = 2,
                        uint64_t seed = 0) {
  TestModelOptions o;
  o.seed = seed;
  o.dtype = dtype;
  o.num_shards = shards;
  const std::string out = (dir.path() / (arch + "_" + std::string(dtype_name(dtype)) + "_" + std::to_string(shards))).string();
  Status st = qwen2_vl::write_test_model(arch, out, o);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return out;
}

Tensor random_pixels(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Tensor t = Tensor::empty(DType::kF32, {rows, cols}).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = dist(gen);
  return t;
}

ProcessedItem make_item(const GridTHW& g, int64_t patch_dim, uint32_t seed) {
  ProcessedItem item;
  item.tensors.emplace_back("pixel_values", random_pixels(g.patches(), patch_dim, seed));
  item.tensors.emplace_back("image_grid_thw", qwen2_vl::grids_to_tensor({g}).value());
  item.num_tokens = g.patches() / 4;
  return item;
}

double rel_error(const Tensor& out, const Tensor& ref) {
  EXPECT_EQ(out.shape(), ref.shape());
  if (out.shape() != ref.shape()) return 1e9;
  const float* a = out.data<float>();
  const float* b = ref.data<float>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// ---- config ------------------------------------------------------------------

TEST(VisionConfig, ParsesPublishedAndNewerQwen2VlFieldNames) {
  json published = json::parse(R"({"hidden_size": 3584, "vision_config": {"depth": 32, "embed_dim": 1280,
      "mlp_ratio": 4, "num_heads": 16, "in_chans": 3, "hidden_size": 3584, "patch_size": 14,
      "spatial_merge_size": 2, "temporal_patch_size": 2}})");
  VisionConfig c = VisionConfig::parse_qwen2_vl(published).value();
  EXPECT_EQ(c.depth, 32);
  EXPECT_EQ(c.embed_dim, 1280);
  EXPECT_EQ(c.out_hidden, 3584);
  EXPECT_EQ(c.mlp_hidden, 5120);
  EXPECT_EQ(c.head_dim(), 80);
  EXPECT_EQ(c.hidden_act, "quick_gelu");
  EXPECT_EQ(c.patch_dim(), 3 * 2 * 14 * 14);

  json newer = json::parse(R"({"vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 48,
      "mlp_ratio": 2.5, "num_heads": 2, "in_channels": 3, "hidden_act": "gelu"}})");
  c = VisionConfig::parse_qwen2_vl(newer).value();
  EXPECT_EQ(c.mlp_hidden, 80);
  EXPECT_EQ(c.hidden_act, "gelu");

  json bad = json::parse(R"({"vision_config": {"depth": 2, "embed_dim": 30, "hidden_size": 48, "num_heads": 4}})");
  EXPECT_FALSE(VisionConfig::parse_qwen2_vl(bad).ok());
  EXPECT_FALSE(VisionConfig::parse_qwen2_vl(json::parse(R"({"vision_config": {"depth": 2}})")).ok());
}

TEST(VisionConfig, ParsesQwen25Vl) {
  json published = json::parse(R"({"vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280,
      "intermediate_size": 3420, "num_heads": 16, "in_chans": 3, "out_hidden_size": 3584, "patch_size": 14,
      "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
      "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2}})");
  VisionConfig c = VisionConfig::parse_qwen2_5_vl(published).value();
  EXPECT_EQ(c.embed_dim, 1280);
  EXPECT_EQ(c.out_hidden, 3584);
  EXPECT_EQ(c.mlp_hidden, 3420);
  EXPECT_EQ(c.window_size, 112);
  EXPECT_EQ(c.fullatt_block_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
  published["vision_config"]["fullatt_block_indexes"] = {40};
  Result<VisionConfig> r = VisionConfig::parse_qwen2_5_vl(published);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fullatt_block_indexes"), std::string::npos);
}

// ---- window layout -----------------------------------------------------------------

TEST(WindowLayout, FollowsGetWindowIndexIncludingPartialWindows) {
  VisionConfig c;
  c.patch_size = 14;
  c.spatial_merge_size = 2;
  c.window_size = 56;  // windows of 2x2 merge units
  // 4x6 patches = 2x3 merge units: one full and one half window, then the
  // reference's all-padding window row (which only repeats cu entries).
  qwen2_5_vl::WindowLayout l = qwen2_5_vl::window_layout({{1, 4, 6}}, c);
  EXPECT_EQ(l.window_index, (std::vector<int64_t>{0, 1, 3, 4, 2, 5}));
  EXPECT_EQ(l.cu_window_seqlens, (std::vector<int64_t>{0, 16, 24}));
  // Two items and a two-frame grid: indices continue across items, windows per frame.
  l = qwen2_5_vl::window_layout({{1, 2, 2}, {2, 2, 6}}, c);
  EXPECT_EQ(l.window_index, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(l.cu_window_seqlens, (std::vector<int64_t>{0, 4, 12, 16, 24, 28}));
}

TEST(WindowLayout, GatherAndScatterAreInverse) {
  Tensor x = random_pixels(6, 3, 1);
  std::vector<int64_t> index = {2, 0, 5, 1, 4, 3};
  Tensor g = qwen2_5_vl::gather_row_groups(x, index, 1).value();
  Tensor back = qwen2_5_vl::scatter_rows(g, index).value();
  EXPECT_EQ(rel_error(back, x), 0.0);
  EXPECT_EQ(g.data<float>()[0], x.data<float>()[6]);
}

// ---- test checkpoints ----------------------------------------------------------------

TEST(TestModel, SameSeedGivesIdenticalTensorsForAnyShardCount) {
  TempDir dir("testmodel_determinism");
  for (const std::string arch : {"qwen2_vl", "qwen2_5_vl"}) {
    const std::string a = write_model(dir, arch, DType::kBF16, 2);
    const std::string b = write_model(dir, arch, DType::kBF16, 3);
    WeightMap wa = Checkpoint::open(a).value().load({"visual.", "model.", "lm_head."}).value();
    WeightMap wb = Checkpoint::open(b).value().load({"visual.", "model.", "lm_head."}).value();
    ASSERT_EQ(wa.size(), wb.size());
    for (const auto& [name, t] : wa) {
      ASSERT_TRUE(wb.count(name)) << name;
      ASSERT_EQ(t.nbytes(), wb[name].nbytes()) << name;
      EXPECT_EQ(std::memcmp(t.raw_data(), wb[name].raw_data(), t.nbytes()), 0) << name;
    }
    // The language-model tensors sit in their own shard, never opened for the encoder.
    Checkpoint ck = Checkpoint::open(b).value();
    EXPECT_EQ(ck.shards_for({"visual."}).size(), 2u);
    EXPECT_EQ(ck.shards_for({"model.", "lm_head."}), (std::vector<std::string>{"model-00003-of-00003.safetensors"}));
    ModelConfig cfg = ModelConfig::load(b).value();
    EXPECT_EQ(cfg.model_type, arch);
    EXPECT_EQ(cfg.preprocessor_config.at("min_pixels"), 3136);
    EXPECT_EQ(cfg.preprocessor_config.at("image_processor_type"), "Qwen2VLImageProcessor");
  }
}

TEST(TestModel, DifferentSeedsDiffer) {
  EXPECT_NE(qwen2_vl::test_weight_normal(0, "visual.x", 7), qwen2_vl::test_weight_normal(1, "visual.x", 7));
  EXPECT_NE(qwen2_vl::test_weight_normal(0, "visual.x", 7), qwen2_vl::test_weight_normal(0, "visual.y", 7));
  // Roughly standard normal.
  double sum = 0, sq = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double v = qwen2_vl::test_weight_normal(3, "w", i);
    sum += v;
    sq += v * v;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.03);
  EXPECT_NEAR(sq / n, 1.0, 0.05);
}

// ---- loading errors ----------------------------------------------------------------------

std::string load_error(const std::string& dir, const std::function<void(WeightMap&)>& corrupt) {
  ModelConfig cfg = ModelConfig::load(dir).value();
  const ModelFamily* family = find_model_family(cfg.model_type).value();
  WeightMap w = Checkpoint::open(dir).value().load(family->encoder_prefixes(cfg)).value();
  corrupt(w);
  auto r = family->load_encoder(cfg, w, {});
  return r.ok() ? std::string("loaded") : r.status().message();
}

TEST(EncoderLoading, NamesMissingWrongShapeWrongDtypeAndUnexpectedTensors) {
  TempDir dir("encoder_loading");
  for (const std::string arch : {"qwen2_vl", "qwen2_5_vl"}) {
    const std::string m = write_model(dir, arch, DType::kBF16);
    EXPECT_EQ(load_error(m, [](WeightMap&) {}), "loaded");
    std::string e = load_error(m, [](WeightMap& w) { w.erase("blocks.1.attn.proj.bias"); });
    EXPECT_NE(e.find("visual.blocks.1.attn.proj.bias: missing"), std::string::npos) << e;
    e = load_error(m, [](WeightMap& w) { w["merger.mlp.2.weight"] = w["merger.mlp.0.weight"]; });
    EXPECT_NE(e.find("visual.merger.mlp.2.weight: expected shape [48, 128], got [128, 128]"), std::string::npos) << e;
    e = load_error(m, [](WeightMap& w) { w["blocks.0.attn.qkv.weight"] = Tensor::zeros(DType::kI32, {96, 32}).value(); });
    EXPECT_NE(e.find("visual.blocks.0.attn.qkv.weight: expected a float dtype"), std::string::npos) << e;
    e = load_error(m, [](WeightMap& w) { w["blocks.9.norm1.weight"] = w["blocks.0.norm1.weight"]; });
    EXPECT_NE(e.find("visual.blocks.9.norm1.weight: unexpected tensor"), std::string::npos) << e;
  }
}

// ---- forward invariants -----------------------------------------------------------------

TEST(VisionEncoder, BatchOfThreeEqualsEachAlone) {
  TempDir dir("encoder_batch");
  for (const std::string arch : {"qwen2_vl", "qwen2_5_vl"}) {
    LoadedModel model = load_model(write_model(dir, arch), true).value();
    const std::vector<GridTHW> grids = {{1, 2, 2}, {1, 6, 4}, {2, 10, 6}};
    std::vector<ProcessedItem> items;
    for (size_t i = 0; i < grids.size(); ++i) items.push_back(make_item(grids[i], 1176, 100 + i));
    std::vector<Tensor> batch = encode(*model.encoder, items);
    ASSERT_EQ(batch.size(), 3u);
    for (size_t i = 0; i < grids.size(); ++i) {
      EXPECT_EQ(batch[i].shape(), (Shape{grids[i].patches() / 4, 48})) << arch;
      std::vector<Tensor> alone = encode(*model.encoder, {items[i]});
      EXPECT_LT(rel_error(batch[i], alone[0]), 1e-6) << arch << " item " << i;
    }
    // Each frame of a video item is its own attention segment with the same
    // positions, so a two-frame item equals its frames encoded as images.
    const Tensor& video_px = items[2].tensors[0].second;
    std::vector<ProcessedItem> frames;
    for (int64_t f = 0; f < 2; ++f) {
      ProcessedItem frame;
      frame.tensors.emplace_back("pixel_values", video_px.slice(0, f * 60, (f + 1) * 60).value().clone().value());
      frame.tensors.emplace_back("image_grid_thw", qwen2_vl::grids_to_tensor({{1, 10, 6}}).value());
      frames.push_back(std::move(frame));
    }
    EXPECT_LT(rel_error(batch[2], concat_rows(encode(*model.encoder, frames)).value()), 1e-6) << arch;
  }
}

TEST(VisionEncoder, Qwen25FullAttentionEverywhereEqualsOneWindowPerImage) {
  // All blocks on full attention makes the window reordering a pure
  // permutation that the inverse must undo exactly; a window larger than any
  // image makes the reordering the identity. Both compute the same function.
  TempDir dir("encoder_windows");
  const std::string m = write_model(dir, "qwen2_5_vl");
  ModelConfig cfg = ModelConfig::load(m).value();
  WeightMap w = Checkpoint::open(m).value().load({"visual."}).value();
  json all_full = cfg.config, one_window = cfg.config, windowed = cfg.config;
  all_full["vision_config"]["fullatt_block_indexes"] = {0, 1, 2};
  one_window["vision_config"]["fullatt_block_indexes"] = json::array();
  one_window["vision_config"]["window_size"] = 14 * 2 * 64;
  auto a = qwen2_5_vl::Qwen25VisionEncoder::load(VisionConfig::parse_qwen2_5_vl(all_full).value(), w).value();
  auto b = qwen2_5_vl::Qwen25VisionEncoder::load(VisionConfig::parse_qwen2_5_vl(one_window).value(), w).value();
  auto c = qwen2_5_vl::Qwen25VisionEncoder::load(VisionConfig::parse_qwen2_5_vl(windowed).value(), w).value();
  std::vector<ProcessedItem> items = {make_item({1, 10, 6}, 1176, 7), make_item({1, 4, 8}, 1176, 8)};
  std::vector<Tensor> ya = encode(*a, items), yb = encode(*b, items), yc = encode(*c, items);
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_LT(rel_error(ya[i], yb[i]), 1e-5) << i;
    // Real windows change the result (so the test above is not vacuous).
    EXPECT_GT(rel_error(yc[i], yb[i]), 1e-3) << i;
  }
}

TEST(VisionEncoder, Bf16CheckpointMatchesItsUpcastF32Twin) {
  // The same seed in bf16 and f32: the f32 weights rounded to bf16 are the
  // bf16 weights, so outputs differ only by that rounding (~1e-2), and a bf16
  // checkpoint re-saved as f32 must match the bf16 one exactly.
  TempDir dir("encoder_bf16");
  const std::string bf = write_model(dir, "qwen2_vl", DType::kBF16);
  LoadedModel mb = load_model(bf, true).value();
  WeightMap w = Checkpoint::open(bf).value().load({"visual."}).value();
  WeightMap up;
  for (const auto& [n, t] : w) up[n] = t.to(DType::kF32).value();
  VisionConfig cfg = VisionConfig::parse_qwen2_vl(mb.config.config).value();
  auto f32 = qwen2_vl::Qwen2VisionEncoder::load(cfg, up).value();
  std::vector<ProcessedItem> items = {make_item({1, 4, 6}, 1176, 3)};
  EXPECT_EQ(rel_error(encode(*mb.encoder, items)[0], encode(*f32, items)[0]), 0.0);
}

TEST(VisionEncoder, RejectsInconsistentInputs) {
  TempDir dir("encoder_inputs");
  LoadedModel model = load_model(write_model(dir, "qwen2_vl"), true).value();
  ProcessedItem odd = make_item({1, 3, 4}, 1176, 1);  // h not a multiple of the merge size
  std::vector<const ProcessedItem*> ptrs = {&odd};
  EXPECT_FALSE(model.encoder->encode(ptrs).ok());
  ProcessedItem wrong = make_item({1, 2, 2}, 1176, 1);
  wrong.tensors[0].second = random_pixels(5, 1176, 1);
  ptrs = {&wrong};
  EXPECT_FALSE(model.encoder->encode(ptrs).ok());
}

// ---- goldens from the PyTorch reference ----------------------------------------------------

TEST(VisionEncoderGoldens, MatchPyTorchReference) {
  const fs::path root = fs::path(ERIC_SOURCE_DIR) / "tests/data/goldens";
  const fs::path manifest_path = root / "manifest.json";
  if (!fs::exists(manifest_path)) GTEST_SKIP() << "no goldens yet: " << manifest_path;
  json manifest = json::parse(std::ifstream(manifest_path));
  TempDir dir("encoder_goldens");
  std::map<std::string, LoadedModel> models;  // by make_test_model arguments
  int checked = 0;
  for (const auto& entry : manifest.at("goldens")) {
    const std::string file = entry.at("file");
    const std::string arch = entry.at("arch");
    const std::string args = entry.at("make_test_model");
    const TestModelOptions o = test_util::parse_make_test_model(args);
    if (!models.count(args)) {
      const std::string out = (dir.path() / std::to_string(models.size())).string();
      ASSERT_TRUE(qwen2_vl::write_test_model(arch, out, o).ok());
      models.emplace(args, load_model(out, true).value());
    }
    Encoder& enc = *models.at(args).encoder;
    SafetensorsFile golden = SafetensorsFile::open((root / file).string()).value();
    Tensor pixels = golden.get("pixel_values").value();
    std::vector<GridTHW> grids = qwen2_vl::grids_from_tensor(golden.get("image_grid_thw").value()).value();
    Tensor expected = golden.get("embeddings").value().to(DType::kF32).value();
    std::vector<ProcessedItem> items;
    int64_t row = 0;
    for (const auto& g : grids) {
      ProcessedItem item;
      item.tensors.emplace_back("pixel_values", pixels.slice(0, row, row + g.patches()).value().clone().value());
      item.tensors.emplace_back("image_grid_thw", qwen2_vl::grids_to_tensor({g}).value());
      items.push_back(std::move(item));
      row += g.patches();
    }
    Tensor out = concat_rows(encode(enc, items)).value();
    const double err = rel_error(out, expected);
    const double tol = entry.at("rel_tolerance").get<double>();
    EXPECT_LT(err, tol) << file;
    std::printf("golden %-55s rel err %.3g (tolerance %g)\n", file.c_str(), err, tol);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace eric::models
