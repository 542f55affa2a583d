#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace eric {
namespace {

float from_bits(uint32_t u) { return f32_from_bits(u); }

TEST(BF16Test, KnownValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(3.140625f), 0x4049);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
}

TEST(BF16Test, RoundToNearestTiesToEven) {
  // 1 + 2^-8 is exactly halfway between bf16 1.0 (0x3f80) and 1.0078125 (0x3f81): ties to even -> 0x3f80.
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808000)), 0x3f80);
  // Halfway above an odd mantissa rounds up to even.
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f818000)), 0x3f82);
  // Just above halfway rounds up, just below rounds down.
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808001)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f807fff)), 0x3f80);
  // Rounding carries into the exponent.
  EXPECT_EQ(f32_to_bf16(from_bits(0x3fffffff)), 0x4000);
}

TEST(BF16Test, InfNanSubnormal) {
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // Largest finite f32 rounds to +Inf in bf16 (as torch does).
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  // NaN stays NaN, including a NaN whose payload sits only in the low bits.
  uint16_t n1 = f32_to_bf16(from_bits(0x7fc00000));
  uint16_t n2 = f32_to_bf16(from_bits(0x7f800001));
  uint16_t n3 = f32_to_bf16(from_bits(0xffc00000));
  EXPECT_TRUE(std::isnan(bf16_to_f32(n1)));
  EXPECT_TRUE(std::isnan(bf16_to_f32(n2)));
  EXPECT_TRUE(std::isnan(bf16_to_f32(n3)));
  EXPECT_EQ(n3 & 0x8000, 0x8000);
  // Subnormals: f32 subnormal 0x00010000 is exactly bf16 0x0001.
  EXPECT_EQ(f32_to_bf16(from_bits(0x00010000)), 0x0001);
  EXPECT_EQ(bf16_to_f32(0x0001), from_bits(0x00010000));
  EXPECT_EQ(f32_to_bf16(from_bits(0x00008000)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(f32_to_bf16(from_bits(0x00018000)), 0x0002);  // tie -> even (2)
}

TEST(BF16Test, RoundTripAllBf16Values) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
}

TEST(F16Test, KnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);       // max finite
  EXPECT_EQ(f32_to_f16(0.5f), 0x3800);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
}

TEST(F16Test, OverflowAndInfNan) {
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);  // below the rounding boundary
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);    // ties to even -> Inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(from_bits(0x7f800001)))));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));
}

TEST(F16Test, SubnormalsAndTies) {
  const float tiny = std::ldexp(1.0f, -24);  // smallest f16 subnormal
  EXPECT_EQ(f32_to_f16(tiny), 0x0001);
  EXPECT_EQ(f16_to_f32(0x0001), tiny);
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);      // half of tiny: tie -> even 0
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);      // 1.5 tiny: tie -> even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);      // smallest normal
  // 1 + 2^-11 is halfway between 1 and 1+2^-10: ties to even -> 1.0
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
}

TEST(F16Test, RoundTripAllF16Values) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(F16Test, MatchesDoubleRoundingOnSweep) {
  // Every f32 in a wide sweep converts to the f16 nearest in value.
  for (uint32_t u = 0x33000000; u < 0x477fe000; u += 997) {
    float f = from_bits(u);
    uint16_t h = f32_to_f16(f);
    double got = f16_to_f32(h);
    double up = h < 0x7bff ? f16_to_f32(static_cast<uint16_t>(h + 1)) : got;
    double down = h > 0 ? f16_to_f32(static_cast<uint16_t>(h - 1)) : got;
    ASSERT_LE(std::fabs(got - f), std::fabs(up - f)) << std::hex << u;
    ASSERT_LE(std::fabs(got - f), std::fabs(down - f)) << std::hex << u;
  }
}

TEST(DTypeTest, NamesAndSizes) {
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI64), 8u);
  EXPECT_EQ(*dtype_from_safetensors_name("BF16"), DType::kBF16);
  EXPECT_FALSE(dtype_from_safetensors_name("F64").ok());
  EXPECT_EQ(*dtype_from_string("bf16"), DType::kBF16);
  EXPECT_FALSE(dtype_from_string("int4").ok());
}

TEST(DTypeTest, ConvertElements) {
  float src[3] = {1.5f, -2.25f, 3.0f};
  uint16_t bf[3];
  ASSERT_TRUE(convert_elements(src, DType::kF32, bf, DType::kBF16, 3).ok());
  float back[3];
  ASSERT_TRUE(convert_elements(bf, DType::kBF16, back, DType::kF32, 3).ok());
  EXPECT_EQ(back[1], -2.25f);
  int64_t big[2] = {(int64_t(1) << 53) + 1, -7};
  int32_t i32[2];
  ASSERT_TRUE(convert_elements(big, DType::kI64, i32, DType::kI32, 2).ok());
  EXPECT_EQ(i32[1], -7);
  int64_t back64[2];
  ASSERT_TRUE(convert_elements(i32, DType::kI32, back64, DType::kI64, 2).ok());
  EXPECT_EQ(back64[1], -7);
}

}  // namespace
}  // namespace eric
