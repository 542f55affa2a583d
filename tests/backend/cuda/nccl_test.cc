// NCCL: the unique-id exchange over a host all-reduce (no GPU needed), and on
// a GPU a communicator of every visible device (world size 1 on a one-GPU
// machine: NCCL refuses two ranks on one device) summing f32 and bf16.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "backend/cuda/nccl_comm.h"
#include "cuda_test_util.h"

namespace eric::cuda {
namespace {

// A host all-reduce between threads: each adds its values into a shared sum,
// then all copy the total out.
class ThreadAllReduce {
 public:
  explicit ThreadAllReduce(int ranks) : sync_(ranks) {}
  Status operator()(std::vector<float>& v) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (sum_.size() < v.size()) sum_.resize(v.size(), 0.0f);
      for (size_t i = 0; i < v.size(); ++i) sum_[i] += v[i];
    }
    sync_.arrive_and_wait();
    v.assign(sum_.begin(), sum_.begin() + static_cast<std::ptrdiff_t>(v.size()));
    return Status::Ok();
  }

 private:
  std::mutex mu_;
  std::vector<float> sum_;
  std::barrier<> sync_;
};

NcclId patterned_id() {
  NcclId id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>((i * 37 + 11) & 0xff);  // every byte value range
  return id;
}

TEST(NcclIdExchange, EveryRankGetsRankZerosIdExactly) {
  constexpr int kRanks = 3;
  ThreadAllReduce channel(kRanks);
  std::vector<Result<NcclId>> got(kRanks, Result<NcclId>(Internal("not run")));
  std::vector<std::thread> threads;
  std::atomic<int> made{0};
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      got[static_cast<size_t>(r)] = exchange_nccl_id(
          r, [&](std::vector<float>& v) { return channel(v); },
          [&]() -> Result<NcclId> {
            ++made;  // only rank 0 may call it
            return patterned_id();
          });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(made, 1);
  for (int r = 0; r < kRanks; ++r) {
    ASSERT_TRUE(got[static_cast<size_t>(r)].ok()) << got[static_cast<size_t>(r)].status().message();
    EXPECT_EQ(got[static_cast<size_t>(r)].value(), patterned_id()) << "rank " << r;
  }
}

TEST(NcclIdExchange, TwoContributingRanksAreDetected) {
  // A channel that doubles every value, as if two ranks had sent an id.
  auto doubled = [](std::vector<float>& v) {
    for (float& x : v) x *= 2;
    return Status::Ok();
  };
  Result<NcclId> r = exchange_nccl_id(0, doubled, [] { return Result<NcclId>(patterned_id()); });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than one rank"), std::string::npos) << r.status().message();
}

TEST(NcclIdExchange, ChannelErrorsPropagate) {
  auto broken = [](std::vector<float>&) { return Unavailable("peer died"); };
  Result<NcclId> r = exchange_nccl_id(1, broken);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("peer died"), std::string::npos);
}

class NcclGpu : public testing::CudaTest {};

TEST_F(NcclGpu, AllReduceSumsAcrossEveryVisibleGpu) {
  if (!nccl_available()) GTEST_SKIP() << "this build has no NCCL";
  int gpus = 0;
  ASSERT_EQ(cudaGetDeviceCount(&gpus), cudaSuccess);
  Result<NcclId> id = make_nccl_id();
  ASSERT_TRUE(id.ok()) << id.status().message();
  std::vector<std::string> errors(static_cast<size_t>(gpus));
  std::vector<std::thread> threads;
  for (int r = 0; r < gpus; ++r) {
    threads.emplace_back([&, r] {
      auto fail = [&](const std::string& m) { errors[static_cast<size_t>(r)] = m; };
      auto ctx_r = Context::create(r);
      if (!ctx_r.ok()) return fail(ctx_r.status().message());
      Context& c = *ctx_r.value();
      auto comm = NcclCommunicator::create(id.value(), r, gpus, r);
      if (!comm.ok()) return fail(comm.status().message());
      for (DType dt : {DType::kF32, DType::kBF16}) {
        // Rank r holds (r + 1) * x, so the sum is x * gpus * (gpus + 1) / 2.
        Tensor x = testing::round_bf16(testing::random_tensor(Shape{1000, 3}, 5));
        Tensor mine = x.clone().value();
        for (int64_t i = 0; i < mine.numel(); ++i) mine.mutable_data<float>()[i] *= static_cast<float>(r + 1);
        auto dev = upload(mine, dt, c);
        if (!dev.ok()) return fail(dev.status().message());
        Status st = comm.value()->all_reduce_sum(dev.value(), c.stream());
        if (!st.ok()) return fail(st.message());
        auto back = download_f32(dev.value(), c);
        if (!back.ok()) return fail(back.status().message());
        Tensor expect = x.clone().value();
        for (int64_t i = 0; i < expect.numel(); ++i) expect.mutable_data<float>()[i] *= gpus * (gpus + 1) / 2.0f;
        const double err = testing::rel_l2(back.value(), expect);
        if (err > (dt == DType::kF32 ? 1e-6 : 1e-2)) return fail(fmt::format("{} relative error {}", dtype_name(dt), err));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < gpus; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  std::printf("NCCL all-reduce checked over %d GPU(s)\n", gpus);
}

}  // namespace
}  // namespace eric::cuda
