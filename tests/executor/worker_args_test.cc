// The worker's command line (executor/worker.h): what ModelExecutor passes
// is what the worker reads back, --cuda-memory-limit included.
#include <gtest/gtest.h>

#include <algorithm>

#include "executor/worker.h"

namespace eric::executor {
namespace {

WorkerOptions cuda_worker() {
  WorkerOptions o;
  o.model_dir = "/models/qwen";
  o.ring_name = "/eric-ring";
  o.results_endpoint = "ipc:///tmp/results.sock";
  o.device = "cuda";
  o.cuda_dtype = "f32";
  return o;
}

TEST(WorkerArgs, CudaMemoryLimitTravelsToTheWorker) {
  for (const char* limit : {"40%", "20GiB", "512MiB", "20"}) {
    WorkerOptions o = cuda_worker();
    o.cuda_memory_limit = limit;
    Result<WorkerOptions> back = parse_worker_args(worker_args(o));
    ASSERT_TRUE(back.ok()) << limit << ": " << back.status().message();
    EXPECT_EQ(back->cuda_memory_limit, limit);
    EXPECT_EQ(back->device, "cuda");
    EXPECT_EQ(back->cuda_dtype, "f32");
  }
}

TEST(WorkerArgs, NoLimitPassesNoOption) {
  const std::vector<std::string> args = worker_args(cuda_worker());
  EXPECT_EQ(std::find(args.begin(), args.end(), "--cuda-memory-limit"), args.end());
  Result<WorkerOptions> back = parse_worker_args(args);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->cuda_memory_limit.empty());
}

TEST(WorkerArgs, InvalidOrCpuMemoryLimitIsRefusedNamingTheOption) {
  WorkerOptions bad = cuda_worker();
  bad.cuda_memory_limit = "0.4";
  Result<WorkerOptions> r = parse_worker_args(worker_args(bad));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--cuda-memory-limit"), std::string::npos) << r.status().message();

  WorkerOptions cpu = cuda_worker();
  cpu.device = "cpu";
  cpu.cuda_memory_limit = "20GiB";
  r = parse_worker_args(worker_args(cpu));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("needs --device cuda"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace eric::executor
