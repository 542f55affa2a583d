// `eric serve --model org/name` end to end against a fake Hugging Face Hub on
// loopback: the server resolves the id through the huggingface_hub cache,
// downloads the configs and only the shards holding `visual.` tensors, and
// answers with the same embeddings as `eric encode` on the local checkpoint.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "../common/temp_dir.h"
#include "../hub/fake_hub.h"
#include "media/base64.h"
#include "router/http_client.h"
#include "serve_process.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric::integration {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* kRepo = "org/tiny-qwen2-vl";
const char* kCommit = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

using eric::testing::read_file;

TEST(ServeHubTest, ServesAModelByHubIdDownloadingOnlyTheEncoderShards) {
  testing::TempDir root_dir("eric_hub_it");
  const fs::path root = root_dir.path();
  fs::create_directories(root / "images");
  const std::string log = (root / "setup.log").string();
  const fs::path ckpt = root / "ckpt";
  ASSERT_EQ(run_command({eric_binary(), "make-test-model", "--arch", "qwen2_vl", "--out", ckpt.string()}, log), 0)
      << read_file(log);
  const std::string image = (root / "images" / "img.bmp").string();
  write_test_bmp(image, 84, 56, 3);
  const std::string ref_path = (root / "ref.safetensors").string();
  ASSERT_EQ(run_command({eric_binary(), "encode", "--model", ckpt.string(), "--image", image, "--out", ref_path}, log),
            0)
      << read_file(log);

  // Publish the checkpoint: weights as LFS files behind a content redirect.
  eric::testing::FakeHub hub;
  std::set<std::string> weight_files, visual_shards;
  for (const auto& entry : fs::directory_iterator(ckpt)) {
    std::string name = entry.path().filename().string();
    bool lfs = entry.path().extension() == ".safetensors";
    if (lfs) weight_files.insert(name);
    hub.add_file(kRepo, "main", kCommit, name, read_file(entry.path()), lfs);
  }
  json index = json::parse(read_file(ckpt / "model.safetensors.index.json"));
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (it.key().rfind("visual.", 0) == 0) visual_shards.insert(it.value().get<std::string>());
  }
  ASSERT_LT(visual_shards.size(), weight_files.size()) << "the test checkpoint should have a shard without visual.";

  ::setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  ::setenv("HF_HUB_CACHE", (root / "cache").c_str(), 1);
  ::setenv("HF_HOME", (root / "hf_home").c_str(), 1);
  ::unsetenv("HF_HUB_OFFLINE");
  ::unsetenv("HF_TOKEN");
  fs::create_directories(root / "run");
  {
    ServeProcess server({"--model", kRepo, "--allowed-local-media-path", (root / "images").string()},
                        (root / "serve.log").string(), (root / "run").string());
    ASSERT_TRUE(server.wait_healthy(std::chrono::seconds(120))) << server.log();
    auto client = router::HttpClient::connect("127.0.0.1", server.port(), std::chrono::seconds(60));
    ASSERT_TRUE(client.ok()) << client.status().to_string();
    json body = {{"return_embeddings", true},
                 {"data", {{{"id", "a"}, {"modality", "image"}, {"model_id", kRepo}, {"url", "file://" + image}}}}};
    auto r = (*client)->post("/embeddings", body.dump());
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->status, 200) << r->body;
    json answer = json::parse(r->body);
    auto ref = (*SafetensorsFile::open(ref_path)).get("embeddings_0");
    ASSERT_TRUE(ref.ok());
    const json& e = answer["embeddings"][0];
    ASSERT_EQ(e["shape"], json({ref->dim(0), ref->dim(1)}));
    auto bytes = media::base64_decode(e["data"].get<std::string>());
    ASSERT_TRUE(bytes.ok());
    ASSERT_EQ(bytes->size(), ref->nbytes());
    double num = 0, den = 0;
    for (int64_t i = 0; i < ref->numel(); ++i) {
      float v;
      std::memcpy(&v, bytes->data() + i * 4, 4);
      double d = double(v) - ref->data<float>()[i];
      num += d * d;
      den += double(ref->data<float>()[i]) * ref->data<float>()[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-5);
    EXPECT_EQ(server.stop(SIGTERM, std::chrono::seconds(30)), 0) << server.log();
  }
  // Only the shards holding visual tensors were fetched; the cache has the
  // huggingface_hub layout.
  for (const auto& f : weight_files) {
    EXPECT_EQ(hub.count("GET", "/" + f) > 0 || hub.count("HEAD", "/" + f) > 0, visual_shards.count(f) > 0) << f;
  }
  EXPECT_TRUE(fs::exists(root / "cache" / "models--org--tiny-qwen2-vl" / "refs" / "main"));
  EXPECT_TRUE(fs::is_symlink(root / "cache" / "models--org--tiny-qwen2-vl" / "snapshots" / kCommit / "config.json"));
}

}  // namespace
}  // namespace eric::integration
