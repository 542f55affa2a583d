// layer_norm and rms_norm against float64 re-statements of torch's formulas.
#include <gtest/gtest.h>

#include "backend/cpu/ops.h"
#include "reference.h"

namespace eric::cpu {
namespace {

using testing::random_tensor;
using testing::rel_l2;
using testing::to_f64;

std::vector<double> reference_layer_norm(const std::vector<double>& x, const std::vector<double>& g,
                                         const std::vector<double>* b, int64_t n, double eps) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r * n < x.size(); ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[r * n + i];
    mean /= n;
    for (int64_t i = 0; i < n; ++i) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
    var /= n;
    for (int64_t i = 0; i < n; ++i)
      y[r * n + i] = (x[r * n + i] - mean) / std::sqrt(var + eps) * g[i] + (b ? (*b)[i] : 0.0);
  }
  return y;
}

std::vector<double> reference_rms_norm(const std::vector<double>& x, const std::vector<double>& g, int64_t n,
                                       double eps) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r * n < x.size(); ++r) {
    double ms = 0;
    for (int64_t i = 0; i < n; ++i) ms += x[r * n + i] * x[r * n + i];
    ms /= n;
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = x[r * n + i] / std::sqrt(ms + eps) * g[i];
  }
  return y;
}

// Widths cover the scalar tail (1, 15), exact vectors (16, 32), both (33)
// and a real hidden size.
const int64_t kWidths[] = {1, 15, 16, 33, 1280};

TEST(CpuLayerNorm, MatchesReferenceIncludingLargeMeanOffset) {
  for (int64_t n : kWidths) {
    // Mean 50, std 1: the one-pass variance formula would lose ~4 digits
    // here. Two passes leave only the float rounding of the mean itself
    // (~50 * 6e-8 absolute), hence the looser bound for that case.
    for (float mean : {0.0f, 50.0f}) {
      const double tol = mean == 0.0f ? 1e-6 : 5e-6;
      Tensor x = random_tensor({3, 7, n}, 100 + static_cast<uint32_t>(n), 1.0f, mean);
      Tensor g = random_tensor({n}, 200, 0.5f, 1.0f);
      Tensor b = random_tensor({n}, 300);
      auto y = layer_norm(x, g, &b, 1e-6f);
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      EXPECT_EQ(y->shape(), x.shape());
      std::vector<double> gb = to_f64(b);
      auto ref = reference_layer_norm(to_f64(x), to_f64(g), &gb, n, 1e-6);
      // Outputs are O(1): max |err| / (|ref| + 1) bounds the absolute error.
      EXPECT_LT(rel_l2(*y, ref), tol) << "n=" << n << " mean=" << mean;
      EXPECT_LT(testing::max_rel(*y, ref, 1.0), 4 * tol) << "n=" << n << " mean=" << mean;

      auto y2 = layer_norm(x, g, nullptr, 1e-5f);
      ASSERT_TRUE(y2.ok());
      if (n > 1) {  // n == 1 normalises to exactly 0 without beta
        EXPECT_LT(rel_l2(*y2, reference_layer_norm(to_f64(x), to_f64(g), nullptr, n, 1e-5)), tol)
            << "n=" << n << " mean=" << mean;
      }
    }
  }
}

TEST(CpuRmsNorm, MatchesReference) {
  for (int64_t n : kWidths) {
    Tensor x = random_tensor({5, n}, 400 + static_cast<uint32_t>(n), 3.0f, 0.5f);
    Tensor g = random_tensor({n}, 500, 0.5f, 1.0f);
    auto y = rms_norm(x, g, 1e-6f);
    ASSERT_TRUE(y.ok()) << y.status().to_string();
    auto ref = reference_rms_norm(to_f64(x), to_f64(g), n, 1e-6);
    EXPECT_LT(rel_l2(*y, ref), 1e-6) << "n=" << n;
    EXPECT_LT(testing::max_rel(*y, ref, 1.0), 2e-6) << "n=" << n;
  }
}

TEST(CpuNorm, ShapeErrorsNameTheShapes) {
  Tensor x = random_tensor({4, 8}, 1);
  Tensor g = random_tensor({7}, 2);
  auto r = layer_norm(x, g, nullptr, 1e-6f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("[7]"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[8]"), std::string::npos) << r.status().message();

  Tensor g8 = random_tensor({8}, 3);
  Tensor b = random_tensor({2, 4}, 4);
  r = layer_norm(x, g8, &b, 1e-6f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[2, 4]"), std::string::npos) << r.status().message();

  r = rms_norm(x, g, 1e-6f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[7]"), std::string::npos) << r.status().message();

  Tensor xi = Tensor::zeros(DType::kI64, {4, 8}).value();
  r = rms_norm(xi, g8, 1e-6f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("int64"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace eric::cpu
