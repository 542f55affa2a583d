// Element-wise ops against float64 formulas, over a range that reaches the
// saturated tails of every activation.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/ops.h"
#include "reference.h"

namespace eric::cpu {
namespace {

using testing::random_tensor;
using testing::rel_l2;
using testing::to_f64;

// 1000 values spread over [-15, 15] plus edge cases: zero, huge, tiny.
Tensor activation_inputs() {
  std::vector<float> v;
  for (int i = 0; i < 1000; ++i) v.push_back(-15.0f + 30.0f * static_cast<float>(i) / 999.0f);
  for (float f : {0.0f, -0.0f, 1e-7f, -1e-7f, 60.0f, -60.0f, 100.0f, -100.0f, 1e4f, -1e4f}) v.push_back(f);
  return Tensor::from_vector(v, Shape{static_cast<int64_t>(v.size())}).value();  // 1010: not a multiple of 16
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// Element-wise bound |out - ref| <= rtol |ref| + atol, reported at the worst element.
void expect_close(const Tensor& out, const std::vector<double>& in, double (*f)(double), const char* name) {
  std::vector<double> o = to_f64(out);
  std::vector<double> ref(in.size());
  for (size_t i = 0; i < in.size(); ++i) ref[i] = f(in[i]);
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_LE(std::abs(o[i] - ref[i]), 2e-6 * std::abs(ref[i]) + 1e-6)
        << name << "(" << in[i] << ") = " << o[i] << ", expected " << ref[i];
  }
  EXPECT_LT(rel_l2(out, ref), 1e-6) << name;
}

template <typename Op>
void check_activation(Op op, double (*f)(double), const char* name) {
  Tensor x = activation_inputs();
  std::vector<double> in = to_f64(x);
  ASSERT_TRUE(op(x).ok()) << name;
  expect_close(x, in, f, name);
}

TEST(CpuActivation, GeluErf) {
  check_activation(gelu_erf_, [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }, "gelu_erf");
}
TEST(CpuActivation, GeluTanh) {
  check_activation(gelu_tanh_, [](double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  }, "gelu_tanh");
}
TEST(CpuActivation, QuickGelu) {
  check_activation(quick_gelu_, [](double x) { return x * sigmoid(1.702 * x); }, "quick_gelu");
}
TEST(CpuActivation, Silu) {
  check_activation(silu_, [](double x) { return x * sigmoid(x); }, "silu");
}

TEST(CpuActivation, WorksOnMultiRowTensorsBiggerThanOneChunk) {
  Tensor x = random_tensor({300, 257}, 7, 4.0f);  // spans several parallel_for chunks
  std::vector<double> in = to_f64(x);
  ASSERT_TRUE(silu_(x).ok());
  expect_close(x, in, [](double v) { return v * sigmoid(v); }, "silu");
}

TEST(CpuActivation, SiluMul) {
  Tensor gate = random_tensor({7, 45}, 8, 4.0f);
  Tensor up = random_tensor({7, 45}, 9);
  auto out = silu_mul(gate, up);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  std::vector<double> g = to_f64(gate), u = to_f64(up), ref(g.size());
  for (size_t i = 0; i < g.size(); ++i) ref[i] = g[i] * sigmoid(g[i]) * u[i];
  EXPECT_LT(rel_l2(*out, ref), 1e-6);
  EXPECT_LT(testing::max_rel(*out, ref, 1e-6), 1e-5);

  Tensor up_bad = random_tensor({7, 44}, 10);
  auto bad = silu_mul(gate, up_bad);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("[7, 45]"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("[7, 44]"), std::string::npos) << bad.status().message();
}

TEST(CpuActivation, AddAndAddBias) {
  Tensor x = random_tensor({6, 37}, 11);
  Tensor y = random_tensor({6, 37}, 12);
  Tensor b = random_tensor({37}, 13);
  std::vector<double> xr = to_f64(x), yr = to_f64(y), br = to_f64(b);
  ASSERT_TRUE(add_(x, y).ok());
  ASSERT_TRUE(add_bias_(x, b).ok());
  // The same float additions in the same order: exact.
  std::vector<float> ref(xr.size());
  for (size_t i = 0; i < xr.size(); ++i) ref[i] = (static_cast<float>(xr[i]) + static_cast<float>(yr[i])) + static_cast<float>(br[i % 37]);
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(x.data<float>()[i], ref[i]) << i;

  Tensor y_bad = random_tensor({6, 36}, 14);
  Status s = add_(x, y_bad);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[6, 36]"), std::string::npos) << s.message();
  Tensor b_bad = random_tensor({36}, 15);
  s = add_bias_(x, b_bad);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[36]"), std::string::npos) << s.message();
}

TEST(CpuActivation, InPlaceOpsRejectNonContiguousAndWrongDtype) {
  Tensor x = random_tensor({4, 6}, 16);
  Tensor xt = x.transpose(0, 1).value();
  Status s = silu_(xt);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("contiguous"), std::string::npos) << s.message();
  Tensor h = x.to(DType::kBF16).value();
  s = quick_gelu_(h);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bfloat16"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace eric::cpu
