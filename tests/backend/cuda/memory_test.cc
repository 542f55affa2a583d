// Device memory on a GPU: caching allocator reuse, pinned-staged uploads,
// dtype conversion on upload, row slices.
#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "backend/cuda/device_allocator.h"

namespace eric::cuda {
namespace {
using testing::CudaTest;

class CudaMemory : public CudaTest {};

TEST_F(CudaMemory, FreedBlockIsReusedOnTheSameStream) {
  DeviceAllocator* alloc = DeviceAllocator::for_device(0).value();
  const CacheStats before = alloc->stats();
  void* first = nullptr;
  {
    DeviceTensor t = ctx->empty(DType::kF32, Shape{1000, 333}).value();
    first = t.raw_data();
  }
  DeviceTensor again = ctx->empty(DType::kF32, Shape{333, 1000}).value();
  EXPECT_EQ(again.raw_data(), first);
  EXPECT_GT(alloc->stats().cache_hits, before.cache_hits);
}

TEST_F(CudaMemory, UploadDownloadRoundTripsFloat32Exactly) {
  Tensor host = testing::random_tensor(Shape{37, 129}, 1);
  DeviceTensor dev = upload(host, DType::kF32, *ctx).value();
  Tensor back = download_f32(dev, *ctx).value();
  EXPECT_EQ(testing::rel_l2(back, host), 0.0);
}

TEST_F(CudaMemory, UploadToBf16RoundsToNearest) {
  Tensor host = testing::random_tensor(Shape{4096}, 2);
  DeviceTensor dev = upload(host, DType::kBF16, *ctx).value();
  EXPECT_EQ(dev.dtype(), DType::kBF16);
  Tensor back = download_f32(dev, *ctx).value();
  EXPECT_EQ(testing::rel_l2(back, testing::round_bf16(host)), 0.0);
}

TEST_F(CudaMemory, ManyAsyncUploadsThroughTheTwoStagingSlots) {
  std::vector<Tensor> hosts;
  std::vector<DeviceTensor> devs;
  for (uint32_t i = 0; i < 6; ++i) {
    hosts.push_back(testing::random_tensor(Shape{int64_t{1000} * (i + 1)}, 10 + i));
    devs.push_back(upload(hosts.back(), DType::kF32, *ctx).value());
  }
  for (size_t i = 0; i < devs.size(); ++i) EXPECT_EQ(testing::rel_l2(download_f32(devs[i], *ctx).value(), hosts[i]), 0.0);
}

TEST_F(CudaMemory, SliceRowsSharesStorage) {
  Tensor host = testing::random_tensor(Shape{10, 8}, 3);
  DeviceTensor dev = upload(host, DType::kF32, *ctx).value();
  DeviceTensor rows = dev.slice_rows(2, 5).value();
  Tensor back = download_f32(rows, *ctx).value();
  ASSERT_EQ(back.shape(), (Shape{3, 8}));
  for (int i = 0; i < 24; ++i) EXPECT_EQ(back.data<float>()[i], host.data<float>()[16 + i]);
  EXPECT_FALSE(dev.slice_rows(4, 11).ok());
}

TEST_F(CudaMemory, UploadRejectsUnsupportedConversion) {
  Tensor host = Tensor::zeros(DType::kU8, Shape{4}).value();
  Result<DeviceTensor> r = upload(host, DType::kF32, *ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("uint8"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace eric::cuda
