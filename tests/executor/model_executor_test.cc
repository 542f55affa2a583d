// ModelExecutor with real worker processes (this test binary re-executed as
// `worker`) serving the test linear model, with tp = 1, 2 and 3.
#include "executor/model_executor.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "executor/fault_injection.h"
#include "executor/process.h"
#include "../common/temp_dir.h"
#include "executor_test_util.h"
#include "test_linear_family.h"

namespace eric::executor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kIn = 24, kOut = 8;

using testing::our_shm_segments;
using testing::rel_error;
using testing::TempDir;

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

struct Fixture {
  TempDir run_dir{"eric_executor_test"}, model_dir{"eric_executor_test"};
  Fixture() { testing::write_test_linear_model(model_dir.str(), kIn, kOut, 7); }
  ExecutorOptions options(int tp) const {
    ExecutorOptions o;
    o.worker_command = {self_exe()};
    o.run_dir = run_dir.str();
    o.model_dir = model_dir.str();
    o.world_size = tp;
    o.threads_per_worker = 1;
    o.ring_slot_bytes = 4096;  // small slots: batches are chunked
    o.startup_timeout = 20s;
    o.batch_timeout = 20s;
    o.restart_backoff_initial = 100ms;
    return o;
  }
};

engine::Batch make_batch(uint64_t id, const std::vector<int64_t>& rows, float first = 0.0f) {
  engine::Batch b;
  b.batch_id = id;
  b.modality = "image";
  b.model_id = "m";
  for (size_t i = 0; i < rows.size(); ++i) {
    engine::BatchEntry e;
    e.request_id = id;
    e.item_index = i;
    e.item.item_id = "item" + std::to_string(i);
    e.item.modality = "image";
    e.item.model_id = "m";
    e.item.num_tokens = rows[i];
    Tensor x = Tensor::empty(DType::kF32, {rows[i], kIn}).value();
    for (int64_t k = 0; k < x.numel(); ++k) {
      x.mutable_data<float>()[k] = static_cast<float>((k * 37 + static_cast<int64_t>(i) * 11) % 19) / 7.0f - 1.0f;
    }
    if (first != 0.0f) x.mutable_data<float>()[0] = first;
    e.item.tensors.emplace_back("pixel_values", x);
    b.entries.push_back(std::move(e));
  }
  return b;
}

void expect_matches_reference(const Fixture& f, const engine::Batch& b, const engine::ItemOutcomes& out) {
  ASSERT_EQ(out.size(), b.entries.size());
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].ok()) << "item " << i << ": " << out[i].status().to_string();
    Tensor ref = testing::test_linear_reference(f.model_dir.str(), b.entries[i].item.tensors[0].second);
    ASSERT_EQ(out[i]->shape(), ref.shape());
    EXPECT_LT(rel_error(*out[i], ref), 1e-5) << "item " << i;
  }
}

void run_batches_with_tp(int tp) {
  Fixture f;
  std::vector<int> pids;
  {
    auto ex = ModelExecutor::start(f.options(tp));
    ASSERT_TRUE(ex.ok()) << ex.status().to_string();
    auto h = (*ex)->health();
    EXPECT_TRUE(h.ready) << h.detail;
    EXPECT_EQ(h.workers_alive, tp);
    EXPECT_EQ(h.workers_total, tp);
    pids = (*ex)->worker_pids();
    ASSERT_EQ(pids.size(), static_cast<size_t>(tp));
    // Batch 2 is ~80 KiB of pixels: ~20 ring slots of 4 KiB, 2.5x the ring.
    for (auto rows : std::vector<std::vector<int64_t>>{{1}, {3, 100, 700, 2}, {5, 5}}) {
      static uint64_t id = 1;
      engine::Batch b = make_batch(id++, rows);
      auto out = (*ex)->execute_model(b);
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      expect_matches_reference(f, b, *out);
    }
  }
  // Destroyed: workers gone and reaped, nothing left behind.
  for (int pid : pids) EXPECT_FALSE(process_alive(pid)) << pid;
  EXPECT_EQ(our_shm_segments(), 0);
  EXPECT_TRUE(fs::is_empty(f.run_dir.path())) << "socket files left in the run dir";
}

TEST(ModelExecutorTest, OneWorker) { run_batches_with_tp(1); }
TEST(ModelExecutorTest, TwoWorkersTensorParallel) { run_batches_with_tp(2); }
TEST(ModelExecutorTest, ThreeWorkersTensorParallel) { run_batches_with_tp(3); }

TEST(ModelExecutorTest, TensorParallelMatchesSingleWorker) {
  Fixture f;
  engine::Batch b = make_batch(1, {4, 9});
  auto one = ModelExecutor::start(f.options(1));
  ASSERT_TRUE(one.ok());
  auto r1 = (*one)->execute_model(b);
  ASSERT_TRUE(r1.ok());
  (*one)->shutdown();
  auto two = ModelExecutor::start(f.options(2));
  ASSERT_TRUE(two.ok());
  auto r2 = (*two)->execute_model(b);
  ASSERT_TRUE(r2.ok());
  for (size_t i = 0; i < r1->size(); ++i) EXPECT_LT(rel_error(*(*r2)[i], *(*r1)[i]), 1e-6);
}

TEST(ModelExecutorTest, LoadErrorIsReportedByStart) {
  Fixture f;
  std::ofstream(f.model_dir.path() / "config.json") << R"({"model_type": "no_such_model"})";
  auto ex = ModelExecutor::start(f.options(2));
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("no_such_model"), std::string::npos) << ex.status().to_string();
  EXPECT_EQ(our_shm_segments(), 0);
}

TEST(ModelExecutorTest, EncoderErrorFailsTheBatchOnly) {
  Fixture f;
  auto ex = ModelExecutor::start(f.options(1));
  ASSERT_TRUE(ex.ok());
  engine::Batch bad = make_batch(1, {2});
  bad.entries[0].item.tensors[0].second = Tensor::zeros(DType::kF32, {2, kIn + 1}).value();
  auto out = (*ex)->execute_model(bad);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("pixel_values must be"), std::string::npos) << out.status().to_string();
  EXPECT_TRUE((*ex)->health().ready);
  engine::Batch good = make_batch(2, {3});
  auto ok = (*ex)->execute_model(good);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
}

TEST(ModelExecutorTest, KilledWorkerFailsInFlightBatchFastThenRestarts) {
  Fixture f;
  auto ex = ModelExecutor::start(f.options(2));
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  auto pids = (*ex)->worker_pids();
  // The first item sleeps 5 s in the encoder: the batch is in flight when
  // rank 1 is killed.
  engine::Batch slow = make_batch(1, {2}, -5000.0f);
  auto pending = std::async(std::launch::async, [&] { return (*ex)->execute_model(slow); });
  std::this_thread::sleep_for(300ms);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pids[1], SIGKILL), 0);
  auto out = pending.get();
  const auto took = std::chrono::steady_clock::now() - killed_at;
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(out.status().message().find("worker rank 1"), std::string::npos) << out.status().to_string();
  EXPECT_NE(out.status().message().find("killed by signal 9"), std::string::npos) << out.status().to_string();
  EXPECT_LT(took, 2s);
  EXPECT_FALSE((*ex)->health().ready);
  // While restarting, batches fail at once with the reason.
  auto during = (*ex)->execute_model(make_batch(2, {1}));
  EXPECT_EQ(during.status().code(), ErrorCode::kUnavailable);
  // The set comes back; the old workers are all gone.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!(*ex)->health().ready && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE((*ex)->health().ready) << (*ex)->health().detail;
  for (int pid : pids) EXPECT_FALSE(process_alive(pid));
  engine::Batch b = make_batch(3, {4});
  auto again = (*ex)->execute_model(b);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  expect_matches_reference(f, b, *again);
}

// Waits until a worker set other than `before` is up (and, with
// `ready_too`, healthy) or `deadline` passes.
void wait_for_new_workers(ModelExecutor& ex, const std::vector<int>& before,
                          std::chrono::steady_clock::time_point deadline, bool ready_too) {
  while (std::chrono::steady_clock::now() < deadline) {
    const auto now_pids = ex.worker_pids();
    if (!now_pids.empty() && now_pids != before && (!ready_too || ex.health().ready)) return;
    std::this_thread::sleep_for(10ms);
  }
}

// Sets the test-only fault injection variable for the workers started while
// it lives (they inherit the environment at spawn).
struct FaultInjectionEnv {
  explicit FaultInjectionEnv(const char* value) { setenv("ERIC_TEST_FAULT_INJECTION", value, 1); }
  ~FaultInjectionEnv() { unsetenv("ERIC_TEST_FAULT_INJECTION"); }
};

TEST(ModelExecutorTest, ThrowingForwardFailsItsBatchOnlyAndTheWorkersStay) {
  Fixture f;
  FaultInjectionEnv env("throw:poison");
  auto ex = ModelExecutor::start(f.options(2));
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  const auto pids = (*ex)->worker_pids();
  engine::Batch bad = make_batch(1, {2, 3});
  bad.entries[1].item.item_id = "poison-1";
  const auto start = std::chrono::steady_clock::now();
  auto out = (*ex)->execute_model(bad);
  ASSERT_FALSE(out.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "both ranks must fail alike, without a stall";
  EXPECT_EQ(out.status().code(), ErrorCode::kInternal);
  EXPECT_NE(out.status().message().find("forward pass threw"), std::string::npos) << out.status().to_string();
  EXPECT_NE(out.status().message().find("poison-1"), std::string::npos) << out.status().to_string();
  EXPECT_TRUE((*ex)->health().ready) << (*ex)->health().detail;
  EXPECT_EQ((*ex)->worker_pids(), pids) << "no worker may die or restart for an exception";
  engine::Batch good = make_batch(2, {4, 1});
  auto ok = (*ex)->execute_model(good);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  expect_matches_reference(f, good, *ok);
}

TEST(FaultInjectionTest, ParsesOnlyTheDocumentedForms) {
  EXPECT_EQ(FaultInjection::parse("").action, FaultInjection::Action::kNone);
  EXPECT_EQ(FaultInjection::parse("throw:").action, FaultInjection::Action::kNone);
  EXPECT_EQ(FaultInjection::parse("explode:x").action, FaultInjection::Action::kNone);
  auto t = FaultInjection::parse("throw:a:b");
  EXPECT_EQ(t.action, FaultInjection::Action::kThrow);
  EXPECT_EQ(t.pattern, "a:b");
  EXPECT_EQ(FaultInjection::parse("exit:x").action, FaultInjection::Action::kExit);
  const auto lose = FaultInjection::parse("lose-device:gpu");
  EXPECT_EQ(lose.action, FaultInjection::Action::kLoseDevice);
  engine::EncodeRequest batch;
  batch.items.resize(1);
  batch.items[0].item_id = "fine";
  EXPECT_NO_THROW(t.apply(batch, 0));
  EXPECT_TRUE(lose.device_loss(batch, 0).ok());
  batch.items[0].item_id = "xa:by";
  EXPECT_THROW(t.apply(batch, 0), std::runtime_error);
  batch.items[0].item_id = "on-gpu-3";
  EXPECT_NO_THROW(lose.apply(batch, 0));  // the batch itself runs
  EXPECT_EQ(lose.device_loss(batch, 1).code(), ErrorCode::kUnavailable);
}

// A worker whose device is lost (a sticky CUDA error; here the test-only
// injection) answers its batch, flags the set for restart and stops: the
// executor sends no further batch to it and restarts the set at once.
TEST(ModelExecutorTest, LostDeviceAnswersItsBatchThenRestartsTheWorkers) {
  Fixture f;
  FaultInjectionEnv env("lose-device:gpu-fault");
  auto ex = ModelExecutor::start(f.options(2));
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  const auto before = (*ex)->worker_pids();
  engine::Batch b = make_batch(30, {2});
  b.entries[0].item.item_id = "gpu-fault-1";
  auto out = (*ex)->execute_model(b);
  ASSERT_TRUE(out.ok()) << out.status().to_string();  // the batch ran; the loss was found after it
  expect_matches_reference(f, b, *out);
  // At once, not after the monitor's next poll: the set is marked failed.
  auto next = (*ex)->execute_model(make_batch(31, {1}));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(next.status().message().find("stopped after batch 30"), std::string::npos) << next.status().to_string();
  wait_for_new_workers(**ex, before, std::chrono::steady_clock::now() + 15s, /*ready_too=*/true);
  ASSERT_NE((*ex)->worker_pids(), before) << "the workers were not restarted";
  engine::Batch good = make_batch(32, {2});
  auto ok = (*ex)->execute_model(good);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  expect_matches_reference(f, good, *ok);
}

// Workers that die on every batch: each failure restarts the set after a
// doubling backoff, and from the third failure in a row on the executor
// stays unhealthy while the restarted set is up, until a batch succeeds.
TEST(ModelExecutorTest, CrashLoopBacksOffAndStaysUnhealthyUntilABatchSucceeds) {
  Fixture f;
  FaultInjectionEnv env("exit:die");
  auto ex = ModelExecutor::start(f.options(1));  // backoff 100 ms, doubling
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  std::vector<std::chrono::steady_clock::duration> restart_delays;
  for (int k = 0; k < 3; ++k) {
    const auto before = (*ex)->worker_pids();
    engine::Batch b = make_batch(10 + k, {1});
    b.entries[0].item.item_id = "die-" + std::to_string(k);
    auto out = (*ex)->execute_model(b);
    const auto failed_at = std::chrono::steady_clock::now();
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), ErrorCode::kUnavailable) << out.status().to_string();
    EXPECT_NE(out.status().message().find("killed by signal 9"), std::string::npos) << out.status().to_string();
    wait_for_new_workers(**ex, before, failed_at + 15s, /*ready_too=*/false);
    restart_delays.push_back(std::chrono::steady_clock::now() - failed_at);
    ASSERT_FALSE((*ex)->worker_pids().empty()) << "the workers did not come back";
    if (k < 2) {
      EXPECT_TRUE((*ex)->health().ready) << "failure " << k + 1 << ": " << (*ex)->health().detail;
    }
  }
  EXPECT_GE(restart_delays[2], 400ms) << "the third restart waits 4x the initial backoff";
  // Up, but unhealthy: and it stays so (no flapping back to ready).
  for (int i = 0; i < 10; ++i) {
    auto h = (*ex)->health();
    EXPECT_FALSE(h.ready);
    EXPECT_EQ(h.workers_alive, 1);
    EXPECT_NE(h.detail.find("crash loop"), std::string::npos) << h.detail;
    std::this_thread::sleep_for(30ms);
  }
  engine::Batch good = make_batch(20, {2});
  auto ok = (*ex)->execute_model(good);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_TRUE((*ex)->health().ready) << (*ex)->health().detail;
}

}  // namespace
}  // namespace eric::executor
