// upload_rows / download_rows on the GPU: items of uneven sizes (one empty)
// through chunks that cut items mid-way, so both pinned slots are reused
// many times in one transfer; the device holds exactly the packed rows
// (bf16: eric's rounding) and each item gets exactly its rows back.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cuda_test_util.h"

namespace eric::cuda {
namespace {

class CudaTransfer : public testing::CudaTest {};

std::vector<Tensor> items_of(const std::vector<int64_t>& rows, int64_t width, uint32_t seed) {
  std::vector<Tensor> items;
  for (int64_t r : rows) {
    items.push_back(r == 0 ? Tensor::empty(DType::kF32, {0, width}).value()
                           : testing::random_tensor(Shape{r, width}, seed++));
  }
  return items;
}

Tensor packed(const std::vector<Tensor>& items) { return concat_rows(items).value(); }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST_F(CudaTransfer, ItemsGoUpAndComeBackExactlyThroughSmallChunks) {
  const int64_t width = 1176;
  const std::vector<int64_t> rows = {37, 0, 101, 1, 64};
  const std::vector<Tensor> items = items_of(rows, width, 40);
  const Tensor all = packed(items);
  RowBlocks src = RowBlocks::create(items).value();
  for (DType dt : {DType::kBF16, DType::kF32}) {
    SCOPED_TRACE(dtype_name(dt));
    const size_t row_bytes = width * dtype_size(dt);
    DeviceTensor dev = ctx->empty(dt, Shape{all.dim(0), width}).value();
    // 7 rows a chunk: 29 chunks, each slot reused 14 times.
    ASSERT_TRUE(upload_rows(src, dev, *ctx, 7 * row_bytes).ok());
    const Tensor expect = dt == DType::kBF16 ? testing::round_bf16(all) : all;
    EXPECT_TRUE(same_bits(download_f32(dev, *ctx).value(), expect));

    std::vector<Tensor> outs;
    for (int64_t r : rows) outs.push_back(Tensor::zeros(DType::kF32, {r, width}).value());
    RowBlocks dst = RowBlocks::create(outs).value();
    ASSERT_TRUE(download_rows(dev, dst, *ctx, 5 * row_bytes).ok());
    for (size_t i = 0; i < items.size(); ++i) {
      const Tensor want = dt == DType::kBF16 ? testing::round_bf16(items[i]) : items[i];
      EXPECT_TRUE(same_bits(outs[i], want)) << "item " << i;
    }
  }
}

TEST_F(CudaTransfer, RejectsShapesThatDoNotMatchTheBlocks) {
  RowBlocks src = RowBlocks::create(items_of({3, 4}, 8, 50)).value();
  DeviceTensor wrong_rows = ctx->empty(DType::kBF16, Shape{6, 8}).value();
  EXPECT_FALSE(upload_rows(src, wrong_rows, *ctx).ok());
  DeviceTensor wrong_dtype = ctx->empty(DType::kI32, Shape{7, 8}).value();
  EXPECT_FALSE(upload_rows(src, wrong_dtype, *ctx).ok());
  DeviceTensor wrong_width = ctx->empty(DType::kF32, Shape{7, 9}).value();
  EXPECT_FALSE(download_rows(wrong_width, src, *ctx).ok());
}

}  // namespace
}  // namespace eric::cuda
