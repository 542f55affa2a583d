// varlen_attention against a float64 reference on random inputs: sequences
// shorter and longer than one key tile, not multiples of it, head dims 16-128,
// in float32 (1e-5) and bf16 (2e-2); plus the CPU op on a vision-like case.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/ops.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace eric::cuda {
namespace {
using testing::CudaTest;

// softmax(q k^T * scale) v per sequence and head, all in double.
std::vector<double> reference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const std::vector<int64_t>& cu, float scale) {
  const int64_t heads = q.dim(1), dim = q.dim(2), ld = heads * dim;
  const float *qp = q.data<float>(), *kp = k.data<float>(), *vp = v.data<float>();
  std::vector<double> out(static_cast<size_t>(q.numel()), 0.0);
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = cu[s]; i < cu[s + 1]; ++i) {
        std::vector<double> w;
        double mx = -INFINITY;
        for (int64_t j = cu[s]; j < cu[s + 1]; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < dim; ++d) dot += double{qp[i * ld + h * dim + d]} * kp[j * ld + h * dim + d];
          w.push_back(dot * scale);
          mx = std::max(mx, w.back());
        }
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - mx));
        for (int64_t j = cu[s]; j < cu[s + 1]; ++j) {
          const double p = w[static_cast<size_t>(j - cu[s])] / sum;
          for (int64_t d = 0; d < dim; ++d) out[static_cast<size_t>(i * ld + h * dim + d)] += p * vp[j * ld + h * dim + d];
        }
      }
    }
  }
  return out;
}

class CudaAttention : public CudaTest {};

void check(Context& ctx, const std::vector<int64_t>& cu, int64_t heads, int64_t dim, uint32_t seed) {
  const int64_t total = cu.back();
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  for (const auto& dc : testing::dtype_cases()) {
    SCOPED_TRACE(std::string(dtype_name(dc.dtype)) + " heads " + std::to_string(heads) + " dim " +
                 std::to_string(dim) + " tokens " + std::to_string(total));
    // stddev 2 makes the softmax peaked, so a wrong max/rescale shows.
    Tensor q = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, seed, 2.0f));
    Tensor k = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, seed + 1, 2.0f));
    Tensor v = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, seed + 2));
    std::vector<double> ref = reference_attention(q, k, v, cu, scale);
    Result<DeviceTensor> out = varlen_attention(ctx, upload(q, dc.dtype, ctx).value(), upload(k, dc.dtype, ctx).value(),
                                                upload(v, dc.dtype, ctx).value(), cu, scale);
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_LT(testing::rel_l2(download_f32(out.value(), ctx).value(), ref), dc.tol);
  }
}

TEST_F(CudaAttention, SingleSequencesOfAwkwardLengths) {
  for (int64_t n : {1, 5, 32, 33, 100}) check(*ctx, {0, n}, 2, 80, static_cast<uint32_t>(n));
}

TEST_F(CudaAttention, PackedSequencesStayApart) {
  check(*ctx, {0, 3, 67, 67 + 31, 67 + 31 + 129}, 4, 64, 7);
  check(*ctx, {0, 40, 80}, 2, 16, 8);
}

TEST_F(CudaAttention, HeadDimsUpToTheMaximum) {
  check(*ctx, {0, 50, 77}, 2, 128, 9);
  check(*ctx, {0, 45}, 1, 72, 10);
}

TEST_F(CudaAttention, MatchesCpuOpOnVisionShapes) {
  const std::vector<int64_t> cu = {0, 256, 512, 576};  // two 16x16 windows and a short tail
  Tensor q = testing::random_tensor(Shape{576, 16, 80}, 11);
  Tensor k = testing::random_tensor(Shape{576, 16, 80}, 12);
  Tensor v = testing::random_tensor(Shape{576, 16, 80}, 13);
  const float scale = 1.0f / std::sqrt(80.0f);
  Tensor ref = cpu::varlen_attention(q, k, v, cu, scale).value();
  DeviceTensor out = varlen_attention(*ctx, upload(q, DType::kF32, *ctx).value(), upload(k, DType::kF32, *ctx).value(),
                                      upload(v, DType::kF32, *ctx).value(), cu, scale).value();
  EXPECT_LT(testing::rel_l2(download_f32(out, *ctx).value(), ref), testing::kF32Tol);
}

TEST_F(CudaAttention, BadArgumentsAreErrors) {
  DeviceTensor q = ctx->empty(DType::kF32, Shape{10, 2, 8}).value();
  EXPECT_FALSE(varlen_attention(*ctx, q, q, q, {0, 9}, 1.0f).ok());       // does not cover all tokens
  EXPECT_FALSE(varlen_attention(*ctx, q, q, q, {0, 6, 4, 10}, 1.0f).ok());  // decreasing
  DeviceTensor big = ctx->empty(DType::kF32, Shape{4, 1, 136}).value();
  Result<DeviceTensor> r = varlen_attention(*ctx, big, big, big, {0, 4}, 1.0f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("head_dim 136"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace eric::cuda
