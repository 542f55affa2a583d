// eric's Qwen2-VL image processor against tools/reference/qwen2_vl_image_processor.py
// (a restatement of transformers' Qwen2VLImageProcessor on Debian's Pillow/numpy):
// the Pillow backend must match pixel_values within 1e-6 and the grid exactly;
// the torchvision backend is compared with a float64 restatement of the fast
// processor (uint8 between passes, as PyTorch's CPU kernel), which it may
// differ from by one or two uint8 steps in a few pixels.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "media/image_decoder.h"
#include "models/qwen2_vl/image_processor.h"
#include "models/qwen2_vl/smart_resize.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric::models {
namespace {

const std::string kDir = std::string(ERIC_SOURCE_DIR) + "/tests/data/models/qwen2_vl_processor/";

using eric::testing::read_file;

std::unique_ptr<ModalityProcessor> make_processor(const std::string& config_file, const std::string& model_type) {
  ModelConfig mc;
  mc.dir = kDir;
  mc.model_type = model_type;
  mc.preprocessor_config = nlohmann::json::parse(read_file(kDir + config_file));
  auto p = make_qwen2_vl_image_processor(mc);
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  return p.ok() ? std::move(*p) : nullptr;
}

struct Deviation {
  double max_abs = 0;
  int64_t differing = 0;  // values off by more than 1e-6
};

Deviation compare(const Tensor& got, const Tensor& want) {
  Deviation d;
  const float* g = got.data<float>();
  const float* w = want.data<float>();
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double e = std::abs(double(g[i]) - double(w[i]));
    d.max_abs = std::max(d.max_abs, e);
    if (e > 1e-6) ++d.differing;
  }
  return d;
}

TEST(Qwen2VLProcessorTest, MatchesTransformersReference) {
  const auto manifest = nlohmann::json::parse(read_file(kDir + "cases.json"));
  auto expected = SafetensorsFile::open(kDir + "expected.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  int checked = 0;
  for (const auto& c : manifest["cases"]) {
    const std::string name = c["name"];
    auto image = media::decode_image(read_file(kDir + c["source"].get<std::string>()));
    ASSERT_TRUE(image.ok()) << name << ": " << image.status().to_string();
    for (const char* model_type : {"qwen2_vl", "qwen2_5_vl"}) {
      auto processor = make_processor(c["config"], model_type);
      ASSERT_NE(processor, nullptr);
      ProcessorOptions options;
      if (!c["min_pixels"].is_null()) options.min_pixels = c["min_pixels"].get<int64_t>();
      if (!c["max_pixels"].is_null()) options.max_pixels = c["max_pixels"].get<int64_t>();

      options.backend = ImageProcessorBackend::kPillow;
      auto item = processor->process_image(*image, options);
      ASSERT_TRUE(item.ok()) << name << ": " << item.status().to_string();
      ASSERT_EQ(item->tensors.size(), 2u);
      const Tensor* pv = item->find("pixel_values");
      const Tensor* grid = item->find("image_grid_thw");
      ASSERT_NE(pv, nullptr);
      ASSERT_NE(grid, nullptr);
      auto want_pv = expected->get(name + ".pixel_values");
      auto want_grid = expected->get(name + ".image_grid_thw");
      ASSERT_TRUE(want_pv.ok() && want_grid.ok()) << name;
      ASSERT_EQ(pv->shape(), want_pv->shape()) << name;
      ASSERT_EQ(grid->dtype(), DType::kI64);
      ASSERT_EQ(grid->shape(), Shape({1, 3}));
      for (int i = 0; i < 3; ++i) EXPECT_EQ(grid->data<int64_t>()[i], want_grid->data<int64_t>()[i]) << name;
      const int64_t* g = grid->data<int64_t>();
      EXPECT_EQ(item->num_tokens, g[0] * g[1] * g[2] / 4) << name;
      const Deviation pil = compare(*pv, *want_pv);
      EXPECT_LE(pil.max_abs, 1e-6) << name << " (pillow backend)";
      std::printf("[pillow vs transformers restatement] %s (%s): max |diff| %.3g\n", name.c_str(), model_type,
                  pil.max_abs);

      if (c["torchvision"].get<bool>()) {
        options.backend = ImageProcessorBackend::kTorchvision;
        auto tv = processor->process_image(*image, options);
        ASSERT_TRUE(tv.ok()) << name << ": " << tv.status().to_string();
        auto want_tv = expected->get(name + ".pixel_values_torchvision_f64");
        ASSERT_TRUE(want_tv.ok());
        ASSERT_EQ(tv->find("pixel_values")->shape(), want_tv->shape());
        const Deviation d = compare(*tv->find("pixel_values"), *want_tv);
        // eric rounds weights to int16 as PyTorch's uint8 kernel does; the
        // reference keeps them in float64. Each of the two passes may land one
        // uint8 step apart at rounding ties, so at most two steps, i.e.
        // 2 / (255 * std) < 0.031 after normalisation, in a few values.
        EXPECT_LT(d.max_abs, 0.031) << name;
        EXPECT_LT(double(d.differing), 0.02 * double(want_tv->numel())) << name;
        std::printf("[torchvision vs float64 restatement] %s: max |diff| %.3g, %lld of %lld values differ\n",
                    name.c_str(), d.max_abs, static_cast<long long>(d.differing),
                    static_cast<long long>(want_tv->numel()));
        // The default backend for these models is torchvision.
        options.backend = ImageProcessorBackend::kDefault;
        auto def = processor->process_image(*image, options);
        ASSERT_TRUE(def.ok());
        EXPECT_EQ(compare(*def->find("pixel_values"), *tv->find("pixel_values")).max_abs, 0.0);
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(Qwen2VLProcessorTest, SmartResizeFollowsTransformers) {
  using qwen2_vl::smart_resize;
  auto r = smart_resize(1080, 1920, 28, 3136, 12845056);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->height, 1092);
  EXPECT_EQ(r->width, 1932);
  // round(42 / 28) = round(1.5) = 2 (half to even), round(70 / 28) = round(2.5) = 2.
  r = smart_resize(42, 70, 28, 1, 1 << 30);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->height, 56);
  EXPECT_EQ(r->width, 56);
  // Too many pixels: floor after dividing by beta, never below one factor.
  r = smart_resize(20, 3000, 28, 3136, 12544);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->height, 28);
  EXPECT_EQ(r->width % 28, 0);
  // Too few: ceil.
  r = smart_resize(1, 1, 28, 3136, 12845056);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->height, 56);
  EXPECT_EQ(r->width, 56);
  EXPECT_FALSE(smart_resize(10, 2011, 28, 3136, 12845056).ok());  // 201:1
  EXPECT_TRUE(smart_resize(10, 2000, 28, 3136, 12845056).ok());   // 200:1 is allowed
  EXPECT_FALSE(smart_resize(0, 10, 28, 3136, 12845056).ok());
}

TEST(Qwen2VLProcessorTest, ValidatesOverridesAndConfig) {
  auto processor = make_processor("preprocessor_config_pixels.json", "qwen2_vl");
  ASSERT_NE(processor, nullptr);
  media::RgbImage image(56, 56);
  ProcessorOptions bad;
  bad.min_pixels = 0;
  EXPECT_EQ(processor->process_image(image, bad).status().code(), ErrorCode::kInvalidArgument);
  bad.min_pixels = 100000;
  bad.max_pixels = 5000;
  EXPECT_EQ(processor->process_image(image, bad).status().code(), ErrorCode::kInvalidArgument);
  bad = {};
  bad.min_pixels = int64_t{1} << 30;  // would resize to a gigapixel image
  bad.max_pixels = int64_t{1} << 31;
  EXPECT_EQ(processor->process_image(image, bad).status().code(), ErrorCode::kInvalidArgument);
  bad = {};
  bad.max_pixels = -3;
  EXPECT_EQ(processor->process_image(image, bad).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(processor->process_image(media::RgbImage(), {}).ok());

  ModelConfig mc;
  mc.preprocessor_config = nlohmann::json::parse(R"({"size": {"height": 224, "width": 224}})");
  EXPECT_FALSE(make_qwen2_vl_image_processor(mc).ok());
  mc.preprocessor_config = nlohmann::json::parse(R"({"resample": 9})");
  EXPECT_FALSE(make_qwen2_vl_image_processor(mc).ok());
  mc.preprocessor_config = nlohmann::json::parse(R"({"min_pixels": 5000, "max_pixels": 100})");
  EXPECT_FALSE(make_qwen2_vl_image_processor(mc).ok());
  mc.preprocessor_config = nlohmann::json::parse(R"({"image_mean": [0.5, 0.5]})");
  EXPECT_FALSE(make_qwen2_vl_image_processor(mc).ok());
  // Older configs without any size keys get transformers' defaults.
  mc.preprocessor_config = nlohmann::json::object();
  auto p = make_qwen2_vl_image_processor(mc);
  ASSERT_TRUE(p.ok());
  auto item = (*p)->process_image(media::RgbImage(1000, 1000), {});
  ASSERT_TRUE(item.ok());
  // 1000x1000 rounds to 1008x1008, above the default max_pixels 28*28*1280,
  // so floor(1000 / beta / 28) * 28 = 980: 70x70 patches, 1225 tokens.
  EXPECT_EQ(item->find("image_grid_thw")->data<int64_t>()[1], 70);
  EXPECT_EQ(item->num_tokens, 70 * 70 / 4);
}

}  // namespace
}  // namespace eric::models
