// The op accounting: nothing is recorded while disabled; when enabled each
// instrumented op adds one call, its time and its FLOPs to its kind.
#include "backend/cpu/op_profile.h"

#include <gtest/gtest.h>

#include <vector>

#include "backend/cpu/ops.h"

namespace eric::cpu {
namespace {

class OpProfileTest : public ::testing::Test {
 protected:
  void SetUp() override { profile::reset(); }
  void TearDown() override {
    profile::set_enabled(false);
    profile::reset();
  }
};

void small_sgemm(int64_t m, int64_t n, int64_t k) {
  std::vector<float> a(static_cast<size_t>(m * k), 1.0f), b(static_cast<size_t>(k * n), 1.0f),
      c(static_cast<size_t>(m * n));
  sgemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  ASSERT_FLOAT_EQ(c[0], static_cast<float>(k));
}

TEST_F(OpProfileTest, DisabledRecordsNothing) {
  ASSERT_FALSE(profile::enabled());
  small_sgemm(4, 5, 6);
  for (const auto& t : profile::snapshot()) EXPECT_EQ(t.calls, 0);
}

TEST_F(OpProfileTest, CountsCallsAndFlopsPerKind) {
  profile::set_enabled(true);
  small_sgemm(4, 5, 6);
  small_sgemm(2, 3, 7);
  Tensor x = Tensor::empty(DType::kF32, {3, 8}).value();
  for (int64_t i = 0; i < x.numel(); ++i) x.mutable_data<float>()[i] = static_cast<float>(i);
  ASSERT_TRUE(silu_(x).ok());
  const auto totals = profile::snapshot();
  const auto& gemm = totals[static_cast<size_t>(profile::OpKind::kGemm)];
  EXPECT_EQ(gemm.calls, 2);
  EXPECT_DOUBLE_EQ(gemm.flops, 2.0 * 4 * 5 * 6 + 2.0 * 2 * 3 * 7);
  EXPECT_GE(gemm.seconds, 0.0);
  const auto& act = totals[static_cast<size_t>(profile::OpKind::kActivation)];
  EXPECT_EQ(act.calls, 1);
  EXPECT_EQ(act.flops, 0.0);
  EXPECT_EQ(totals[static_cast<size_t>(profile::OpKind::kAttention)].calls, 0);
  EXPECT_EQ(profile::kind_name(profile::OpKind::kAttention), "attention");
}

TEST_F(OpProfileTest, AttentionFlopsFollowSequenceLengths) {
  profile::set_enabled(true);
  const int64_t heads = 2, dim = 4, tokens = 5;  // sequences of 2 and 3 tokens
  Tensor q = Tensor::empty(DType::kF32, {tokens, heads, dim}).value();
  for (int64_t i = 0; i < q.numel(); ++i) q.mutable_data<float>()[i] = 0.1f * static_cast<float>(i % 7);
  ASSERT_TRUE(varlen_attention(q, q, q, {0, 2, 5}, 0.5f).ok());
  const auto totals = profile::snapshot();
  const auto& att = totals[static_cast<size_t>(profile::OpKind::kAttention)];
  EXPECT_EQ(att.calls, 1);
  EXPECT_DOUBLE_EQ(att.flops, 4.0 * (2 * 2 + 3 * 3) * dim * heads);
}

}  // namespace
}  // namespace eric::cpu
