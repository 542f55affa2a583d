// Video through the real server: `eric serve` on a tiny random Qwen2-VL /
// Qwen2.5-VL checkpoint answers "modality": "video" items (a committed MP4 by
// file://, the same clip as a data: URI, a Cornserve data:video/jpeg frame
// list; per-item max_num_frames / fps) next to an image item in one request,
// each embedding equal to `eric encode --video` / `--image` on the same input
// (‖Δ‖/‖ref‖ < 1e-5); /modalities lists video; broken videos are 400s naming
// the item. (The engine's scheduler keeps the image and the videos in
// separate batches: tests/engine/scheduler_test.cc.)
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "media/base64.h"
#include "router/http_client.h"
#include "router/image_source.h"
#include "embedding_compare.h"
#include "../common/temp_dir.h"
#include "serve_process.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric::integration {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using router::HttpClient;

using eric::testing::read_file;

class ServeVideoTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    media_ = dir_ + "/media";
    model_ = dir_ + "/model";
    fs::create_directories(media_);
    fs::create_directories(dir_ + "/run");
    fs::copy_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/media/video/h264.mp4", media_ + "/clip.mp4");
    fs::copy_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/media/video/vp9.webm", media_ + "/clip.webm");
    write_test_bmp(media_ + "/image.bmp", 56, 84, 3);
    ASSERT_EQ(run_command({eric_binary(), "make-test-model", "--arch", GetParam(), "--out", model_}, log()), 0)
        << read_file(log());
  }
  void TearDown() override {
    if (HasFailure()) tmp_.keep();  // for its logs
  }
  std::string log() const { return dir_ + "/setup.log"; }

  // `eric encode` on one input; returns embeddings_0.
  Tensor encode(std::vector<std::string> args) {
    const std::string out = dir_ + "/ref" + std::to_string(refs_++) + ".safetensors";
    std::vector<std::string> argv = {eric_binary(), "encode", "--model", model_, "--out", out};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_EQ(run_command(argv, log()), 0) << read_file(log());
    auto f = SafetensorsFile::open(out);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    if (!f.ok()) return Tensor();
    return *f->get("embeddings_0").value().to(DType::kF32);
  }

  json item(const std::string& id, const std::string& modality, const std::string& url, json extra = json::object()) {
    json j = {{"id", id}, {"modality", modality}, {"model_id", model_}, {"url", url}};
    j.update(extra);
    return j;
  }

  testing::TempDir tmp_{"eric_itv"};
  const std::string dir_ = tmp_.str();
  std::string media_, model_;
  int refs_ = 0;
};

TEST_P(ServeVideoTest, VideoItemsNextToAnImageMatchEncode) {
  const std::string clip = media_ + "/clip.mp4";
  const std::string jpeg = read_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/media/decode/jpeg_420.jpg");
  const std::string jpeg64 = media::base64_encode(jpeg);
  const std::string frame_list = "data:video/jpeg;base64," + jpeg64 + "," + jpeg64 + "," + jpeg64;
  const std::string mp4_uri = "data:video/mp4;base64," + media::base64_encode(read_file(clip));

  struct Case {
    json request_item;
    Tensor reference;
  };
  std::vector<Case> cases;
  // 40 frames, 5 kept: odd count, padded (grid_t 3).
  cases.push_back({item("mp4_5", "video", "file://" + clip, {{"max_num_frames", 5}}),
                   encode({"--video", clip, "--max-num-frames", "5"})});
  // Cornserve's default: 32 of the 40 frames.
  cases.push_back({item("mp4_default", "video", "file://" + clip), encode({"--video", clip})});
  cases.push_back({item("image", "image", "file://" + media_ + "/image.bmp"), encode({"--image", media_ + "/image.bmp"})});
  // fps sampling on the VP9 WebM (12 frames at 30 fps -> min_frames 4).
  cases.push_back({item("webm_fps", "video", "file://" + media_ + "/clip.webm", {{"fps", 2.0}}),
                   encode({"--video", media_ + "/clip.webm", "--fps", "2"})});
  cases.push_back({item("mp4_uri", "video", mp4_uri, {{"max_num_frames", 5}}), cases[0].reference});
  cases.push_back({item("frame_list", "video", frame_list), encode({"--video", frame_list})});
  ASSERT_FALSE(HasFailure());

  ServeProcess server({"--model", model_, "--preprocess-workers", "2", "--allowed-local-media-path", media_,
                       "--max-batch-size", "8"},
                      dir_ + "/serve.log", dir_ + "/run");
  ASSERT_TRUE(server.wait_healthy(std::chrono::seconds(90))) << server.log();
  auto client = *HttpClient::connect("127.0.0.1", server.port(), std::chrono::seconds(120));
  EXPECT_EQ(client->get("/modalities")->body, R"(["image","video"])");

  json body = {{"return_embeddings", true}, {"data", json::array()}};
  for (const auto& c : cases) body["data"].push_back(c.request_item);
  auto r = client->post("/embeddings", body.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->status, 200) << r->body;
  json answer = json::parse(r->body);
  ASSERT_EQ(answer["embeddings"].size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& e = answer["embeddings"][i];
    const Tensor& ref = cases[i].reference;
    EXPECT_EQ(e["id"], cases[i].request_item["id"]);
    EXPECT_EQ(e["shape"], json({ref.dim(0), ref.dim(1)})) << e["id"];
    const double err = relative_error(e, ref);
    EXPECT_LT(err, 1e-5) << e["id"];
    std::printf("[serve video %s] %-12s %s rel err %.3g\n", GetParam().c_str(), e["id"].get<std::string>().c_str(),
                e["shape"].dump().c_str(), err);
  }

  // Broken or refused videos are 400s naming the item; the server stays up.
  std::ofstream(media_ + "/broken.mp4") << read_file(clip).substr(0, 700);
  auto broken = client->post("/embeddings", json({{"data", {item("cut", "video", "file://" + media_ + "/broken.mp4")}}}).dump());
  ASSERT_TRUE(broken.ok());
  EXPECT_EQ(broken->status, 400) << broken->body;
  EXPECT_NE(broken->body.find("item 'cut'"), std::string::npos) << broken->body;
  auto both = client->post("/embeddings", json({{"data", {item("x", "video", "file://" + clip,
                                                                 {{"fps", 2}, {"max_num_frames", 4}})}}}).dump());
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->status, 400) << both->body;
  EXPECT_NE(both->body.find("not both"), std::string::npos) << both->body;
  EXPECT_EQ(client->get("/health")->status, 200);

  auto code = server.stop(SIGTERM, std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
}

INSTANTIATE_TEST_SUITE_P(Families, ServeVideoTest, ::testing::Values("qwen2_vl", "qwen2_5_vl"));

// The server's video loader: URL policy of the MediaLoader, decode limits
// stricter than the CLI's, refusals that say a server limit applied.
TEST(ServerVideoLoader, AppliesUrlPolicyAndServerLimits) {
  const media::VideoDecodeOptions d = router::server_video_decode_options();
  EXPECT_EQ(d.threads, 1);
  EXPECT_LT(d.max_selected_pixels, media::VideoDecodeOptions{}.max_selected_pixels);
  EXPECT_LE(d.max_selected_frames, 768);

  const std::string dir = std::string(ERIC_SOURCE_DIR) + "/tests/data/media/video";
  media::MediaLoaderOptions policy;
  policy.allowed_local_media_paths = {dir};
  media::FrameSelection eight;
  eight.max_num_frames = 8;
  auto v = router::make_video_loader(policy)("file://" + dir + "/h264.mp4", eight);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->frames.size(), 8u);
  EXPECT_FALSE(router::make_video_loader(policy)("file:///etc/passwd", eight).ok());

  media::VideoDecodeOptions tight = d;
  tight.max_selected_pixels = 48 * 32 * 4;  // four frames of the clip
  auto refused = router::make_video_loader(policy, tight)("file://" + dir + "/h264.mp4", eight);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.status().to_string().find("limit of the server"), std::string::npos) << refused.status().to_string();
}

}  // namespace
}  // namespace eric::integration
