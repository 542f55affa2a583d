// resolve_model_source: a Hub id becomes a snapshot folder holding the
// configs and only the shards with encoder tensors.
#include "models/model_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "../common/temp_dir.h"
#include "fake_hub.h"
#include "models/model.h"
#include "tensor/checkpoint.h"

namespace eric::models {
namespace {

namespace fs = std::filesystem;

const char* kCommit = "89abcdef0123456789abcdef0123456789abcdef";

// A family registered only in this test binary: its encoder lives under "visual.".
std::vector<std::string> test_prefixes(const ModelConfig&) { return {"visual."}; }
const ModelFamily kTestFamily{{"eric_hub_test"}, test_prefixes, nullptr, nullptr, nullptr};
ERIC_REGISTER_MODEL_FAMILY(kTestFamily);

std::string shard_bytes(const std::vector<std::string>& names) {
  NamedTensors t;
  for (const auto& n : names) t.emplace_back(n, *Tensor::zeros(DType::kF32, {64}));
  return *safetensors_to_bytes(t);
}

void publish(eric::testing::FakeHub& hub) {
  const std::string repo = "org/vlm";
  hub.add_file(repo, "main", kCommit, "config.json", R"({"model_type":"eric_hub_test"})", false);
  hub.add_file(repo, "main", kCommit, "preprocessor_config.json", R"({"patch_size":14})", false);
  hub.add_file(repo, "main", kCommit, "model-00001-of-00003.safetensors",
               shard_bytes({"visual.a", "model.embed_tokens.weight"}), true);
  hub.add_file(repo, "main", kCommit, "model-00002-of-00003.safetensors", shard_bytes({"visual.b"}), true);
  hub.add_file(repo, "main", kCommit, "model-00003-of-00003.safetensors", shard_bytes({"lm_head.weight"}), true);
  nlohmann::json index = {{"weight_map",
                           {{"visual.a", "model-00001-of-00003.safetensors"},
                            {"model.embed_tokens.weight", "model-00001-of-00003.safetensors"},
                            {"visual.b", "model-00002-of-00003.safetensors"},
                            {"lm_head.weight", "model-00003-of-00003.safetensors"}}}};
  hub.add_file(repo, "main", kCommit, "model.safetensors.index.json", index.dump(), false);
}

TEST(ModelSourceTest, LocalFolderIsUsedAsItIs) {
  auto dir = fs::temp_directory_path();
  EXPECT_EQ(*resolve_model_source(dir.string(), {}), dir.string());
  auto bad = resolve_model_source("/no/such/folder", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("/no/such/folder"), std::string::npos);
}

TEST(ModelSourceTest, FetchesOnlyTheEncoderShardsThenWorksFromCache) {
  eric::testing::FakeHub hub;
  publish(hub);
  eric::testing::TempDir cache("eric_model_source");
  hub::HubOptions o;
  o.endpoint = hub.endpoint();
  o.cache_root = cache.str();
  o.initial_backoff_ms = 5;

  auto dir = resolve_model_source("org/vlm", o);
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  EXPECT_TRUE(fs::exists(fs::path(*dir) / "config.json"));
  EXPECT_TRUE(fs::exists(fs::path(*dir) / "preprocessor_config.json"));
  EXPECT_TRUE(fs::exists(fs::path(*dir) / "model-00001-of-00003.safetensors"));
  EXPECT_TRUE(fs::exists(fs::path(*dir) / "model-00002-of-00003.safetensors"));
  EXPECT_FALSE(fs::exists(fs::path(*dir) / "model-00003-of-00003.safetensors"));
  EXPECT_EQ(hub.count("GET", "model-00003-of"), 0);
  EXPECT_EQ(hub.count("HEAD", "model-00003-of"), 0);
  auto ck = Checkpoint::open(*dir);
  ASSERT_TRUE(ck.ok());
  auto w = ck->load({"visual."});
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  EXPECT_EQ(w->size(), 2u);

  // Second start: metadata only.
  int64_t served = hub.content_bytes_served();
  int gets = hub.count("GET", "");
  ASSERT_TRUE(resolve_model_source("org/vlm", o).ok());
  EXPECT_EQ(hub.content_bytes_served(), served);
  EXPECT_EQ(hub.count("GET", ""), gets);

  // Offline: the same folder, with no server involved.
  hub::HubOptions off = o;
  off.offline = true;
  off.endpoint = "http://127.0.0.1:9";
  auto offline_dir = resolve_model_source("org/vlm@main", off);
  ASSERT_TRUE(offline_dir.ok()) << offline_dir.status().to_string();
  EXPECT_EQ(*offline_dir, *dir);
}

}  // namespace
}  // namespace eric::models
