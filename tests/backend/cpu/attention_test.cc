// varlen_attention against materialised float64 softmax attention.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "backend/cpu/ops.h"
#include "reference.h"

namespace eric::cpu {
namespace {

using testing::random_tensor;
using testing::rel_l2;
using testing::to_f64;

struct Case {
  std::vector<int64_t> cu_seqlens;
  int64_t heads, head_dim;
  float qk_stddev;  // large values make the running max move between key tiles
};

void run_case(const Case& c, uint32_t seed) {
  const int64_t tokens = c.cu_seqlens.back();
  Tensor q = random_tensor({tokens, c.heads, c.head_dim}, seed, c.qk_stddev);
  Tensor k = random_tensor({tokens, c.heads, c.head_dim}, seed + 1, c.qk_stddev);
  Tensor v = random_tensor({tokens, c.heads, c.head_dim}, seed + 2);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  auto out = varlen_attention(q, k, v, c.cu_seqlens, scale);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->shape(), q.shape());
  auto ref = testing::reference_attention(to_f64(q), to_f64(k), to_f64(v), c.heads, c.head_dim, c.cu_seqlens, scale);
  double ref_max = 0;
  for (double r : ref) ref_max = std::max(ref_max, std::abs(r));
  std::string what = "tokens=" + std::to_string(tokens) + " heads=" + std::to_string(c.heads) +
                     " d=" + std::to_string(c.head_dim) + " stddev=" + std::to_string(c.qk_stddev);
  EXPECT_LT(rel_l2(*out, ref), 1e-5) << what;
  EXPECT_LT(testing::max_rel(*out, ref, ref_max), 1e-5) << what;  // max |err| / max |ref|, roughly
}

TEST(CpuAttention, SingleSequencesOfAwkwardLengths) {
  uint32_t seed = 1000;
  for (int64_t len : {1, 2, 37, 64, 65, 130}) {
    for (int64_t d : {64, 80, 128}) run_case({{0, len}, 2, d, 1.0f}, seed += 3);
  }
}

TEST(CpuAttention, OddHeadDims) {
  uint32_t seed = 2000;
  for (int64_t d : {1, 8, 20, 72}) run_case({{0, 70}, 3, d, 1.0f}, seed += 3);
}

TEST(CpuAttention, SharpScoresAcrossManyKeyTiles) {
  run_case({{0, 300}, 2, 80, 4.0f}, 3000);
}

TEST(CpuAttention, ManySequencesOfDifferentLengths) {
  // Includes empty and single-token sequences; tokens attend only inside
  // their own sequence, which the per-sequence reference checks.
  run_case({{0, 5, 5, 200, 201, 330, 394}, 4, 80, 1.0f}, 4000);
}

TEST(CpuAttention, StridedQkvFromFusedProjection) {
  const int64_t tokens = 90, heads = 2, d = 64;
  Tensor fused = random_tensor({tokens, heads, 3 * d}, 5000);
  Tensor q = fused.slice(2, 0, d).value(), k = fused.slice(2, d, 2 * d).value(), v = fused.slice(2, 2 * d, 3 * d).value();
  std::vector<int64_t> cu{0, 50, 90};
  auto out = varlen_attention(q, k, v, cu, 0.125f);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  auto ref = testing::reference_attention(to_f64(q), to_f64(k), to_f64(v), heads, d, cu, 0.125);
  EXPECT_LT(rel_l2(*out, ref), 1e-5);
}

// A 16k-token sequence: runs in O(tile) scratch. Only a sample of query rows
// is checked, against a float64 reference restricted to those rows.
TEST(CpuAttention, SixteenThousandTokens) {
  const int64_t tokens = 16384, heads = 1, d = 8;
  const float scale = 0.35f;
  Tensor q = random_tensor({tokens, heads, d}, 6000);
  Tensor k = random_tensor({tokens, heads, d}, 6001);
  Tensor v = random_tensor({tokens, heads, d}, 6002);
  auto out = varlen_attention(q, k, v, {0, tokens}, scale);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const float *pq = q.data<float>(), *pk = k.data<float>(), *pv = v.data<float>(), *po = out->data<float>();
  double num = 0, den = 0;
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{4097}, int64_t{9999}, tokens - 1}) {
    std::vector<double> s(tokens);
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < tokens; ++j) {
      double dot = 0;
      for (int64_t x = 0; x < d; ++x) dot += double(pq[i * d + x]) * pk[j * d + x];
      mx = std::max(mx, s[j] = dot * scale);
    }
    for (double& sj : s) sum += (sj = std::exp(sj - mx));
    for (int64_t x = 0; x < d; ++x) {
      double r = 0;
      for (int64_t j = 0; j < tokens; ++j) r += s[j] / sum * pv[j * d + x];
      num += (po[i * d + x] - r) * (po[i * d + x] - r);
      den += r * r;
    }
  }
  EXPECT_LT(std::sqrt(num / den), 1e-5);
}

TEST(CpuAttention, ArgumentErrorsNameTheProblem) {
  Tensor q = random_tensor({10, 2, 8}, 1);
  Tensor k_bad = random_tensor({10, 2, 16}, 2);
  auto r = varlen_attention(q, k_bad, q, {0, 10}, 1.0f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("[10, 2, 16]"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[10, 2, 8]"), std::string::npos) << r.status().message();

  r = varlen_attention(q, q, q, {0, 9}, 1.0f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ends at 9"), std::string::npos) << r.status().message();
  r = varlen_attention(q, q, q, {0, 6, 4, 10}, 1.0f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decreases"), std::string::npos) << r.status().message();
  r = varlen_attention(q, q, q, {1, 10}, 1.0f);
  ASSERT_FALSE(r.ok());
  r = varlen_attention(q, q, q, {}, 1.0f);
  ASSERT_FALSE(r.ok());

  Tensor q2 = random_tensor({10, 16}, 3);
  r = varlen_attention(q2, q2, q2, {0, 10}, 1.0f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[10, 16]"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace eric::cpu
