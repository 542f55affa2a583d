// `eric preprocess --video` and `eric encode --video` end to end: the built
// binary on the committed clips (tests/data/media/video) and on a Cornserve
// data:video/jpeg frame list, with a tiny Qwen2-VL / Qwen2.5-VL checkpoint
// from `eric make-test-model`.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../common/temp_dir.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric {
namespace {

namespace fs = std::filesystem;
const std::string kEric = std::string(ERIC_BINARY_DIR) + "/eric";
const std::string kClips = std::string(ERIC_SOURCE_DIR) + "/tests/data/media/video/";

using eric::testing::read_file;

std::string base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

class CliVideoTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_ = dir_.path() / "model";
    ASSERT_EQ(run("make-test-model --arch " + GetParam() + " --seed 0 --dims tiny --dtype float32 --out " +
                  model_.string()),
              0)
        << log();
  }
  int run(const std::string& args) {
    const std::string cmd = kEric + " " + args + " > " + dir_.file("log.txt") + " 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string log() { return read_file(dir_.path() / "log.txt"); }
  std::string out(const std::string& name) { return dir_.file(name); }
  std::string model() { return model_.string(); }

  testing::TempDir dir_{"eric_cli_video"};
  fs::path model_;
};

std::vector<int64_t> grid_of(const SafetensorsFile& f, const std::string& name) {
  Tensor g = f.get(name).value();
  EXPECT_EQ(g.dtype(), DType::kI64);
  EXPECT_EQ(g.shape(), Shape({1, 3}));
  return {g.data<int64_t>()[0], g.data<int64_t>()[1], g.data<int64_t>()[2]};
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return 1e9;
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a.data<float>()[i]) - b.data<float>()[i]));
  return m;
}

TEST_P(CliVideoTest, PreprocessWritesVideoTensorsAndEncodeMatchesThem) {
  // 40 frames; 5 kept by linspace, padded to 6 = grid_t 3; 48x32 -> 84x56 (min_pixels 3136).
  ASSERT_EQ(run("preprocess --model " + model() + " --video " + kClips + "h264.mp4 --max-num-frames 5 --out " +
                out("pre.safetensors")),
            0)
      << log();
  SafetensorsFile pre = SafetensorsFile::open(out("pre.safetensors")).value();
  auto names = pre.names();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"pixel_values_videos", "video_grid_thw"}));
  EXPECT_EQ(grid_of(pre, "video_grid_thw"), (std::vector<int64_t>{3, 4, 6}));
  EXPECT_EQ(pre.get("pixel_values_videos").value().shape(), Shape({72, 1176}));

  // encode --video equals the encoder run on preprocess's output.
  ASSERT_EQ(run("encode --model " + model() + " --video " + kClips + "h264.mp4 --max-num-frames 5 --out " +
                out("enc.safetensors")),
            0)
      << log();
  ASSERT_EQ(run("encode --model " + model() + " --inputs " + out("pre.safetensors") + " --out " +
                out("enc_inputs.safetensors")),
            0)
      << log();
  SafetensorsFile enc = SafetensorsFile::open(out("enc.safetensors")).value();
  SafetensorsFile enc_inputs = SafetensorsFile::open(out("enc_inputs.safetensors")).value();
  Tensor e = enc.get("embeddings_0").value();
  EXPECT_EQ(e.shape(), Shape({18, 48}));
  EXPECT_EQ(max_abs_diff(e, enc_inputs.get("embeddings_0").value()), 0.0);
}

TEST_P(CliVideoTest, FrameSelectionOptions) {
  // --fps 1 on 4 s at 10 fps: 4 frames (grid_t 2).
  ASSERT_EQ(run("preprocess --model " + model() + " --video " + kClips + "h264.mp4 --fps 1 --out " +
                out("fps.safetensors")),
            0)
      << log();
  EXPECT_EQ(grid_of(SafetensorsFile::open(out("fps.safetensors")).value(), "video_grid_thw")[0], 2);
  // Default: Cornserve's at most 32 frames (VP9 WebM has 12: grid_t 6).
  ASSERT_EQ(run("preprocess --model " + model() + " --video " + kClips + "vp9.webm --out " + out("all.safetensors")), 0)
      << log();
  EXPECT_EQ(grid_of(SafetensorsFile::open(out("all.safetensors")).value(), "video_grid_thw")[0], 6);
  // --max-frames caps fps sampling: 40 frames at --fps 10 would be 40.
  ASSERT_EQ(run("preprocess --model " + model() + " --video " + kClips + "h264.mp4 --fps 10 --max-frames 6 --out " +
                out("cap.safetensors")),
            0)
      << log();
  EXPECT_EQ(grid_of(SafetensorsFile::open(out("cap.safetensors")).value(), "video_grid_thw")[0], 3);
}

TEST_P(CliVideoTest, JpegFrameListRepeatsTheLastFrame) {
  // Three identical frames, padded with a fourth: both temporal groups are the
  // same frames, and each frame group is its own attention segment with the
  // same positions, so the two halves of the embedding are equal.
  const std::string jpeg = base64(read_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/media/decode/jpeg_420.jpg"));
  const std::string url = "data:video/jpeg;base64," + jpeg + "," + jpeg + "," + jpeg;
  ASSERT_EQ(run("encode --model " + model() + " --video '" + url + "' --out " + out("list.safetensors")), 0) << log();
  Tensor e = SafetensorsFile::open(out("list.safetensors")).value().get("embeddings_0").value();
  ASSERT_EQ(e.dim(0) % 2, 0);
  const int64_t half = e.dim(0) / 2;
  EXPECT_GT(half, 0);
  double m = 0;
  for (int64_t i = 0; i < half * e.dim(1); ++i) {
    m = std::max(m, std::abs(double(e.data<float>()[i]) - e.data<float>()[i + half * e.dim(1)]));
  }
  EXPECT_LT(m, 1e-5);
}

TEST_P(CliVideoTest, BadArgumentsFailClearly) {
  const std::string clip = kClips + "h264.mp4";
  EXPECT_EQ(run("preprocess --model " + model() + " --out " + out("x.safetensors")), 1);
  EXPECT_NE(log().find("give either --image or --video"), std::string::npos) << log();
  EXPECT_NE(run("preprocess --model " + model() + " --image a.jpg --video " + clip + " --out " + out("x.safetensors")), 0);
  EXPECT_NE(log().find("excludes"), std::string::npos) << log();
  EXPECT_EQ(run("encode --model " + model() + " --image a.jpg --video " + clip + " --out " + out("x.safetensors")), 1);
  EXPECT_NE(log().find("exactly one of --image"), std::string::npos) << log();
  EXPECT_EQ(run("preprocess --model " + model() + " --video " + clip + " --fps 2 --max-num-frames 4 --out " +
                out("x.safetensors")),
            1);
  EXPECT_NE(log().find("not both"), std::string::npos) << log();
  EXPECT_EQ(run("preprocess --model " + model() + " --video " + dir_.file("missing.mp4") + " --out " +
                out("x.safetensors")),
            1);
  EXPECT_NE(log().find("missing.mp4"), std::string::npos) << log();
  // Not a video: the decoder's error, naming the argument.
  std::ofstream(dir_.path() / "garbage.mp4") << "this is not a video at all";
  EXPECT_EQ(run("encode --model " + model() + " --video " + dir_.file("garbage.mp4") + " --out " +
                out("x.safetensors")),
            1);
  EXPECT_NE(log().find("garbage.mp4"), std::string::npos) << log();
  EXPECT_FALSE(fs::exists(dir_.path() / "x.safetensors"));
}

INSTANTIATE_TEST_SUITE_P(Families, CliVideoTest, ::testing::Values("qwen2_vl", "qwen2_5_vl"));

}  // namespace
}  // namespace eric
