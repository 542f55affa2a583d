// Keeps an engine process serving: the router's main loop calls tick()
// every ~100 ms. While the engine runs, tick() polls its exit and (every
// second) its readiness for the log and eric_engine_up. When the engine dies
// (crash, kill -9, OOM): every in-flight request fails at once with a JSON
// 503 (EngineClient::mark_dead), /health answers 503, the dead engine's
// shared memory and socket files are removed, and a new engine is started
// after a backoff (1 s doubling to 30 s; back to 1 s once an engine has run
// for a minute). The restarted engine gets a fresh client socket and takes
// requests again once it reports ready. An engine that does not get ready
// within the start timeout is killed and retried the same way. After
// crash_loop_threshold deaths in a row of engines that ran less than
// stable_after, a restarted engine serves requests but /health stays 503
// until one of them succeeds (EngineClient::probation), instead of flapping.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "router/engine_client.h"
#include "router/engine_process.h"
#include "router/metrics.h"

namespace eric::router {

struct EngineSupervisorOptions {
  std::vector<std::string> engine_argv;  // what EngineProcess::spawn runs
  std::string run_dir;                   // the engine's socket files live here
  std::chrono::milliseconds start_timeout{600000};
  std::chrono::milliseconds restart_backoff_initial{1000};
  std::chrono::milliseconds restart_backoff_max{30000};
  std::chrono::milliseconds stable_after{60000};  // a run this long resets the backoff and the crash count
  int crash_loop_threshold = 3;
  // Frees what a killed engine could not (its shared-memory segments); the
  // router passes the distributed module's stale-segment cleanup, which this
  // library does not link.
  std::function<void()> cleanup_dead_engine;
};

class EngineSupervisor {
 public:
  // `process` holds the running (ready) engine and is replaced on restarts;
  // it, the client and the metrics must outlive the supervisor. Call every
  // method from the thread that spawned the engine (its death signal follows
  // that thread).
  EngineSupervisor(EngineSupervisorOptions options, std::unique_ptr<EngineProcess>& process, EngineClient& client,
                   Metrics& metrics);

  void tick();

  // Engines started after a death; for logs and tests.
  int restarts() const { return restarts_; }

 private:
  enum class State { kRunning, kWaitingToRestart, kStarting };
  using Clock = std::chrono::steady_clock;

  void on_exit(const std::string& how);
  void schedule_restart();
  void remove_dead_engine_files();

  EngineSupervisorOptions options_;
  std::unique_ptr<EngineProcess>& process_;
  EngineClient& client_;
  Metrics& metrics_;
  State state_ = State::kRunning;
  bool ready_ = true;
  Clock::time_point running_since_ = Clock::now();
  Clock::time_point next_check_ = Clock::now() + std::chrono::seconds(1);
  Clock::time_point restart_at_{};
  Clock::time_point start_deadline_{};
  std::chrono::milliseconds backoff_;
  int restarts_ = 0;
  int short_lived_deaths_ = 0;  // in a row
};

}  // namespace eric::router
