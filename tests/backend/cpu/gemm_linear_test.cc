// sgemm and linear against float64 products.
#include <gtest/gtest.h>

#include "backend/cpu/ops.h"
#include "reference.h"

namespace eric::cpu {
namespace {

using testing::random_tensor;
using testing::rel_l2;
using testing::to_f64;

// C = alpha op(A) op(B) + beta C in double, row-major with leading dims.
std::vector<double> reference_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                                   const std::vector<double>& a, int64_t lda, const std::vector<double>& b,
                                   int64_t ldb, double beta, std::vector<double> c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = alpha * s + beta * c[i * ldc + j];
    }
  return c;
}

TEST(CpuSgemm, AllTransposesWithPaddedLeadingDims) {
  const int64_t m = 37, n = 23, k = 41;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
      Tensor a = random_tensor({ta ? k : m, lda}, 1);
      Tensor b = random_tensor({tb ? n : k, ldb}, 2);
      Tensor c = random_tensor({m, ldc}, 3);
      std::vector<double> ref = reference_gemm(ta, tb, m, n, k, 0.5, to_f64(a), lda, to_f64(b), ldb, -2.0, to_f64(c), ldc);
      sgemm(ta, tb, m, n, k, 0.5f, a.data<float>(), lda, b.data<float>(), ldb, -2.0f, c.mutable_data<float>(), ldc);
      EXPECT_LT(rel_l2(c, ref), 1e-6) << "trans_a=" << ta << " trans_b=" << tb;
    }
}

TEST(CpuSgemm, ZeroInnerDimensionScalesC) {
  Tensor c = random_tensor({3, 4}, 4);
  std::vector<double> ref;
  for (int64_t i = 0; i < c.numel(); ++i) ref.push_back(c.data<float>()[i] * 3.0f);  // one float rounding
  sgemm(false, false, 3, 4, 0, 1.0f, nullptr, 1, nullptr, 4, 3.0f, c.mutable_data<float>(), 4);
  EXPECT_EQ(rel_l2(c, ref), 0.0);
}

// y = x W^T + b in double, for x [rows, in] and W [out, in].
std::vector<double> reference_linear(const std::vector<double>& x, const std::vector<double>& w,
                                     const std::vector<double>* bias, int64_t rows, int64_t in, int64_t out) {
  std::vector<double> y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = bias ? (*bias)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

TEST(CpuLinear, MatchesReferenceWithBiasAndLeadingDims) {
  Tensor x = random_tensor({2, 5, 33}, 10);
  Tensor w = random_tensor({17, 33}, 11, 0.2f);
  Tensor b = random_tensor({17}, 12);
  auto y = linear(x, w, &b);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_EQ(y->shape(), (Shape{2, 5, 17}));
  std::vector<double> bias = to_f64(b);
  EXPECT_LT(rel_l2(*y, reference_linear(to_f64(x), to_f64(w), &bias, 10, 33, 17)), 1e-6);

  auto y2 = linear(x, w, nullptr);
  ASSERT_TRUE(y2.ok());
  EXPECT_LT(rel_l2(*y2, reference_linear(to_f64(x), to_f64(w), nullptr, 10, 33, 17)), 1e-6);
}

TEST(CpuLinear, HalfPrecisionWeightsAreWidenedExactly) {
  Tensor x = random_tensor({9, 40}, 20);
  Tensor w32 = random_tensor({24, 40}, 21, 0.1f);
  for (DType dt : {DType::kBF16, DType::kF16}) {
    Tensor w = w32.to(dt).value();
    // The reference uses the rounded weights, widened: only the GEMM's own
    // rounding may differ.
    std::vector<double> wr = to_f64(w.to(DType::kF32).value());
    auto y = linear(x, w, nullptr);
    ASSERT_TRUE(y.ok()) << y.status().to_string();
    EXPECT_LT(rel_l2(*y, reference_linear(to_f64(x), wr, nullptr, 9, 40, 24)), 1e-6) << dtype_name(dt);
  }
}

TEST(CpuLinear, NonContiguousInputAndOutParameter) {
  Tensor xt = random_tensor({40, 9}, 30);
  Tensor x = xt.transpose(0, 1).value();  // [9, 40], strided
  Tensor w = random_tensor({8, 40}, 31);
  Tensor out = Tensor::empty(DType::kF32, {9, 8}).value();
  ASSERT_TRUE(linear_out(x, w, nullptr, out).ok());
  EXPECT_LT(rel_l2(out, reference_linear(to_f64(x), to_f64(w), nullptr, 9, 40, 8)), 1e-6);
}

TEST(CpuLinear, ShapeAndDtypeErrorsNameTheShapes) {
  Tensor x = random_tensor({4, 33}, 40);
  Tensor w = random_tensor({17, 32}, 41);
  auto r = linear(x, w, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("[4, 33]"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[17, 32]"), std::string::npos) << r.status().message();

  Tensor w2 = random_tensor({17, 33}, 42);
  Tensor bad_bias = random_tensor({16}, 43);
  r = linear(x, w2, &bad_bias);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[16]"), std::string::npos) << r.status().message();

  Tensor wi = Tensor::zeros(DType::kI32, {17, 33}).value();
  r = linear(x, wi, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("int32"), std::string::npos) << r.status().message();

  Tensor wrong_out = Tensor::empty(DType::kF32, {4, 16}).value();
  Status s = linear_out(x, w2, nullptr, wrong_out);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[4, 16]"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace eric::cpu
