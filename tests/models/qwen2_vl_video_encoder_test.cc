// Video end to end through the model layer, for Qwen2-VL and Qwen2.5-VL:
// the family's processor (what the CLI and the server use) on the
// reference-decoded frames of committed clips, then the encoder, against
// tools/reference/make_video_encoder_goldens.py (Pillow video path restated
// on numpy + the PyTorch tower). Grids have T > 1, include odd frame counts
// (the last frame repeated) and two videos in one forward. Also the
// processor's video hook: modalities, frame selection from request options.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "models/loaded_model.h"
#include "models/qwen2_vl/test_model.h"
#include "tensor/safetensors.h"
#include "../common/temp_dir.h"
#include "model_test_util.h"

namespace eric::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kGoldens = fs::path(ERIC_SOURCE_DIR) / "tests/data/goldens";

using testing::TempDir;
using test_util::frames_from;
using test_util::parse_make_test_model;

double rel_error(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

TEST(VideoEncoderGoldens, ProcessorAndEncoderMatchPyTorchReference) {
  const json manifest = json::parse(std::ifstream(kGoldens / "manifest.json"));
  ASSERT_TRUE(manifest.contains("video_goldens")) << "run tools/reference/make_video_encoder_goldens.py";
  TempDir dir("video_encoder_goldens");
  std::map<std::string, LoadedModel> models;  // by make_test_model arguments
  std::map<std::string, int> checked;         // per arch
  for (const auto& entry : manifest.at("video_goldens")) {
    const std::string file = entry.at("file");
    const std::string arch = entry.at("arch");
    const std::string args = entry.at("make_test_model");
    if (!models.count(args)) {
      const std::string out = (dir.path() / std::to_string(models.size())).string();
      ASSERT_TRUE(qwen2_vl::write_test_model(arch, out, parse_make_test_model(args)).ok());
      models.emplace(args, load_model(out, true).value());
    }
    LoadedModel& model = models.at(args);
    SafetensorsFile golden = SafetensorsFile::open((kGoldens / file).string()).value();
    const Tensor want_pixels = golden.get("pixel_values_videos").value();
    const Tensor want_grids = golden.get("video_grid_thw").value();
    const Tensor want = golden.get("embeddings").value();

    ProcessorOptions options;
    ASSERT_EQ(entry.at("backend"), "pillow") << file;
    options.backend = ImageProcessorBackend::kPillow;
    std::vector<ProcessedItem> items;
    int64_t row = 0;
    for (int64_t v = 0; v < want_grids.dim(0); ++v) {
      const Tensor frames = golden.get("frames_" + std::to_string(v)).value();
      auto item = model.processor->process_video(frames_from(frames), options);
      ASSERT_TRUE(item.ok()) << file << ": " << item.status().to_string();
      ASSERT_EQ(item->modality, Modality::kVideo);
      const Tensor* grid = item->find("video_grid_thw");
      const Tensor* pixels = item->find("pixel_values_videos");
      ASSERT_TRUE(grid != nullptr && pixels != nullptr) << file;
      for (int k = 0; k < 3; ++k) {
        EXPECT_EQ(grid->data<int64_t>()[k], want_grids.data<int64_t>()[3 * v + k]) << file << " video " << v;
      }
      // An odd frame count is padded by repeating the last frame.
      EXPECT_EQ(grid->data<int64_t>()[0], (frames.dim(0) + 1) / 2) << file;
      ASSERT_LE(row + pixels->dim(0), want_pixels.dim(0)) << file;
      double max_abs = 0;
      const float* w = want_pixels.data<float>() + row * want_pixels.dim(1);
      for (int64_t i = 0; i < pixels->numel(); ++i) {
        max_abs = std::max(max_abs, std::abs(double(pixels->data<float>()[i]) - w[i]));
      }
      EXPECT_LE(max_abs, 1e-6) << file << " video " << v << ": pixel_values_videos";
      row += pixels->dim(0);
      items.push_back(std::move(*item));
    }
    EXPECT_EQ(row, want_pixels.dim(0)) << file;

    std::vector<const ProcessedItem*> batch;
    for (const auto& item : items) batch.push_back(&item);
    auto out = model.encoder->encode(batch);
    ASSERT_TRUE(out.ok()) << file << ": " << out.status().to_string();
    std::vector<float> all;
    for (size_t i = 0; i < out->size(); ++i) {
      EXPECT_EQ((*out)[i].dim(0), items[i].num_tokens) << file;
      all.insert(all.end(), (*out)[i].data<float>(), (*out)[i].data<float>() + (*out)[i].numel());
    }
    ASSERT_EQ(static_cast<int64_t>(all.size()), want.numel()) << file;
    const double err = rel_error(all.data(), want.data<float>(), want.numel());
    const double tol = entry.at("rel_tolerance").get<double>();
    EXPECT_LT(err, tol) << file;
    std::printf("video golden %-58s rel err %.3g (tolerance %g)\n", file.c_str(), err, tol);
    ++checked[arch];
  }
  EXPECT_GT(checked["qwen2_vl"], 0);
  EXPECT_GT(checked["qwen2_5_vl"], 0);
}

TEST(VideoProcessorHook, BothFamiliesReportVideoAndSelectFramesFromOptions) {
  TempDir dir("video_hook");
  for (const std::string arch : {"qwen2_vl", "qwen2_5_vl"}) {
    const std::string out = (dir.path() / arch).string();
    ASSERT_TRUE(qwen2_vl::write_test_model(arch, out, TestModelOptions{}).ok());
    LoadedModel model = load_model(out, false).value();
    const auto mods = model.processor->modalities();
    EXPECT_NE(std::find(mods.begin(), mods.end(), Modality::kVideo), mods.end()) << arch;
    EXPECT_NE(std::find(mods.begin(), mods.end(), Modality::kImage), mods.end()) << arch;

    // Default: Cornserve's linspace, at most 32 frames.
    media::FrameSelection s = model.processor->video_frame_selection({}).value();
    EXPECT_EQ(s.mode, media::FrameSelection::Mode::kLinspace);
    EXPECT_EQ(s.max_num_frames, 32);
    VideoSamplingOptions o;
    o.max_num_frames = 8;
    EXPECT_EQ(model.processor->video_frame_selection(o).value().max_num_frames, 8);
    // fps: the config's min/max frames and temporal_patch_size as the frame factor.
    o = {};
    o.fps = 1.5;
    o.max_frames = 16;
    s = model.processor->video_frame_selection(o).value();
    EXPECT_EQ(s.mode, media::FrameSelection::Mode::kFps);
    EXPECT_DOUBLE_EQ(s.fps, 1.5);
    EXPECT_EQ(s.min_frames, 4);
    EXPECT_EQ(s.max_frames, 16);
    EXPECT_EQ(s.frame_factor, 2);

    // Contradictory or invalid requests name the field.
    o.max_num_frames = 4;
    auto r = model.processor->video_frame_selection(o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("max_num_frames"), std::string::npos) << r.status().to_string();
    o = {};
    o.min_frames = 2;
    r = model.processor->video_frame_selection(o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("fps"), std::string::npos) << r.status().to_string();
    o = {};
    o.fps = -1;
    EXPECT_EQ(model.processor->video_frame_selection(o).status().code(), ErrorCode::kInvalidArgument);
    o = {};
    o.fps = 2;
    o.min_frames = 10;
    o.max_frames = 5;
    EXPECT_EQ(model.processor->video_frame_selection(o).status().code(), ErrorCode::kInvalidArgument);
    o = {};
    o.max_num_frames = -3;
    EXPECT_EQ(model.processor->video_frame_selection(o).status().code(), ErrorCode::kInvalidArgument);

    // No frames, or frames of different sizes, are clear errors.
    EXPECT_EQ(model.processor->process_video({}, {}).status().code(), ErrorCode::kInvalidArgument);
    std::vector<media::RgbImage> mixed;
    mixed.emplace_back(28, 28);
    mixed.emplace_back(56, 28);
    auto bad = model.processor->process_video(mixed, {});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("frame 1"), std::string::npos) << bad.status().to_string();
  }
}

}  // namespace
}  // namespace eric::models
