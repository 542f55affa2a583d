// varlen_attention against a float64 reference on random inputs: sequences
// shorter and longer than one key tile, not multiples of it, head dims 16-128,
// in float32 (1e-5) and bf16 (2e-2); every tensor-core block shape and softmax
// variant; plus the CPU op on a vision-like case.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "backend/cpu/ops.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace eric::cuda {
namespace {
using testing::CudaTest;

class CudaAttention : public CudaTest {};

// bf16 runs both kernels: kAuto (tensor cores where they apply) and the SIMT one.
void check(Context& ctx, const std::vector<int64_t>& cu, int64_t heads, int64_t dim, uint32_t seed,
           kernels::AttnImpl only = kernels::AttnImpl::kAuto, bool bf16_only = false) {
  const int64_t total = cu.back();
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  for (const auto& dc : testing::dtype_cases()) {
    if (bf16_only && dc.dtype != DType::kBF16) continue;
    // stddev 2 makes the softmax peaked, so a wrong max/rescale shows.
    Tensor q = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, seed, 2.0f));
    Tensor k = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, seed + 1, 2.0f));
    Tensor v = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, seed + 2));
    const std::vector<double> ref =
        cpu::testing::reference_attention(testing::to_f64(q), testing::to_f64(k), testing::to_f64(v), heads, dim, cu,
                                          scale);
    DeviceTensor dq = upload(q, dc.dtype, ctx).value(), dk = upload(k, dc.dtype, ctx).value();
    DeviceTensor dv = upload(v, dc.dtype, ctx).value();
    std::vector<kernels::AttnImpl> impls{only};
    if (dc.dtype == DType::kBF16 && only == kernels::AttnImpl::kAuto) impls.push_back(kernels::AttnImpl::kSimt);
    for (kernels::AttnImpl impl : impls) {
      SCOPED_TRACE(std::string(dtype_name(dc.dtype)) + " impl " + std::to_string(static_cast<int>(impl)) +
                   " heads " + std::to_string(heads) + " dim " + std::to_string(dim) + " tokens " +
                   std::to_string(total));
      Result<DeviceTensor> out = varlen_attention(ctx, dq, dk, dv, cu, scale, impl);
      ASSERT_TRUE(out.ok()) << out.status().message();
      EXPECT_LT(testing::rel_l2(download_f32(out.value(), ctx).value(), ref), dc.tol);
    }
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

TEST_F(CudaAttention, TensorCoreKernelOnVisionHeadsAndTileEdges) {
  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ctx->device());
  if (major < 8) GTEST_SKIP() << "tensor-core attention needs sm_80+, device is sm_" << major << "x";
  // 64-row query and key tiles: lengths below, at and across their edges.
  check(*ctx, {0, 1, 64, 65, 65 + 64 + 63, 65 + 64 + 63 + 300}, 16, 80, 21, kernels::AttnImpl::kTensorCore, true);
  check(*ctx, {0, 130}, 2, 128, 22, kernels::AttnImpl::kTensorCore, true);
  check(*ctx, {0, 70}, 3, 16, 23, kernels::AttnImpl::kTensorCore, true);
  // Every block shape and softmax variant, on short and long sequences and the tile edges.
  check(*ctx, {0, 1100, 1100 + 1029}, 2, 80, 24, kernels::AttnImpl::kTensorCore, true);
  for (const kernels::NamedAttnImpl& variant : kernels::kTensorCoreVariants) {
    SCOPED_TRACE(variant.name);
    check(*ctx, {0, 1, 64, 65, 65 + 64 + 63, 65 + 64 + 63 + 300}, 4, 80, 25, variant.impl, true);
    check(*ctx, {0, 1100, 1100 + 129}, 2, 64, 26, variant.impl, true);
    check(*ctx, {0, 33, 33 + 200}, 2, 128, 27, variant.impl, true);
  }
  // Where it does not apply, forcing it is an error, not a silent fallback.
  DeviceTensor odd = ctx->empty(DType::kBF16, Shape{8, 1, 72}).value();
  EXPECT_FALSE(varlen_attention(*ctx, odd, odd, odd, {0, 8}, 1.0f, kernels::AttnImpl::kTensorCore).ok());
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

// Lazy rescaling keeps a stale row max until a tile's exceeds it by 2^8: a
// sequence whose scores climb steadily tile after tile (keys scaled up along
// the sequence) makes it both keep and move the max, and it must still match.
TEST_F(CudaAttention, LazyRescaleOnScoresThatGrowAlongTheSequence) {
  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ctx->device());
  if (major < 8) GTEST_SKIP() << "tensor-core attention needs sm_80+, device is sm_" << major << "x";
  const int64_t total = 700, heads = 2, dim = 80;
  const std::vector<int64_t> cu{0, 300, total};
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  const auto dc = testing::dtype_cases().back();  // bf16
  ASSERT_EQ(dc.dtype, DType::kBF16);
  Tensor q = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, 31, 1.0f));
  Tensor k = testing::random_tensor(Shape{total, heads, dim}, 32, 1.0f);
  float* kp = k.mutable_data<float>();
  for (int64_t t = 0; t < total; ++t) {
    for (int64_t i = 0; i < heads * dim; ++i) kp[t * heads * dim + i] *= 0.2f + 0.02f * static_cast<float>(t % 300);
  }
  k = dc.prepare(k);
  Tensor v = dc.prepare(testing::random_tensor(Shape{total, heads, dim}, 33));
  const std::vector<double> ref = cpu::testing::reference_attention(testing::to_f64(q), testing::to_f64(k),
                                                                      testing::to_f64(v), heads, dim, cu, scale);
  DeviceTensor dq = upload(q, dc.dtype, *ctx).value(), dk = upload(k, dc.dtype, *ctx).value();
  DeviceTensor dv = upload(v, dc.dtype, *ctx).value();
  for (auto impl : {kernels::AttnImpl::kTensorCoreWarps4Rows32, kernels::AttnImpl::kTensorCoreWarps4Rows32Lazy,
                    kernels::AttnImpl::kTensorCoreWarps4Rows32LazyPoly}) {
    Result<DeviceTensor> out = varlen_attention(*ctx, dq, dk, dv, cu, scale, impl);
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_LT(testing::rel_l2(download_f32(out.value(), *ctx).value(), ref), dc.tol) << static_cast<int>(impl);
  }
}

// The process-wide default picks what kAuto runs; kAuto puts it back.
TEST_F(CudaAttention, DefaultTensorCoreVariantIsWhatAutoRuns) {
  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ctx->device());
  if (major < 8) GTEST_SKIP() << "tensor-core attention needs sm_80+, device is sm_" << major << "x";
  const std::vector<int64_t> cu{0, 200};
  Tensor q = testing::random_tensor(Shape{200, 2, 64}, 41, 2.0f);
  DeviceTensor dq = upload(q, DType::kBF16, *ctx).value();
  auto run = [&](kernels::AttnImpl impl) {
    return download_f32(varlen_attention(*ctx, dq, dq, dq, cu, 0.125f, impl).value(), *ctx).value();
  };
  auto same = [](const Tensor& a, const Tensor& b) {
    return std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>());
  };
  const Tensor forced = run(kernels::AttnImpl::kTensorCoreWarps8Rows32LazyPoly);
  const Tensor plain = run(kernels::AttnImpl::kTensorCoreWarps4Rows32);
  ASSERT_FALSE(same(forced, plain));  // the polynomial's rounding differs, so the variants are told apart
  kernels::set_default_tensor_core_attention(kernels::AttnImpl::kTensorCoreWarps8Rows32LazyPoly);
  EXPECT_EQ(kernels::default_tensor_core_attention(), kernels::AttnImpl::kTensorCoreWarps8Rows32LazyPoly);
  EXPECT_TRUE(same(run(kernels::AttnImpl::kAuto), forced));
  kernels::set_default_tensor_core_attention(kernels::AttnImpl::kAuto);
  EXPECT_EQ(kernels::default_tensor_core_attention(), kernels::AttnImpl::kTensorCore);
  EXPECT_TRUE(same(run(kernels::AttnImpl::kAuto), plain));
}

}  // namespace
}  // namespace eric::cuda

namespace eric::cuda {
namespace {

// The experimental Hopper kernel, last in this binary: written without a GPU,
// a fault in it (sticky for the process) must not hide the tests above.
TEST_F(CudaAttention, WgmmaKernelAgainstTheReferenceLast) {
  if (!kernels::wgmma_attention_available()) {
    GTEST_SKIP() << "the wgmma kernel needs an sm_90 GPU and a build with sm_90a code";
  }
  // Which reading of V's descriptor strides the hardware follows: the kernel
  // uses the first; the second exists to tell them apart on the first run.
  {
    const std::vector<int64_t> cu{0, 100, 230};
    const int64_t heads = 2, dim = 80;
    const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
    Tensor q = testing::random_tensor(Shape{230, heads, dim}, 51, 2.0f);
    Tensor k = testing::random_tensor(Shape{230, heads, dim}, 52, 2.0f);
    Tensor v = testing::random_tensor(Shape{230, heads, dim}, 53);
    const std::vector<double> ref = cpu::testing::reference_attention(
        testing::to_f64(testing::round_bf16(q)), testing::to_f64(testing::round_bf16(k)),
        testing::to_f64(testing::round_bf16(v)), heads, dim, cu, scale);
    DeviceTensor dq = upload(q, DType::kBF16, *ctx).value(), dk = upload(k, DType::kBF16, *ctx).value();
    DeviceTensor dv = upload(v, DType::kBF16, *ctx).value();
    double err[2] = {0, 0};
    const kernels::AttnImpl impls[2] = {kernels::AttnImpl::kTensorCoreWgmma,
                                        kernels::AttnImpl::kTensorCoreWgmmaOtherVStrides};
    for (int i = 0; i < 2; ++i) {
      Result<DeviceTensor> out = varlen_attention(*ctx, dq, dk, dv, cu, scale, impls[i]);
      ASSERT_TRUE(out.ok()) << out.status().message();
      err[i] = testing::rel_l2(download_f32(out.value(), *ctx).value(), ref);
    }
    std::printf("wgmma V-descriptor readings: LBO along keys rel_err %.3e, swapped rel_err %.3e\n", err[0], err[1]);
    EXPECT_LT(err[0], 2e-2) << (err[1] < 2e-2 ? "the swapped reading matches: make kVLboAlongKeys false the default "
                                                "in attention_wgmma_kernels.cu"
                                              : "neither reading matches: the layout or descriptors are wrong");
  }
  for (const kernels::NamedAttnImpl& variant : kernels::kExperimentalTensorCoreVariants) {
    SCOPED_TRACE(variant.name);
    check(*ctx, {0, 1, 64, 65, 65 + 64 + 63, 65 + 64 + 63 + 300}, 4, 80, 61, variant.impl, true);
    check(*ctx, {0, 1100, 1100 + 129}, 2, 64, 62, variant.impl, true);
    check(*ctx, {0, 33, 33 + 200}, 2, 128, 63, variant.impl, true);
    check(*ctx, {0, 300}, 3, 96, 64, variant.impl, true);
  }
  // As the default, kAuto runs it where it applies and the mma.sync kernel elsewhere.
  Tensor x = testing::random_tensor(Shape{150, 2, 80}, 65, 2.0f);
  DeviceTensor dx = upload(x, DType::kBF16, *ctx).value();
  auto run = [&](kernels::AttnImpl impl) {
    return download_f32(varlen_attention(*ctx, dx, dx, dx, {0, 150}, 0.11f, impl).value(), *ctx).value();
  };
  const Tensor forced = run(kernels::AttnImpl::kTensorCoreWgmma);
  kernels::set_default_tensor_core_attention(kernels::AttnImpl::kTensorCoreWgmma);
  const Tensor automatic = run(kernels::AttnImpl::kAuto);
  kernels::set_default_tensor_core_attention(kernels::AttnImpl::kAuto);
  EXPECT_TRUE(std::equal(forced.data<float>(), forced.data<float>() + forced.numel(), automatic.data<float>()));
}

}  // namespace
}  // namespace eric::cuda
