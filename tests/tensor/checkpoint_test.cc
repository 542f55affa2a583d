#include "tensor/checkpoint.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace eric {
namespace {

using testing::TempDir;

Tensor filled(Shape shape, float v) {
  auto t = *Tensor::empty(DType::kF32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = v + static_cast<float>(i);
  return t;
}

// Three shards: the first two hold `visual.` tensors (and some LM ones), the
// third only language-model tensors and is deliberately corrupt, so opening
// it would fail the load.
void write_sharded(const TempDir& dir) {
  ASSERT_TRUE(write_safetensors(dir.file("model-00001-of-00003.safetensors"),
                                {{"visual.patch_embed.proj.weight", filled({4, 3}, 1)},
                                 {"model.embed_tokens.weight", filled({8, 2}, 2)}})
                  .ok());
  ASSERT_TRUE(write_safetensors(dir.file("model-00002-of-00003.safetensors"),
                                {{"visual.blocks.0.norm1.weight", filled({4}, 3)},
                                 {"visual.merger.mlp.0.bias", filled({2}, 4)}})
                  .ok());
  testing::write_file(dir.file("model-00003-of-00003.safetensors"), "this is not a safetensors file");
  nlohmann::json index = {
      {"metadata", {{"total_size", 1234}}},
      {"weight_map",
       {{"visual.patch_embed.proj.weight", "model-00001-of-00003.safetensors"},
        {"model.embed_tokens.weight", "model-00001-of-00003.safetensors"},
        {"visual.blocks.0.norm1.weight", "model-00002-of-00003.safetensors"},
        {"visual.merger.mlp.0.bias", "model-00002-of-00003.safetensors"},
        {"lm_head.weight", "model-00003-of-00003.safetensors"},
        {"model.layers.0.mlp.up_proj.weight", "model-00003-of-00003.safetensors"}}}};
  testing::write_file(dir.file(Checkpoint::kIndexName), index.dump(2));
}

TEST(CheckpointTest, LoadsOnlyPrefixedTensorsFromNeededShards) {
  TempDir dir;
  write_sharded(dir);
  auto ck = Checkpoint::open(dir.path().string());
  ASSERT_TRUE(ck.ok()) << ck.status().to_string();
  EXPECT_TRUE(ck->sharded());
  auto shards = ck->shards_for({"visual."});
  EXPECT_EQ(shards, (std::vector<std::string>{"model-00001-of-00003.safetensors",
                                              "model-00002-of-00003.safetensors"}));
  auto w = ck->load({"visual."});
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  ASSERT_EQ(w->size(), 3u);
  EXPECT_TRUE(w->count("patch_embed.proj.weight"));
  EXPECT_TRUE(w->count("blocks.0.norm1.weight"));
  EXPECT_TRUE(w->count("merger.mlp.0.bias"));
  EXPECT_EQ(w->at("blocks.0.norm1.weight").data<float>()[3], 6.0f);
  EXPECT_EQ(w->at("patch_embed.proj.weight").shape(), Shape({4, 3}));
  // The third shard was never opened (it is corrupt, so opening would have failed too).
  EXPECT_EQ(ck->opened_files(), shards);
}

TEST(CheckpointTest, LoadingTheCorruptShardFails) {
  TempDir dir;
  write_sharded(dir);
  auto ck = *Checkpoint::open(dir.path().string());
  auto w = ck.load({"lm_head."});
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("model-00003-of-00003.safetensors"), std::string::npos);
}

TEST(CheckpointTest, SingleFileCheckpoint) {
  TempDir dir;
  ASSERT_TRUE(write_safetensors(dir.file("model.safetensors"),
                                {{"visual.a", filled({2}, 0)}, {"model.b", filled({2}, 0)}})
                  .ok());
  auto ck = *Checkpoint::open(dir.path().string());
  EXPECT_FALSE(ck.sharded());
  auto w = ck.load({"visual."});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->size(), 1u);
  EXPECT_TRUE(w->count("a"));
}

TEST(CheckpointTest, Errors) {
  TempDir dir;
  EXPECT_EQ(Checkpoint::open(dir.file("missing")).status().code(), ErrorCode::kNotFound);
  auto empty = Checkpoint::open(dir.path().string());
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("model.safetensors"), std::string::npos);

  // Index that escapes the folder.
  testing::write_file(dir.file(Checkpoint::kIndexName), R"({"weight_map":{"visual.a":"../evil.safetensors"}})");
  auto evil = Checkpoint::open(dir.path().string());
  ASSERT_FALSE(evil.ok());
  EXPECT_NE(evil.status().message().find("../evil.safetensors"), std::string::npos);

  // Index naming a tensor that its shard lacks.
  ASSERT_TRUE(write_safetensors(dir.file("s1.safetensors"), {{"visual.a", filled({2}, 0)}}).ok());
  testing::write_file(dir.file(Checkpoint::kIndexName),
                      R"({"weight_map":{"visual.a":"s1.safetensors","visual.b":"s1.safetensors"}})");
  auto ck = *Checkpoint::open(dir.path().string());
  auto w = ck.load({"visual."});
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("visual.b"), std::string::npos);

  // Index naming a shard that does not exist.
  testing::write_file(dir.file(Checkpoint::kIndexName), R"({"weight_map":{"visual.a":"s9.safetensors"}})");
  auto missing = (*Checkpoint::open(dir.path().string())).load({"visual."});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);

  // No tensors under the prefix.
  testing::write_file(dir.file(Checkpoint::kIndexName), R"({"weight_map":{"visual.a":"s1.safetensors"}})");
  auto none = (*Checkpoint::open(dir.path().string())).load({"audio_tower."});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("audio_tower."), std::string::npos);

  testing::write_file(dir.file(Checkpoint::kIndexName), R"({"weight_map": 3})");
  EXPECT_EQ(Checkpoint::open(dir.path().string()).status().code(), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace eric
