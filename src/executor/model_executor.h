// ModelExecutor: runs batches on N worker processes (one per tensor-parallel
// rank) and supervises them.
//
// A "worker set" is the N processes plus what they share: the broadcast ring
// (engine -> workers), the all-reduce segment and the results socket
// (rank 0 -> engine, ZeroMQ PUSH/PULL over ipc://<run_dir>/results-<gen>.sock).
// A monitor thread spawns the set, reaps dead workers every 50 ms, and when
// one dies: fails the in-flight batch at once with an error naming the worker
// and how it died, tears the set down (SIGTERM, then SIGKILL; every child
// reaped; segments and socket files removed) and starts a new set after a
// backoff (0.5 s doubling to 30 s, reset after a successful batch). health()
// reports the state all along. Workers get PR_SET_PDEATHSIG, so they die with
// the monitor thread even if the engine is killed.
//
// Crash loops: after crash_loop_threshold consecutive failures (worker deaths,
// stuck batches or failed restarts) with no successful batch in between,
// health() stays not ready even while a restarted set is up, so /health does
// not flap between restarts; batches are still run, and the first one that
// succeeds makes the executor healthy again (and resets the backoff).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/batch_executor.h"

namespace eric::executor {

struct ExecutorOptions {
  // argv prefix that starts this program; "worker <options>" is appended
  // (e.g. {"/usr/bin/eric", "--log-level", "info"}).
  std::vector<std::string> worker_command;
  std::string run_dir;      // private folder for the socket files
  std::string model_dir;
  int world_size = 1;       // tensor-parallel degree = number of workers
  int threads_per_worker = 0;
  std::string device = "cpu";       // workers' --device (rank r uses GPU r)
  std::string cuda_dtype = "bf16";  // workers' --cuda-dtype
  std::string cuda_memory_limit;    // workers' --cuda-memory-limit ("": none)
  uint32_t ring_slots = 8;
  size_t ring_slot_bytes = 4 << 20;
  std::chrono::milliseconds startup_timeout{120000};
  std::chrono::milliseconds batch_timeout{300000};
  std::chrono::milliseconds restart_backoff_initial{500};
  std::chrono::milliseconds restart_backoff_max{30000};
  int crash_loop_threshold = 3;
};

class ModelExecutor final : public engine::BatchExecutor {
 public:
  // Starts the first worker set and waits until every worker has loaded the
  // model; fails with the workers' load error otherwise.
  static Result<std::unique_ptr<ModelExecutor>> start(ExecutorOptions options);
  ~ModelExecutor() override;

  Result<engine::ItemOutcomes> execute_model(const engine::Batch& batch) override;
  engine::ExecutorHealth health() const override;

  // Stops the workers and removes every resource; idempotent.
  void shutdown();

  // The current workers' pids (empty while restarting); for tests and logs.
  std::vector<int> worker_pids() const;

 private:
  struct WorkerSet;
  explicit ModelExecutor(ExecutorOptions options);
  void monitor_loop();
  Result<std::shared_ptr<WorkerSet>> spawn_set();
  void teardown_set(const std::shared_ptr<WorkerSet>& set);
  bool reap_dead(WorkerSet& set);

  ExecutorOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<WorkerSet> set_;  // null while (re)starting
  bool stopping_ = false;
  bool batch_in_flight_ = false;
  bool first_start_done_ = false;
  Status first_start_status_;
  std::string detail_ = "starting workers";
  std::chrono::milliseconds backoff_;
  int consecutive_failures_ = 0;  // since the last successful batch
  std::string last_failure_;
  uint64_t generation_ = 0;
  std::thread monitor_;
};

}  // namespace eric::executor
