// Every image in tests/data/media/decode/ must decode to exactly the pixels
// Pillow's Image.open(f).convert("RGB") gave (the .rgb next to it, written by
// tools/reference/make_decode_goldens.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "media/format_decoders.h"
#include "media/image_decoder.h"
#include "../common/read_file.h"

namespace eric::media {
namespace {

// ERIC_DECODE_GOLDEN_DIR points the test at another set made by the same
// script (--out DIR --files ...), for differential runs on arbitrary images.
const std::string kDir = std::getenv("ERIC_DECODE_GOLDEN_DIR") != nullptr
                             ? std::string(std::getenv("ERIC_DECODE_GOLDEN_DIR")) + "/"
                             : std::string(ERIC_SOURCE_DIR) + "/tests/data/media/decode/";

using eric::testing::read_file;

struct Golden {
  std::string name, file;
  int width = 0, height = 0;
};

std::vector<Golden> load_manifest() {
  std::vector<Golden> out;
  std::ifstream in(kDir + "manifest.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Golden g;
    fields >> g.name >> g.file >> g.width >> g.height;
    out.push_back(g);
  }
  return out;
}

class DecodeGolden : public ::testing::TestWithParam<Golden> {};

TEST_P(DecodeGolden, MatchesPillowBitExactly) {
  const Golden& g = GetParam();
  const std::string encoded = read_file(kDir + g.file);
  ASSERT_FALSE(encoded.empty()) << g.file;
  auto image = decode_image(encoded);
  if (g.width == 0) {  // Pillow refuses this file
    EXPECT_FALSE(image.ok()) << g.file << ": Pillow refuses it, eric decoded " << image->width << "x" << image->height;
    return;
  }
  const std::string expected = read_file(kDir + g.name + ".rgb");
  ASSERT_EQ(expected.size(), static_cast<size_t>(g.width) * g.height * 3) << g.name;

  ASSERT_TRUE(image.ok()) << g.file << ": " << image.status().to_string();
  ASSERT_EQ(image->width, g.width) << g.file;
  ASSERT_EQ(image->height, g.height) << g.file;
  ASSERT_EQ(image->pixels.size(), expected.size());
  size_t mismatches = 0, first = expected.size();
  int max_diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const int diff = std::abs(int(image->pixels[i]) - int(static_cast<uint8_t>(expected[i])));
    if (diff != 0) {
      if (first == expected.size()) first = i;
      ++mismatches;
      max_diff = std::max(max_diff, diff);
    }
  }
  EXPECT_EQ(mismatches, 0u) << g.file << ": " << mismatches << " of " << expected.size()
                            << " samples differ (max " << max_diff << "), first at pixel " << first / 3 << " ("
                            << (first / 3) % g.width << "," << (first / 3) / g.width << ")";
}

INSTANTIATE_TEST_SUITE_P(Pillow, DecodeGolden, ::testing::ValuesIn(load_manifest()),
                         [](const ::testing::TestParamInfo<Golden>& info) { return info.param.name; });

TEST(DecodeGoldenSet, CoversEveryFormat) {
  int counts[6] = {0};
  for (const Golden& g : load_manifest()) {
    counts[static_cast<int>(detect_image_format(read_file(kDir + g.file)))]++;
  }
  EXPECT_EQ(counts[static_cast<int>(ImageFormat::kUnknown)], 0);
  for (auto f : {ImageFormat::kJpeg, ImageFormat::kPng, ImageFormat::kWebp, ImageFormat::kGif, ImageFormat::kBmp}) {
    EXPECT_GE(counts[static_cast<int>(f)], 5) << image_format_name(f);
  }
}

}  // namespace
}  // namespace eric::media
