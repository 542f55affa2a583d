// Bit-exactness of eric's resampler against Pillow 9.4 on the goldens made by
// tools/reference/make_resample_goldens.py (every filter; up, down, one-axis,
// odd, tiny and extreme-aspect sizes).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "media/image_decoder.h"
#include "media/resample.h"
#include "media/resample_coeffs.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric::media {
namespace {

const std::string kDir = std::string(ERIC_SOURCE_DIR) + "/tests/data/media/resample/";

using eric::testing::read_file;

RgbImage load_png(const std::string& name) {
  auto img = decode_image(read_file(kDir + name));
  EXPECT_TRUE(img.ok()) << name << ": " << img.status().to_string();
  return img.ok() ? *img : RgbImage();
}

TEST(ResampleTest, BitExactWithPillowOnEveryGolden) {
  const auto manifest = nlohmann::json::parse(read_file(kDir + "cases.json"));
  auto expected = SafetensorsFile::open(kDir + "expected.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  std::map<std::string, RgbImage> sources;
  int checked = 0;
  for (const auto& c : manifest["cases"]) {
    const std::string name = c["name"];
    const std::string source = c["source"];
    if (!sources.count(source)) sources[source] = load_png(source);
    auto filter = resample_filter_from_pillow(c["pillow_filter"].get<int>());
    ASSERT_TRUE(filter.ok());
    auto out = resize_pillow(sources[source], c["width"], c["height"], *filter);
    ASSERT_TRUE(out.ok()) << name << ": " << out.status().to_string();
    auto want = expected->get(name);
    ASSERT_TRUE(want.ok()) << name;
    ASSERT_EQ(want->numel(), static_cast<int64_t>(out->pixels.size())) << name;
    const uint8_t* w = want->data<uint8_t>();
    int mismatches = 0, first = -1;
    for (size_t i = 0; i < out->pixels.size(); ++i) {
      if (out->pixels[i] != w[i]) {
        if (first < 0) first = static_cast<int>(i);
        ++mismatches;
      }
    }
    EXPECT_EQ(mismatches, 0) << name << ": first mismatch at byte " << first << " (eric "
                             << (first >= 0 ? int(out->pixels[first]) : 0) << ", Pillow "
                             << (first >= 0 ? int(w[first]) : 0) << ")";
    ++checked;
  }
  EXPECT_GE(checked, 40);
}

TEST(ResampleTest, SameSizeIsACopy) {
  RgbImage img(3, 2);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 13);
  for (int f = 0; f <= 5; ++f) {
    auto out = resize_pillow(img, 3, 2, static_cast<ResampleFilter>(f));
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->pixels, img.pixels);
  }
}

TEST(ResampleTest, RejectsBadSizesAndFilters) {
  RgbImage img(4, 4);
  EXPECT_FALSE(resize_pillow(img, 0, 4, ResampleFilter::kBicubic).ok());
  EXPECT_FALSE(resize_pillow(img, 4, -1, ResampleFilter::kBicubic).ok());
  EXPECT_FALSE(resize_pillow(RgbImage(), 4, 4, ResampleFilter::kBicubic).ok());
  EXPECT_FALSE(resample_filter_from_pillow(6).ok());
  EXPECT_FALSE(resample_filter_from_pillow(-1).ok());
  auto lanczos = resize_torchvision_aa(img, 2, 2, ResampleFilter::kLanczos);
  EXPECT_EQ(lanczos.status().code(), ErrorCode::kUnimplemented);
}

// Pillow's 22-bit weights of one output pixel sum to 1.0 within rounding.
TEST(ResampleTest, PillowCoefficientsAreNormalised) {
  for (auto f : {ResampleFilter::kBilinear, ResampleFilter::kBicubic, ResampleFilter::kLanczos,
                 ResampleFilter::kBox, ResampleFilter::kHamming}) {
    auto c = detail::pillow_coeffs(1000, 37, f);
    for (int i = 0; i < 37; ++i) {
      int64_t sum = 0;
      for (int j = 0; j < c.size[i]; ++j) sum += c.weights[static_cast<size_t>(i) * c.ksize + j];
      EXPECT_NEAR(static_cast<double>(sum), double(1 << 22), c.size[i]) << resample_filter_name(f) << " " << i;
    }
  }
}

// The torchvision (int16) weights use the most bits that keep twice the
// largest weight, rounded, below 2^15 (PyTorch's rule), at most 22.
TEST(ResampleTest, TorchWeightsFitInt16) {
  for (auto [in, out] : {std::pair{100, 37}, std::pair{37, 100}, std::pair{1920, 1932}, std::pair{5000, 7}}) {
    auto c = detail::torch_aa_int16_coeffs(in, out, ResampleFilter::kBicubic);
    int32_t max_w = 0;
    for (int32_t w : c.weights) max_w = std::max(max_w, w);
    EXPECT_LT(max_w, 1 << 15) << in << "->" << out;
    // One more bit would overflow int16 (unless capped at 22 bits).
    if (c.precision < 22) {
      EXPECT_GE(2 * max_w + 1, 1 << 15) << in << "->" << out;
    }
    EXPECT_LE(c.precision, 22);
  }
}

}  // namespace
}  // namespace eric::media
