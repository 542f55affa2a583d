// The attention softmax's FMA-pipe exponential (backend/cuda/attention_exp2.h)
// on the host: the polynomial and the exponent-bit assembly the kernel runs,
// against std::exp2 in double. Runs without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cuda/attention_exp2.h"

namespace eric::cuda::kernels {
namespace {

double rel_err(float got, double want) { return std::abs(static_cast<double>(got) - want) / want; }

TEST(Exp2Poly, FractionPolynomialWithinItsBoundOnTheUnitInterval) {
  double worst = 0;
  for (int i = 0; i <= 1 << 16; ++i) {
    const float f = static_cast<float>(i) / (1 << 16);
    worst = std::max(worst, rel_err(exp2_fraction_poly(f), std::exp2(static_cast<double>(f))));
  }
  // The Remez fit's bound is 8.6e-5; bf16 rounding of P is 3.9e-3.
  EXPECT_LT(worst, 9e-5);
  EXPECT_GT(worst, 1e-6);  // it is an approximation: exactness here would mean the test checks nothing
  EXPECT_EQ(exp2_fraction_poly(0.0f), 1.0f);
}

TEST(Exp2Poly, WholeRangeOfSoftmaxInputs) {
  // Softmax inputs are <= 0, or <= 8 with lazy rescaling; below 2^-126 the
  // kernels flush to zero.
  double worst = 0;
  for (float x = -125.0f; x <= 8.0f; x += 0.0137f) {
    worst = std::max(worst, rel_err(exp2_poly_host(x), std::exp2(static_cast<double>(x))));
  }
  EXPECT_LT(worst, 9e-5);
  for (int j = -125; j <= 8; ++j) {  // integers: the polynomial's p(0) = 1 makes these exact
    EXPECT_EQ(exp2_poly_host(static_cast<float>(j)), std::exp2(static_cast<float>(j))) << j;
  }
}

TEST(Exp2Poly, MaskedScoresGiveZero) {
  // Keys past a sequence's end score -inf; their weight must vanish.
  EXPECT_LT(exp2_poly_host(-INFINITY), 1e-37f);
  EXPECT_LT(exp2_poly_host(-1000.0f), 1e-37f);
  EXPECT_GE(exp2_poly_host(-INFINITY), 0.0f);
}

TEST(Exp2Poly, ScaleByPowerOfTwoAddsToTheExponent) {
  EXPECT_EQ(scale_by_pow2(1.5f, 3), 12.0f);
  EXPECT_EQ(scale_by_pow2(1.25f, -2), 0.3125f);
  EXPECT_EQ(scale_by_pow2(1.0f, 0), 1.0f);
}

}  // namespace
}  // namespace eric::cuda::kernels
