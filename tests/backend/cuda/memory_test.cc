// Device memory on a GPU: caching allocator reuse, pinned-staged uploads,
// dtype conversion on upload, row slices.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "cuda_test_util.h"
#include "backend/cuda/device_allocator.h"
#include "backend/cuda/ops.h"

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

TEST_F(CudaMemory, BlockFreedOnOneStreamIsReusedOnAnotherAfterItsWork) {
  auto other = Context::create(0);
  ASSERT_TRUE(other.ok()) << other.status().message();
  DeviceAllocator* alloc = DeviceAllocator::for_device(0).value();
  ASSERT_TRUE(alloc->empty_cache().ok());  // no idle block of this class elsewhere
  const CacheStats before = alloc->stats();
  Tensor host = testing::random_tensor(Shape{777, 777}, 5);
  void* first = nullptr;
  {
    DeviceTensor t = upload(host, DType::kF32, *ctx).value();  // work pending on ctx's stream
    first = t.raw_data();
  }
  DeviceTensor on_other = other.value()->empty(DType::kF32, Shape{777, 777}).value();
  EXPECT_EQ(on_other.raw_data(), first);
  EXPECT_EQ(alloc->stats().cross_stream_reuses, before.cross_stream_reuses + 1);
  // The other stream waited for the upload: what it reads back is the upload.
  EXPECT_EQ(testing::rel_l2(download_f32(on_other, *other.value()).value(), host), 0.0);
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

TEST_F(CudaMemory, WindowGatherAndScatterRows) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor x = testing::round_bf16(testing::random_tensor(Shape{12, 6}, 4));  // exact in both dtypes
    const std::vector<int64_t> groups = {2, 0, 3, 1};
    DeviceTensor dx = upload(x, dt, *ctx).value();
    Result<DeviceTensor> g = gather_row_groups(*ctx, dx, groups, 3);
    ASSERT_TRUE(g.ok()) << g.status().message();
    Tensor got = download_f32(g.value(), *ctx).value();
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t r = 0; r < 3 * 6; ++r) {
        ASSERT_EQ(got.data<float>()[i * 18 + r], x.data<float>()[groups[static_cast<size_t>(i)] * 18 + r]);
      }
    }
    const std::vector<int64_t> perm = {5, 11, 0, 3, 8, 1, 10, 2, 7, 4, 9, 6};
    DeviceTensor there = gather_row_groups(*ctx, dx, perm, 1).value();
    Result<DeviceTensor> back = scatter_rows(*ctx, there, perm);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(testing::rel_l2(download_f32(back.value(), *ctx).value(), x), 0.0);
  }
  DeviceTensor dx = ctx->empty(DType::kF32, Shape{4, 2}).value();
  Result<DeviceTensor> bad = gather_row_groups(*ctx, dx, {0, 4, 1, 2}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("index[1] = 4"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(scatter_rows(*ctx, dx, {0, 1, 1, 2}).ok());  // row 1 twice, row 3 never
  EXPECT_FALSE(gather_row_groups(*ctx, dx, {0, 1}, 3).ok());
}

// Every copy width of the row reorder: the group's byte count and the base
// pointers pick 16-, 8-, 4- or 2-byte units (a source view one or a few
// elements into its buffer narrows them; outputs are fresh, aligned
// allocations). Groups wider than one block's threads times the unroll
// (float rows of 1280 in groups of 4: 1280 16-byte units) and many narrow
// groups (several groups per block) both run. Gathers and scatters must move
// every element exactly.
TEST_F(CudaMemory, WindowReorderEveryUnitWidth) {
  struct Case {
    DType dt;
    int64_t rows, cols, group, offset;
    const char* units;
  };
  for (const Case& c : {Case{DType::kBF16, 64, 8, 4, 0, "16-byte"}, Case{DType::kF32, 40, 1280, 4, 0, "16-byte"},
                        Case{DType::kBF16, 2000, 8, 1, 0, "16-byte"}, Case{DType::kF32, 60, 6, 1, 0, "8-byte"},
                        Case{DType::kBF16, 60, 6, 1, 0, "4-byte"}, Case{DType::kBF16, 60, 3, 1, 0, "2-byte"},
                        Case{DType::kBF16, 30, 1280, 2, 4, "8-byte"}, Case{DType::kF32, 30, 1280, 2, 1, "4-byte"},
                        Case{DType::kBF16, 30, 1280, 1, 1, "2-byte"}}) {
    const std::string what = std::string(dtype_name(c.dt)) + " [" + std::to_string(c.rows) + ", " +
                             std::to_string(c.cols) + "] group " + std::to_string(c.group) + " offset " +
                             std::to_string(c.offset) + " (" + c.units + " units)";
    SCOPED_TRACE(what);
    const int64_t n = c.rows * c.cols, groups = c.rows / c.group;
    // Exact in both dtypes; the view sits c.offset elements into its buffer.
    Tensor whole = testing::round_bf16(testing::random_tensor(Shape{c.offset + n}, 90));
    Tensor x = Tensor::empty(DType::kF32, Shape{c.rows, c.cols}).value();
    std::copy(whole.data<float>() + c.offset, whole.data<float>() + c.offset + n, x.mutable_data<float>());
    DeviceTensor dwhole = upload(whole, c.dt, *ctx).value();
    DeviceTensor dx = dwhole.slice_rows(c.offset, c.offset + n).value().reshape({c.rows, c.cols}).value();

    std::vector<int64_t> perm(static_cast<size_t>(groups));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(91));
    Result<DeviceTensor> g = gather_row_groups(*ctx, dx, perm, c.group);
    ASSERT_TRUE(g.ok()) << g.status().message();
    Tensor got = download_f32(g.value(), *ctx).value();
    const int64_t group_elems = c.group * c.cols;
    int64_t wrong = 0;
    for (int64_t i = 0; i < groups; ++i) {
      for (int64_t e = 0; e < group_elems; ++e) {
        wrong += got.data<float>()[i * group_elems + e] != x.data<float>()[perm[static_cast<size_t>(i)] * group_elems + e];
      }
    }
    EXPECT_EQ(wrong, 0) << "gather";

    if (c.group == 1) {  // scatter rows (group 1): out[perm[i]] = x[i]
      Result<DeviceTensor> sc = scatter_rows(*ctx, dx, perm);
      ASSERT_TRUE(sc.ok()) << sc.status().message();
      Tensor back = download_f32(sc.value(), *ctx).value();
      wrong = 0;
      for (int64_t i = 0; i < groups; ++i) {
        for (int64_t e = 0; e < c.cols; ++e) {
          wrong += back.data<float>()[perm[static_cast<size_t>(i)] * c.cols + e] != x.data<float>()[i * c.cols + e];
        }
      }
      EXPECT_EQ(wrong, 0) << "scatter";
    }
  }
}

// --cuda-memory-limit on the real allocator (the policy's details:
// block_cache_test.cc, on the CPU).
TEST_F(CudaMemory, LimitRefusesAllocationsPastItAndTheCacheMakesRoom) {
  constexpr size_t kMiB = size_t{1} << 20;
  DeviceAllocator* alloc = DeviceAllocator::for_device(0).value();
  ASSERT_TRUE(alloc->empty_cache().ok());
  const size_t in_use = alloc->stats().bytes_in_use;  // e.g. the fixture context's cuBLASLt workspace
  const size_t limit = in_use + 16 * kMiB;
  const uint64_t rejections_before = alloc->stats().limit_rejections;
  ASSERT_TRUE(alloc->set_limit(limit).ok());
  struct Unlimit {
    DeviceAllocator* a;
    ~Unlimit() { (void)a->set_limit(0); }  // the allocator is process-wide: later tests run unlimited
  } unlimit{alloc};
  EXPECT_EQ(alloc->limit(), limit);
  {
    Result<DeviceTensor> fits = ctx->empty(DType::kU8, Shape{static_cast<int64_t>(12 * kMiB)});  // class 12 MiB
    ASSERT_TRUE(fits.ok()) << fits.status().message();
    Result<DeviceTensor> over = ctx->empty(DType::kU8, Shape{static_cast<int64_t>(8 * kMiB)});  // 12 + 8 > 16
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.status().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(over.status().message().find("--cuda-memory-limit"), std::string::npos) << over.status().message();
  }
  // The 12 MiB block is cached now; a 14 MiB one fits only once it is back with the driver.
  Result<DeviceTensor> after = ctx->empty(DType::kU8, Shape{static_cast<int64_t>(14 * kMiB)});
  ASSERT_TRUE(after.ok()) << after.status().message();
  const CacheStats st = alloc->stats();
  EXPECT_LE(st.bytes_in_use + st.bytes_cached, limit);
  EXPECT_EQ(st.limit_rejections, rejections_before + 1);
}

}  // namespace
}  // namespace eric::cuda
