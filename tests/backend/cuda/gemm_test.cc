// cuBLASLt GEMM against cpu::linear / cpu::sgemm: the nn.Linear layout with
// and without bias, in float32 (1e-5) and bf16 (2e-2), odd shapes included.
#include <gtest/gtest.h>

#include <algorithm>

#include "backend/cpu/ops.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace eric::cuda {
namespace {
using testing::CudaTest;

class CudaGemm : public CudaTest {};

void check_linear(Context& ctx, int64_t rows, int64_t in, int64_t out, bool with_bias, uint32_t seed) {
  for (const auto& dc : testing::dtype_cases()) {
    SCOPED_TRACE(std::string(dtype_name(dc.dtype)) + " rows=" + std::to_string(rows) + " in=" + std::to_string(in) +
                 " out=" + std::to_string(out));
    Tensor x = dc.prepare(testing::random_tensor(Shape{rows, in}, seed));
    Tensor w = dc.prepare(testing::random_tensor(Shape{out, in}, seed + 1, 0.05f));
    Tensor b = dc.prepare(testing::random_tensor(Shape{out}, seed + 2));
    Tensor ref = cpu::linear(x, w, with_bias ? &b : nullptr).value();
    DeviceTensor dx = upload(x, dc.dtype, ctx).value();
    DeviceTensor dw = upload(w, dc.dtype, ctx).value();
    DeviceTensor db = upload(b, dc.dtype, ctx).value();
    Result<DeviceTensor> y = linear(ctx, dx, dw, with_bias ? &db : nullptr);
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_LT(testing::rel_l2(download_f32(y.value(), ctx).value(), ref), dc.tol);
  }
}

TEST_F(CudaGemm, LinearMatchesCpu) {
  check_linear(*ctx, 64, 128, 96, false, 1);
  check_linear(*ctx, 64, 128, 96, true, 2);
}

TEST_F(CudaGemm, LinearOddShapesAndThreeDimInput) {
  check_linear(*ctx, 7, 80, 33, true, 3);
  check_linear(*ctx, 1, 1280, 1280, true, 4);
  Tensor x = testing::random_tensor(Shape{2, 5, 16}, 5);
  Tensor w = testing::random_tensor(Shape{24, 16}, 6);
  Tensor ref = cpu::linear(x, w, nullptr).value();
  DeviceTensor y = linear(*ctx, upload(x, DType::kF32, *ctx).value(), upload(w, DType::kF32, *ctx).value(), nullptr).value();
  EXPECT_EQ(y.shape(), (Shape{2, 5, 24}));
  EXPECT_LT(testing::rel_l2(download_f32(y, *ctx).value(), ref), testing::kF32Tol);
}

TEST_F(CudaGemm, MisalignedRowSliceInput) {
  // Rows of 13 floats: row 1 starts 52 bytes in, far below the 256-byte
  // alignment cuBLASLt's heuristic assumes unless told.
  Tensor x = testing::random_tensor(Shape{7, 13}, 12);
  Tensor w = testing::random_tensor(Shape{5, 13}, 13);
  Tensor rows = Tensor::empty(DType::kF32, Shape{5, 13}).value();
  std::copy(x.data<float>() + 13, x.data<float>() + 13 * 6, rows.mutable_data<float>());
  Tensor ref = cpu::linear(rows, w, nullptr).value();
  DeviceTensor dx = upload(x, DType::kF32, *ctx).value().slice_rows(1, 6).value();
  Result<DeviceTensor> y = linear(*ctx, dx, upload(w, DType::kF32, *ctx).value(), nullptr);
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_LT(testing::rel_l2(download_f32(y.value(), *ctx).value(), ref), testing::kF32Tol);
}

TEST_F(CudaGemm, GeneralGemmTransposesAndBetaMatchSgemm) {
  const int64_t m = 19, n = 23, k = 31;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(std::string("ta=") + (ta ? "1" : "0") + " tb=" + (tb ? "1" : "0"));
      Tensor a = testing::random_tensor(ta ? Shape{k, m} : Shape{m, k}, 7);
      Tensor b = testing::random_tensor(tb ? Shape{n, k} : Shape{k, n}, 8);
      Tensor c = testing::random_tensor(Shape{m, n}, 9);
      Tensor ref = c.clone().value();
      cpu::sgemm(ta, tb, m, n, k, 0.5f, a.data<float>(), ta ? m : k, b.data<float>(), tb ? k : n, 2.0f,
                 ref.mutable_data<float>(), n);
      DeviceTensor da = upload(a, DType::kF32, *ctx).value(), dbm = upload(b, DType::kF32, *ctx).value();
      DeviceTensor dc = upload(c, DType::kF32, *ctx).value();
      Status st = gemm(*ctx, DType::kF32, ta, tb, m, n, k, 0.5f, da.raw_data(), ta ? m : k, dbm.raw_data(),
                       tb ? k : n, 2.0f, dc.raw_data(), n);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_LT(testing::rel_l2(download_f32(dc, *ctx).value(), ref), testing::kF32Tol);
    }
  }
}

TEST_F(CudaGemm, Tf32IsCloseButOptional) {
  ctx->allow_tf32 = true;
  Tensor x = testing::random_tensor(Shape{128, 256}, 10);
  Tensor w = testing::random_tensor(Shape{64, 256}, 11);
  Tensor ref = cpu::linear(x, w, nullptr).value();
  DeviceTensor y = linear(*ctx, upload(x, DType::kF32, *ctx).value(), upload(w, DType::kF32, *ctx).value(), nullptr).value();
  EXPECT_LT(testing::rel_l2(download_f32(y, *ctx).value(), ref), 5e-3);  // 10-bit mantissa inputs
}

TEST_F(CudaGemm, ShapeAndDtypeMismatchesAreErrors) {
  DeviceTensor x = ctx->empty(DType::kF32, Shape{4, 8}).value();
  DeviceTensor w = ctx->empty(DType::kF32, Shape{3, 9}).value();
  Result<DeviceTensor> y = linear(*ctx, x, w, nullptr);
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("[3, 9]"), std::string::npos) << y.status().message();
  DeviceTensor wb = ctx->empty(DType::kBF16, Shape{3, 8}).value();
  EXPECT_FALSE(linear(*ctx, x, wb, nullptr).ok());
}

}  // namespace
}  // namespace eric::cuda
