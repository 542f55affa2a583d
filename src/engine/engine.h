// The engine loop: a ZeroMQ ROUTER socket at ipc://<run_dir>/engine.sock that
// takes EncodeRequest / StatusQuery / Shutdown from the router, an FCFS
// Scheduler, and one batch-runner thread that feeds the BatchExecutor one
// batch at a time.
//
// Threads: the socket thread (run()) owns the socket: it decodes requests,
// answers status queries at once (also while a batch runs) and sends the
// responses the runner thread queues (woken through an inproc pipe, so a
// finished batch is answered without polling delay). The runner thread takes
// batches from the scheduler and calls execute_model. Every request is
// answered exactly once: with its embeddings, with the error of the batch
// that failed it (an executor that throws fails only that batch), with
// DeadlineExceeded once its deadline passes (checked before every batch and
// every 50 ms by the socket thread), or with Unavailable at shutdown.
//
// Shutdown (a Shutdown message or request_stop(), e.g. from SIGTERM): new
// requests are refused, queued and running work drains for up to
// drain_timeout, anything left fails, the Shutdown sender gets a StatusReply
// (ready = false) as acknowledgement, and run() returns with the socket file
// removed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "engine/batch_executor.h"
#include "engine/scheduler.h"

namespace eric::engine {

struct EngineOptions {
  std::string run_dir;  // the socket is <run_dir>/engine.sock
  SchedulerLimits limits;
  std::chrono::milliseconds drain_timeout{30000};
};

// Creates the executor (loading the model, starting workers). Runs on the
// runner thread so the socket answers status queries (ready = false) while
// the model loads.
using ExecutorFactory = std::function<Result<std::shared_ptr<BatchExecutor>>()>;

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();

  std::string endpoint() const;

  // Serves until shut down. Returns an error when the socket cannot be bound
  // or the executor cannot be created.
  Status run(ExecutorFactory make_executor);

  // Asks run() to drain and return. Safe from any thread; a signal handler
  // should set its own flag and call this from a normal thread, or use
  // stop_flag() below.
  void request_stop() { stop_requested_.store(true); }
  // A flag polled by run() every 50 ms, which a signal handler may set.
  std::atomic<bool>& stop_flag() { return stop_requested_; }

 private:
  void runner_loop(ExecutorFactory make_executor);
  std::function<void()> wake_;  // wakes the socket thread (set by run())
  StatusReply status_reply(uint64_t request_id);

  EngineOptions options_;
  std::atomic<bool> stop_requested_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  Scheduler scheduler_;
  std::shared_ptr<BatchExecutor> executor_;  // set by the runner once created
  Status executor_error_;                    // the factory's failure
  bool executor_done_ = false;               // the factory has returned
  bool draining_ = false;                    // no new requests; runner exits when idle
  bool batch_running_ = false;
  bool runner_exited_ = false;
  std::deque<EncodeResponse> outbox_;        // responses for the socket thread to send
};

}  // namespace eric::engine
