#include "router/engine_supervisor.h"

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <future>

#include <spdlog/spdlog.h>

namespace eric::router {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

Result<engine::StatusReply> query_status(EngineClient& client, milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Result<engine::StatusReply>>>();
  auto future = promise->get_future();
  client.query_status([promise](Result<engine::StatusReply> r) { promise->set_value(std::move(r)); }, timeout);
  return future.get();  // the client always answers (reply, timeout or failure)
}

}  // namespace

EngineSupervisor::EngineSupervisor(EngineSupervisorOptions options, std::unique_ptr<EngineProcess>& process,
                                   EngineClient& client, Metrics& metrics)
    : options_(std::move(options)),
      process_(process),
      client_(client),
      metrics_(metrics),
      backoff_(options_.restart_backoff_initial) {}

void EngineSupervisor::remove_dead_engine_files() {
  // A killed engine cannot unlink its shared memory (its workers die with it:
  // parent-death signal) nor its socket files.
  if (options_.cleanup_dead_engine) options_.cleanup_dead_engine();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.run_dir, ec)) {
    if (entry.path().extension() == ".sock") fs::remove(entry.path(), ec);
  }
}

void EngineSupervisor::schedule_restart() {
  restart_at_ = Clock::now() + backoff_;
  spdlog::warn("restarting the engine in {} ms; /health reports 503 until it is ready", backoff_.count());
  backoff_ = std::min(backoff_ * 2, options_.restart_backoff_max);
  state_ = State::kWaitingToRestart;
}

void EngineSupervisor::on_exit(const std::string& how) {
  const bool was_running = state_ == State::kRunning;
  spdlog::error("the engine process (pid {}) {}{}; failing its in-flight requests", process_->pid(), how,
                was_running ? "" : " while starting");
  client_.mark_dead("engine process " + how);
  metrics_.set_engine_up(false);
  ready_ = false;
  remove_dead_engine_files();
  if (was_running && Clock::now() - running_since_ >= options_.stable_after) {
    backoff_ = options_.restart_backoff_initial;
    short_lived_deaths_ = 0;
  }
  ++short_lived_deaths_;
  schedule_restart();
}

void EngineSupervisor::tick() {
  const auto now = Clock::now();
  switch (state_) {
    case State::kRunning: {
      if (auto exit = process_->poll_exit()) return on_exit(*exit);
      if (now < next_check_) return;
      next_check_ = now + std::chrono::seconds(1);
      auto reply = query_status(client_, milliseconds(2000));
      const bool now_ready = reply.ok() && reply->ready;
      if (now_ready != ready_) {
        if (now_ready) {
          spdlog::info("engine ready again");
        } else {
          spdlog::error("engine not ready: {}", reply.ok() ? reply->detail : reply.status().message());
        }
        ready_ = now_ready;
        metrics_.set_engine_up(ready_);
      }
      return;
    }
    case State::kWaitingToRestart: {
      if (now < restart_at_) return;
      auto spawned = EngineProcess::spawn(options_.engine_argv);
      if (!spawned.ok()) {
        spdlog::error("cannot start a new engine: {}", spawned.status().to_string());
        return schedule_restart();
      }
      process_ = std::move(spawned).value();  // the old one was reaped
      ++restarts_;
      client_.reconnect();
      start_deadline_ = now + options_.start_timeout;
      state_ = State::kStarting;
      spdlog::info("engine restarted (pid {}, restart {}); waiting for it to load the model", process_->pid(),
                   restarts_);
      return;
    }
    case State::kStarting: {
      if (auto exit = process_->poll_exit()) return on_exit(*exit);
      auto reply = query_status(client_, milliseconds(500));
      if (reply.ok() && reply->ready) {
        std::string probation;
        if (short_lived_deaths_ >= options_.crash_loop_threshold) {
          probation = fmt::format("crash loop: the engine died {} times in a row within {} s of starting; healthy "
                                  "again once a request succeeds",
                                  short_lived_deaths_, options_.stable_after.count() / 1000);
          spdlog::error("{}", probation);
        }
        client_.mark_alive(probation);
        metrics_.set_engine_up(true);
        ready_ = true;
        running_since_ = now;
        next_check_ = now + std::chrono::seconds(1);
        state_ = State::kRunning;
        spdlog::info("engine ready again after restart {}", restarts_);
        return;
      }
      if (now > start_deadline_) {
        spdlog::error("the restarted engine was not ready within {} ms; killing it", options_.start_timeout.count());
        process_->signal(SIGKILL);
        process_->wait_exit(std::chrono::seconds(5));
        if (auto exit = process_->poll_exit()) on_exit(*exit);
      }
      return;
    }
  }
}

}  // namespace eric::router
