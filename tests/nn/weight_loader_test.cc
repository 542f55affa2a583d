#include <gtest/gtest.h>

#include "nn/linear.h"
#include "nn/weight_loader.h"
#include "tensor/dtype.h"

namespace eric::nn {
namespace {

Tensor filled(DType dt, Shape shape, float v = 0.5f) {
  Tensor t = Tensor::empty(DType::kF32, shape).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = v + 0.01f * static_cast<float>(i);
  return dt == DType::kF32 ? t : t.to(dt).value();
}

TEST(WeightLoader, LoadsAndConvertsHalfPrecision) {
  WeightMap w;
  w["fc.weight"] = filled(DType::kBF16, {3, 2});
  w["fc.bias"] = filled(DType::kF16, {3});
  WeightLoader loader(w);
  Linear l = Linear::load(loader, "fc", 2, 3, true);
  ASSERT_TRUE(loader.finish().ok()) << loader.finish().message();
  EXPECT_EQ(l.weight().dtype(), DType::kF32);
  EXPECT_EQ(l.bias().dtype(), DType::kF32);
  EXPECT_FLOAT_EQ(l.weight().data<float>()[1], bf16_to_f32(f32_to_bf16(0.51f)));
  EXPECT_FLOAT_EQ(l.bias().data<float>()[2], f16_to_f32(f32_to_f16(0.52f)));
}

TEST(WeightLoader, ReportsMissingTensorByName) {
  WeightMap w;
  w["fc.weight"] = filled(DType::kF32, {3, 2});
  WeightLoader loader(w, "visual.");
  Linear::load(loader, "fc", 2, 3, true);
  Status st = loader.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("visual.fc.bias: missing"), std::string::npos) << st.message();
}

TEST(WeightLoader, ReportsWrongShapeByName) {
  WeightMap w;
  w["blocks.3.attn.qkv.weight"] = filled(DType::kF32, {1280, 1280});
  WeightLoader loader(w);
  loader.take("blocks.3.attn.qkv.weight", Shape{3840, 1280});
  Status st = loader.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("blocks.3.attn.qkv.weight: expected shape [3840, 1280], got [1280, 1280]"),
            std::string::npos)
      << st.message();
}

TEST(WeightLoader, ReportsWrongDtypeByName) {
  WeightMap w;
  w["norm.weight"] = Tensor::zeros(DType::kI64, {4}).value();
  WeightLoader loader(w);
  loader.take("norm.weight", Shape{4});
  Status st = loader.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("norm.weight: expected a float dtype"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("int64"), std::string::npos) << st.message();
}

TEST(WeightLoader, ReportsUnexpectedTensorsAndAllProblemsAtOnce) {
  WeightMap w;
  w["a.weight"] = filled(DType::kF32, {2});
  w["stray.weight"] = filled(DType::kF32, {2});
  WeightLoader loader(w);
  loader.take("a.weight", Shape{3});
  loader.take("b.weight", Shape{2});
  Status st = loader.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("a.weight: expected shape [3], got [2]"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("b.weight: missing"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("stray.weight: unexpected tensor"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("3 problems"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace eric::nn
