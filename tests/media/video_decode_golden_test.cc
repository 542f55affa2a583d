// eric's video decoder against tools/reference/make_video_goldens.py, which
// reads the committed clips as Cornserve's Eric does (cv2.VideoCapture, frame
// count from CAP_PROP_FRAME_COUNT, np.linspace selection, grab/retrieve,
// BGR2RGB): frame counts and selected indices must be equal, decoded frames
// within a mean absolute difference of 1.0. Frame selection (numpy linspace,
// transformers' fps sampling with torch.arange) is checked on its own cases.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "media/frame_selection.h"
#include "media/video_decoder.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric::media {
namespace {

const std::string kDir = std::string(ERIC_SOURCE_DIR) + "/tests/data/media/video/";

using eric::testing::read_file;

nlohmann::json manifest() { return nlohmann::json::parse(read_file(kDir + "cases.json")); }

TEST(FrameSelectionTest, LinspaceMatchesNumpy) {
  const nlohmann::json m = manifest();
  ASSERT_FALSE(m["linspace_cases"].empty());
  for (const auto& c : m["linspace_cases"]) {
    FrameSelection s;
    s.max_num_frames = c["max_num_frames"].get<int64_t>();
    auto got = select_frame_indices(c["total"].get<int64_t>(), 0.0, s);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_EQ(*got, c["indices"].get<std::vector<int64_t>>()) << c.dump();
  }
}

TEST(FrameSelectionTest, FpsMatchesTransformers) {
  const nlohmann::json m = manifest();
  ASSERT_FALSE(m["fps_cases"].empty());
  for (const auto& c : m["fps_cases"]) {
    FrameSelection s;
    s.mode = FrameSelection::Mode::kFps;
    s.fps = c["fps"].get<double>();
    s.min_frames = c["min_frames"].get<int64_t>();
    s.max_frames = c["max_frames"].get<int64_t>();
    s.frame_factor = c["frame_factor"].get<int64_t>();
    auto got = select_frame_indices(c["total"].get<int64_t>(), c["source_fps"].get<double>(), s);
    ASSERT_TRUE(got.ok()) << got.status().to_string() << " " << c.dump();
    EXPECT_EQ(*got, c["indices"].get<std::vector<int64_t>>()) << c.dump();
  }
}

TEST(FrameSelectionTest, RejectsImpossibleRequests) {
  FrameSelection s;
  EXPECT_FALSE(select_frame_indices(0, 30.0, s).ok());
  s.mode = FrameSelection::Mode::kFps;
  EXPECT_EQ(select_frame_indices(100, 0.0, s).status().code(), ErrorCode::kInvalidArgument);  // unknown fps
  EXPECT_EQ(select_frame_indices(1, 30.0, s).status().code(), ErrorCode::kInvalidArgument);   // rounds to 0
  s.fps = -1;
  EXPECT_EQ(select_frame_indices(100, 30.0, s).status().code(), ErrorCode::kInvalidArgument);
}

TEST(VideoDecodeTest, MatchesOpenCvReference) {
  auto expected = SafetensorsFile::open(kDir + "expected.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  const nlohmann::json m = manifest();
  ASSERT_FALSE(m["clips"].empty());
  for (const auto& c : m["clips"]) {
    const std::string name = c["name"];
    const std::string bytes = read_file(kDir + c["file"].get<std::string>());
    ASSERT_FALSE(bytes.empty()) << name;

    FrameSelection s32;  // Cornserve's default: at most 32 frames
    auto v32 = decode_video(bytes, s32);
    ASSERT_TRUE(v32.ok()) << name << ": " << v32.status().to_string();
    EXPECT_EQ(v32->total_frames, c["total_frames"].get<int64_t>()) << name;
    EXPECT_DOUBLE_EQ(v32->source_fps, c["fps"].get<double>()) << name;
    EXPECT_EQ(v32->frame_indices, c["indices32"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(v32->frames.size(), v32->frame_indices.size()) << name;

    FrameSelection s8;
    s8.max_num_frames = 8;
    auto v8 = decode_video(bytes, s8);
    ASSERT_TRUE(v8.ok()) << name << ": " << v8.status().to_string();
    EXPECT_EQ(v8->frame_indices, c["indices8"].get<std::vector<int64_t>>()) << name;
    auto want = expected->get(name + ".frames8");
    ASSERT_TRUE(want.ok()) << name;
    const auto& shape = want->shape();
    ASSERT_EQ(static_cast<int64_t>(v8->frames.size()), shape[0]) << name;
    const uint8_t* w = want->data<uint8_t>();
    double worst_mad = 0;
    int worst_max = 0;
    for (size_t f = 0; f < v8->frames.size(); ++f) {
      const RgbImage& img = v8->frames[f];
      ASSERT_EQ(img.height, shape[1]) << name;
      ASSERT_EQ(img.width, shape[2]) << name;
      const size_t n = img.pixels.size();
      const uint8_t* wf = w + f * n;
      double sum = 0;
      for (size_t i = 0; i < n; ++i) {
        const int d = std::abs(int(img.pixels[i]) - int(wf[i]));
        sum += d;
        worst_max = std::max(worst_max, d);
      }
      worst_mad = std::max(worst_mad, sum / double(n));
    }
    EXPECT_LE(worst_mad, 1.0) << name;
    std::printf("[video vs OpenCV] %-9s %s/%s %dx%d, %lld frames @ %.3g fps: worst frame MAD %.4f, max |diff| %d\n",
                name.c_str(), v8->container.c_str(), v8->codec.c_str(), v8->width, v8->height,
                static_cast<long long>(v8->total_frames), v8->source_fps, worst_mad, worst_max);
  }
}

TEST(VideoDecodeTest, FpsSelectionDecodesTheChosenFrames) {
  const std::string bytes = read_file(kDir + "h264.mp4");  // 40 frames at 10 fps
  FrameSelection s;
  s.mode = FrameSelection::Mode::kFps;
  s.fps = 2.0;
  auto v = decode_video(bytes, s);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->frame_indices, (std::vector<int64_t>{0, 5, 10, 15, 20, 25, 30, 35}));
  ASSERT_EQ(v->frames.size(), 8u);
  // Frame 5 decoded on its own selection must equal frame 5 here.
  FrameSelection all;
  all.max_num_frames = 0;
  auto every = decode_video(bytes, all);
  ASSERT_TRUE(every.ok());
  ASSERT_EQ(every->frames.size(), 40u);
  EXPECT_EQ(every->frames[5].pixels, v->frames[1].pixels);
  EXPECT_EQ(every->frames[35].pixels, v->frames[7].pixels);
  EXPECT_DOUBLE_EQ(v->duration_s, 4.0);
}

}  // namespace
}  // namespace eric::media
