// eric's Qwen2-VL video processor against tools/reference/make_video_goldens.py
// (transformers' Qwen2VLVideoProcessor restated on numpy, and the Pillow video
// path of the original Qwen2VLImageProcessor), fed the same reference-decoded
// frames: grids equal, Pillow pixel_values_videos within 1e-6, torchvision
// within the image test's tolerance (eric follows PyTorch's fixed-point
// resize kernel; the reference is a float64 statement of it). Also: the
// video pixel-limit resolution rules and bad inputs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "models/qwen2_vl/video_processor.h"
#include "tensor/safetensors.h"
#include "model_test_util.h"
#include "../common/read_file.h"

namespace eric::models {
namespace {

const std::string kDir = std::string(ERIC_SOURCE_DIR) + "/tests/data/models/qwen2_vl_video_processor/";

using eric::testing::read_file;

nlohmann::json read_json_or_empty(const std::string& path) {
  const std::string text = read_file(path);
  return text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text);
}

ModelConfig model_config(const std::string& sub) {
  ModelConfig mc;
  mc.dir = kDir + sub;
  mc.model_type = "qwen2_vl";
  mc.preprocessor_config = read_json_or_empty(mc.dir + "/preprocessor_config.json");
  mc.video_preprocessor_config = read_json_or_empty(mc.dir + "/video_preprocessor_config.json");
  return mc;
}

using test_util::frames_from;

TEST(Qwen2VLVideoProcessorTest, MatchesTransformersReference) {
  const auto manifest = nlohmann::json::parse(read_file(kDir + "cases.json"));
  auto expected = SafetensorsFile::open(kDir + "expected.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  ASSERT_FALSE(manifest["cases"].empty());
  for (const auto& c : manifest["cases"]) {
    const std::string name = c["name"];
    auto processor = make_qwen2_vl_video_processor(model_config(c["config"]));
    ASSERT_TRUE(processor.ok()) << processor.status().to_string();
    auto frames_t = expected->get(name + ".frames");
    ASSERT_TRUE(frames_t.ok()) << name;
    const auto frames = frames_from(*frames_t);
    for (const auto& backend : c["backends"]) {
      ProcessorOptions options;
      options.backend = backend == "pillow" ? ImageProcessorBackend::kPillow : ImageProcessorBackend::kTorchvision;
      auto got = (*processor)->process_video(frames, options);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      const std::string key = name + "." + backend.get<std::string>();
      auto want_pv = expected->get(key + ".pixel_values_videos");
      auto want_grid = expected->get(key + ".video_grid_thw");
      ASSERT_TRUE(want_pv.ok() && want_grid.ok()) << key;
      const Tensor* pv = got->find("pixel_values_videos");
      const Tensor* grid = got->find("video_grid_thw");
      ASSERT_NE(pv, nullptr);
      ASSERT_NE(grid, nullptr);
      ASSERT_EQ(grid->shape()[1], 3);
      const int64_t* g = grid->data<int64_t>();
      const int64_t* wg = want_grid->data<int64_t>();
      EXPECT_EQ(std::vector<int64_t>(g, g + 3), std::vector<int64_t>(wg, wg + 3)) << key;
      EXPECT_EQ(got->num_tokens, g[0] * g[1] * g[2] / 4) << key;
      EXPECT_EQ(got->modality, Modality::kVideo);
      ASSERT_EQ(pv->shape()[0], want_pv->shape()[0]) << key;
      ASSERT_EQ(pv->shape()[1], want_pv->shape()[1]) << key;
      double max_abs = 0;
      int64_t differing = 0;
      for (int64_t i = 0; i < pv->numel(); ++i) {
        const double e = std::abs(double(pv->data<float>()[i]) - double(want_pv->data<float>()[i]));
        max_abs = std::max(max_abs, e);
        if (e > 1e-6) ++differing;
      }
      if (backend == "pillow") {
        EXPECT_LE(max_abs, 1e-6) << key;
      } else {
        EXPECT_LT(max_abs, 0.031) << key;  // one uint8 step is 1/255/std ~ 0.015
      }
      std::printf("[video processor] %s: grid %lld,%lld,%lld, max |diff| %.3g, %lld of %lld values differ\n",
                  key.c_str(), static_cast<long long>(g[0]), static_cast<long long>(g[1]),
                  static_cast<long long>(g[2]), max_abs, static_cast<long long>(differing),
                  static_cast<long long>(pv->numel()));
    }
  }
}

TEST(Qwen2VLVideoProcessorTest, PadsOddFrameCountsWithTheLastFrame) {
  auto processor = make_qwen2_vl_video_processor(model_config("image_only"));
  ASSERT_TRUE(processor.ok());
  media::RgbImage a(56, 56), b(56, 56), c(56, 56);
  std::fill(a.pixels.begin(), a.pixels.end(), 10);
  std::fill(b.pixels.begin(), b.pixels.end(), 100);
  std::fill(c.pixels.begin(), c.pixels.end(), 200);
  auto three = (*processor)->process_video({a, b, c}, {});
  auto four = (*processor)->process_video({a, b, c, c}, {});
  ASSERT_TRUE(three.ok() && four.ok());
  const Tensor& p3 = *three->find("pixel_values_videos");
  const Tensor& p4 = *four->find("pixel_values_videos");
  ASSERT_EQ(p3.numel(), p4.numel());
  EXPECT_EQ(std::memcmp(p3.data<float>(), p4.data<float>(), p3.nbytes()), 0);
  EXPECT_EQ(three->find("video_grid_thw")->data<int64_t>()[0], 2);
  EXPECT_EQ(three->num_tokens, 2 * 4 * 4 / 4);
}

TEST(Qwen2VLVideoProcessorTest, ResolvesPixelLimitsAsTransformers) {
  using qwen2_vl::VideoProcessorConfig;
  // No config at all: the video defaults, not the image ones.
  auto d = VideoProcessorConfig::resolve(nlohmann::json::object(), nlohmann::json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->frames.min_pixels, 128 * 28 * 28);
  EXPECT_EQ(d->frames.max_pixels, 28 * 28 * 768);
  EXPECT_EQ(d->min_frames, 4);
  EXPECT_EQ(d->max_frames, 768);
  EXPECT_DOUBLE_EQ(d->fps, 2.0);
  // Only preprocessor_config.json (Qwen2-VL-7B-Instruct): its min/max_pixels apply to video.
  auto i = VideoProcessorConfig::resolve(nlohmann::json::object(),
                                         {{"min_pixels", 3136}, {"max_pixels", 12845056}});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->frames.min_pixels, 3136);
  EXPECT_EQ(i->frames.max_pixels, 12845056);
  // A video config wins over the image config entirely; top-level keys win over size.
  auto v = VideoProcessorConfig::resolve(
      {{"size", {{"shortest_edge", 1000}, {"longest_edge", 9000}}}, {"max_pixels", 8000}, {"fps", 1.0},
       {"max_frames", 64}, {"temporal_patch_size", 2}},
      {{"min_pixels", 3136}, {"max_pixels", 12845056}});
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->frames.min_pixels, 1000);
  EXPECT_EQ(v->frames.max_pixels, 8000);
  EXPECT_DOUBLE_EQ(v->fps, 1.0);
  EXPECT_EQ(v->max_frames, 64);
  // Errors name the file.
  auto bad = VideoProcessorConfig::resolve({{"fps", "fast"}}, nlohmann::json::object());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().to_string().find("video_preprocessor_config.json"), std::string::npos);
  auto inverted = VideoProcessorConfig::resolve(nlohmann::json::object(), {{"min_pixels", 900000}});
  EXPECT_FALSE(inverted.ok());  // 900000 > the video default max 602112
}

TEST(Qwen2VLVideoProcessorTest, FpsSelectionFollowsTheConfig) {
  auto processor = make_qwen2_vl_video_processor(model_config("video_config"));
  ASSERT_TRUE(processor.ok());
  const media::FrameSelection s = (*processor)->fps_selection();
  EXPECT_EQ(s.mode, media::FrameSelection::Mode::kFps);
  EXPECT_EQ(s.frame_factor, 2);
  EXPECT_DOUBLE_EQ(s.fps, 2.0);
}

TEST(Qwen2VLVideoProcessorTest, BadInputs) {
  auto processor = make_qwen2_vl_video_processor(model_config("image_only"));
  ASSERT_TRUE(processor.ok());
  EXPECT_EQ((*processor)->process_video({}, {}).status().code(), ErrorCode::kInvalidArgument);
  media::RgbImage a(56, 56), b(28, 56);
  auto mixed = (*processor)->process_video({a, b}, {});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().to_string().find("frame 1"), std::string::npos);
  ProcessorOptions o;
  o.max_pixels = -5;
  EXPECT_EQ((*processor)->process_video({a}, o).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace eric::models
