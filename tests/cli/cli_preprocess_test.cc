// `eric preprocess` end to end: runs the built binary on golden images with a
// tiny Qwen2-VL model folder and compares its safetensors output with the
// transformers restatement's goldens (tools/reference/qwen2_vl_image_processor.py).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../common/temp_dir.h"
#include "tensor/safetensors.h"

namespace eric {
namespace {

namespace fs = std::filesystem;
const std::string kEric = std::string(ERIC_BINARY_DIR) + "/eric";
const std::string kData = std::string(ERIC_SOURCE_DIR) + "/tests/data/models/qwen2_vl_processor/";

class CliPreprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_.path() / "model";
    fs::create_directories(model_);
    std::ofstream(model_ / "config.json") << R"({"model_type": "qwen2_vl"})";
    fs::copy_file(kData + "preprocessor_config_pixels.json", model_ / "preprocessor_config.json");
  }
  int run(const std::string& args) {
    const std::string cmd = kEric + " preprocess --model " + model_.string() + " " + args + " > " +
                            dir_.file("log.txt") + " 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string log() {
    std::ifstream in(dir_.path() / "log.txt");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Output holds exactly pixel_values and image_grid_thw, equal to the golden.
  void expect_matches(const std::string& out, const std::string& golden, double tol) {
    auto got = SafetensorsFile::open(out);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    auto names = got->names();
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"image_grid_thw", "pixel_values"}));
    auto want = SafetensorsFile::open(kData + "expected.safetensors");
    ASSERT_TRUE(want.ok());
    auto g = got->get("pixel_values");
    auto w = want->get(golden + ".pixel_values");
    ASSERT_TRUE(g.ok() && w.ok());
    ASSERT_EQ(g->shape(), w->shape());
    double max_abs = 0;
    for (int64_t i = 0; i < g->numel(); ++i) {
      max_abs = std::max(max_abs, std::abs(double(g->data<float>()[i]) - double(w->data<float>()[i])));
    }
    EXPECT_LE(max_abs, tol) << golden;
    auto gg = got->get("image_grid_thw");
    auto wg = want->get(golden + ".image_grid_thw");
    ASSERT_TRUE(gg.ok() && wg.ok());
    ASSERT_EQ(gg->dtype(), DType::kI64);
    ASSERT_EQ(gg->shape(), Shape({1, 3}));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(gg->data<int64_t>()[i], wg->data<int64_t>()[i]);
  }

  testing::TempDir dir_{"eric_cli_pp"};
  fs::path model_;
};

TEST_F(CliPreprocessTest, PillowBackendMatchesGolden) {
  const std::string out = dir_.file("odd.safetensors");
  ASSERT_EQ(run("--image " + kData + "odd97x61.png --image-processor-backend pillow --out " + out), 0) << log();
  expect_matches(out, "odd97x61_pixels", 1e-6);
}

TEST_F(CliPreprocessTest, PixelOverridesApply) {
  const std::string out = dir_.file("large.safetensors");
  ASSERT_EQ(run("--image " + kData + "large800x600.png --image-processor-backend pillow --max-pixels 12544 --out " +
                out),
            0)
      << log();
  expect_matches(out, "large_max_override", 1e-6);
}

TEST_F(CliPreprocessTest, DefaultBackendIsTorchvision) {
  const std::string out = dir_.file("tv.safetensors");
  ASSERT_EQ(run("--image file-that-is-not-there.png --out " + out), 1);
  ASSERT_EQ(run("--image " + kData + "large800x600.png --max-pixels 12544 --out " + out), 0) << log();
  // Same grid; values within two uint8 steps of the float64 torchvision restatement.
  auto got = SafetensorsFile::open(out);
  ASSERT_TRUE(got.ok());
  auto want = SafetensorsFile::open(kData + "expected.safetensors");
  auto g = got->get("pixel_values");
  auto w = want->get("large_max_override.pixel_values_torchvision_f64");
  ASSERT_TRUE(g.ok() && w.ok());
  ASSERT_EQ(g->shape(), w->shape());
  double max_abs = 0;
  for (int64_t i = 0; i < g->numel(); ++i) {
    max_abs = std::max(max_abs, std::abs(double(g->data<float>()[i]) - double(w->data<float>()[i])));
  }
  EXPECT_LT(max_abs, 0.031);
}

TEST_F(CliPreprocessTest, BadArgumentsFailClearly) {
  const std::string out = dir_.file("x.safetensors");
  EXPECT_EQ(run("--image " + kData + "odd97x61.png --image-processor-backend opencv --out " + out), 1);
  EXPECT_NE(log().find("opencv"), std::string::npos) << log();
  EXPECT_EQ(run("--image " + kData + "odd97x61.png --min-pixels 9000 --max-pixels 10 --out " + out), 1);
  EXPECT_NE(log().find("min_pixels"), std::string::npos) << log();
  EXPECT_EQ(run("--image gopher://example.com/a.png --out " + out), 1);
  EXPECT_NE(log().find("gopher"), std::string::npos) << log();
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace eric
