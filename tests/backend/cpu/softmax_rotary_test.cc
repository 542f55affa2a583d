// softmax_ and apply_rotary_ against float64 formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cpu/ops.h"
#include "reference.h"

namespace eric::cpu {
namespace {

using testing::random_tensor;
using testing::rel_l2;
using testing::to_f64;

std::vector<double> reference_softmax(const std::vector<double>& x, int64_t n) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r * n < x.size(); ++r) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[r * n + i]);
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - mx);
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = std::exp(x[r * n + i] - mx) / sum;
  }
  return y;
}

TEST(CpuSoftmax, MatchesReferenceForSharpAndFlatRows) {
  for (int64_t n : {1, 7, 16, 100, 1031}) {
    for (float stddev : {1.0f, 30.0f}) {  // 30: logits in the hundreds, exp would overflow unshifted
      Tensor x = random_tensor({5, n}, 50 + static_cast<uint32_t>(n), stddev);
      auto ref = reference_softmax(to_f64(x), n);
      ASSERT_TRUE(softmax_(x).ok());
      EXPECT_LT(rel_l2(x, ref), 1e-6) << "n=" << n << " stddev=" << stddev;
      std::vector<double> o = to_f64(x);
      for (size_t i = 0; i < o.size(); ++i)
        ASSERT_LE(std::abs(o[i] - ref[i]), 1e-5 * ref[i] + 1e-9) << "n=" << n << " i=" << i;
    }
  }
}

TEST(CpuSoftmax, MaskedEntriesGetZero) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::from_vector(std::vector<float>{1.0f, -inf, 2.0f, -inf, -inf, 0.5f}, Shape{2, 3}).value();
  ASSERT_TRUE(softmax_(x).ok());
  const float* p = x.data<float>();
  EXPECT_EQ(p[1], 0.0f);
  EXPECT_EQ(p[3], 0.0f);
  EXPECT_EQ(p[4], 0.0f);
  EXPECT_FLOAT_EQ(p[5], 1.0f);
  EXPECT_NEAR(p[0], 1.0 / (1.0 + std::exp(1.0)), 1e-7);
}

// x * cos + rotate_half(x) * sin over [tokens, heads, d] (x contiguous here).
std::vector<double> reference_rotary(const std::vector<double>& x, const std::vector<double>& c,
                                     const std::vector<double>& s, int64_t tokens, int64_t heads, int64_t d) {
  std::vector<double> y(x.size());
  const int64_t h = d / 2;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t hd = 0; hd < heads; ++hd)
      for (int64_t i = 0; i < d; ++i) {
        const double* xr = &x[(t * heads + hd) * d];
        const double rot = i < h ? -xr[i + h] : xr[i - h];
        y[(t * heads + hd) * d + i] = xr[i] * c[t * d + i] + rot * s[t * d + i];
      }
  return y;
}

TEST(CpuRotary, MatchesReferenceOnStridedView) {
  const int64_t tokens = 11, heads = 3;
  for (int64_t d : {16, 80}) {
    // q is the first half of a fused [tokens, heads, 2d] tensor: strided.
    Tensor fused = random_tensor({tokens, heads, 2 * d}, 60 + static_cast<uint32_t>(d));
    Tensor q = fused.slice(2, 0, d).value();
    ASSERT_FALSE(q.is_contiguous());
    Tensor angles = random_tensor({tokens, d}, 61, 3.0f);
    std::vector<float> cv, sv;
    for (int64_t i = 0; i < angles.numel(); ++i) {
      cv.push_back(std::cos(angles.data<float>()[i]));
      sv.push_back(std::sin(angles.data<float>()[i]));
    }
    Tensor c = Tensor::from_vector(cv, Shape{tokens, d}).value();
    Tensor s = Tensor::from_vector(sv, Shape{tokens, d}).value();
    Tensor other_half = fused.slice(2, d, 2 * d).value().contiguous().value();
    auto ref = reference_rotary(to_f64(q), to_f64(c), to_f64(s), tokens, heads, d);
    ASSERT_TRUE(apply_rotary_(q, c, s).ok());
    EXPECT_LT(rel_l2(q, ref), 1e-6) << "d=" << d;
    // Values are O(1); near-zero outputs carry the rounding of a*cos - b*sin.
    EXPECT_LT(testing::max_rel(q, ref, 1.0), 1e-6) << "d=" << d;
    // The untouched half of the fused tensor stays as it was.
    EXPECT_EQ(rel_l2(fused.slice(2, d, 2 * d).value(), to_f64(other_half)), 0.0);
  }
}

TEST(CpuRotary, ShapeErrorsNameTheShapes) {
  Tensor x = random_tensor({4, 2, 8}, 70);
  Tensor c = random_tensor({4, 6}, 71);
  Status s = apply_rotary_(x, c, c);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[4, 6]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[4, 8]"), std::string::npos) << s.message();
  Tensor odd = random_tensor({4, 2, 7}, 72);
  Tensor c7 = random_tensor({4, 7}, 73);
  s = apply_rotary_(odd, c7, c7);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[4, 2, 7]"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace eric::cpu
