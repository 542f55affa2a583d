#include "executor/model_executor.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "distributed/shm_collective.h"
#include "engine/zmq_transport.h"
#include "executor/batch_codec.h"
#include "executor/process.h"
#include "executor/shm_ring.h"
#include "executor/worker.h"

namespace eric::executor {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct ModelExecutor::WorkerSet {
  uint64_t generation = 0;
  std::vector<int> pids;
  std::vector<bool> alive;
  std::unique_ptr<ShmRingWriter> ring;
  std::unique_ptr<distributed::ShmCollectiveGroup> group;
  zmq::context_t ctx{1};
  zmq::socket_t pull{ctx, zmq::socket_type::pull};
  std::string socket_path;
  std::atomic<bool> failed{false};
  std::string failure;  // guarded by ModelExecutor::mu_

  int alive_count() const {
    int n = 0;
    for (bool a : alive) n += a ? 1 : 0;
    return n;
  }
};

ModelExecutor::ModelExecutor(ExecutorOptions options)
    : options_(std::move(options)), backoff_(options_.restart_backoff_initial) {}

Result<std::unique_ptr<ModelExecutor>> ModelExecutor::start(ExecutorOptions options) {
  if (options.world_size < 1 || options.world_size > 64) {
    return InvalidArgument("tensor-parallel size {} is out of range [1, 64]", options.world_size);
  }
  if (options.worker_command.empty()) return InvalidArgument("ModelExecutor: empty worker command");
  if (options.run_dir.empty() || !fs::is_directory(options.run_dir)) {
    return InvalidArgument("ModelExecutor: run dir '{}' is not a directory", options.run_dir);
  }
  auto ex = std::unique_ptr<ModelExecutor>(new ModelExecutor(std::move(options)));
  // Workers are spawned by the monitor thread: their PR_SET_PDEATHSIG is tied
  // to the thread that forked them, and this thread lives as long as they do.
  ex->monitor_ = std::thread([e = ex.get()] { e->monitor_loop(); });
  std::unique_lock<std::mutex> lock(ex->mu_);
  ex->cv_.wait(lock, [&] { return ex->first_start_done_; });
  if (!ex->first_start_status_.ok()) {
    Status st = ex->first_start_status_;
    lock.unlock();
    ex->shutdown();
    return st;
  }
  return ex;
}

ModelExecutor::~ModelExecutor() { shutdown(); }

void ModelExecutor::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

std::vector<int> ModelExecutor::worker_pids() const {
  std::lock_guard<std::mutex> lock(mu_);
  return set_ ? set_->pids : std::vector<int>{};
}

engine::ExecutorHealth ModelExecutor::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  engine::ExecutorHealth h;
  h.workers_total = options_.world_size;
  if (set_) h.workers_alive = set_->alive_count();
  h.ready = set_ != nullptr && !set_->failed.load() && h.workers_alive == h.workers_total;
  h.detail = h.ready ? "" : (set_ && set_->failed.load() ? set_->failure : detail_);
  if (h.ready && consecutive_failures_ >= options_.crash_loop_threshold) {
    h.ready = false;
    h.detail = fmt::format("crash loop: the workers failed {} times in a row without a successful batch (last: {}); "
                           "healthy again once a batch succeeds",
                           consecutive_failures_, last_failure_);
  }
  return h;
}

bool ModelExecutor::reap_dead(WorkerSet& set) {
  bool any = false;
  for (size_t r = 0; r < set.pids.size(); ++r) {
    if (!set.alive[r]) continue;
    std::string how;
    if (try_reap(set.pids[r], &how)) {
      any = true;
      std::string msg = fmt::format("worker rank {} (pid {}) {}", r, set.pids[r], how);
      spdlog::error("{}", msg);
      std::lock_guard<std::mutex> lock(mu_);  // health() reads `alive`
      set.alive[r] = false;
      if (set.failure.empty()) set.failure = msg;
    }
  }
  return any;
}

void ModelExecutor::teardown_set(const std::shared_ptr<WorkerSet>& set) {
  if (!set) return;
  // Closing the ring wakes every worker's read; they exit on their own.
  if (set->ring) set->ring->close();
  for (size_t r = 0; r < set->pids.size(); ++r) {
    if (!set->alive[r]) continue;
    std::string how = stop_process(set->pids[r], 3s);
    set->alive[r] = false;
    spdlog::debug("worker rank {} (pid {}) stopped: {}", r, set->pids[r], how);
  }
  set->pull.close();
  set->ctx.close();
  std::error_code ec;
  if (!set->socket_path.empty()) fs::remove(set->socket_path, ec);
  set->ring.reset();   // unlinks the ring segment
  set->group.reset();  // unlinks the all-reduce segment
}

Result<std::shared_ptr<ModelExecutor::WorkerSet>> ModelExecutor::spawn_set() {
  auto set = std::make_shared<WorkerSet>();
  set->generation = ++generation_;
  auto fail = [&](Status st) -> Status {
    teardown_set(set);
    return st;
  };
  auto ring = ShmRingWriter::create({options_.world_size, options_.ring_slots, options_.ring_slot_bytes});
  if (!ring.ok()) return fail(ring.status());
  set->ring = std::move(ring).value();
  if (options_.world_size > 1) {
    auto group = distributed::ShmCollectiveGroup::create({options_.world_size, size_t{1} << 20});
    if (!group.ok()) return fail(group.status());
    set->group = std::move(group).value();
  }
  set->socket_path = (fs::path(options_.run_dir) / fmt::format("results-{}.sock", set->generation)).string();
  const std::string endpoint = "ipc://" + set->socket_path;
  try {
    set->pull.set(zmq::sockopt::linger, 0);
    set->pull.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return fail(Unavailable("cannot bind the results socket {}: {}", endpoint, e.what()));
  }

  for (int r = 0; r < options_.world_size; ++r) {
    WorkerOptions wo;
    wo.model_dir = options_.model_dir;
    wo.ring_name = set->ring->name();
    wo.collective_name = set->group ? set->group->name() : "";
    wo.results_endpoint = endpoint;
    wo.rank = r;
    wo.world_size = options_.world_size;
    wo.threads = options_.threads_per_worker;
    wo.device = options_.device;
    wo.cuda_dtype = options_.cuda_dtype;
    wo.cuda_memory_limit = options_.cuda_memory_limit;
    wo.parent_pid = getpid();
    std::vector<std::string> argv = options_.worker_command;
    argv.push_back("worker");
    for (auto& a : worker_args(wo)) argv.push_back(std::move(a));
    auto pid = spawn_process(argv);
    if (!pid.ok()) return fail(pid.status().with_context(fmt::format("starting worker rank {}", r)));
    set->pids.push_back(*pid);
    set->alive.push_back(true);
  }
  spdlog::info("started {} worker(s) (generation {}), waiting for them to load {}", options_.world_size,
               set->generation, options_.model_dir);

  // Every rank reports once after loading.
  std::vector<bool> ready(options_.world_size, false);
  int ready_count = 0;
  const auto deadline = Clock::now() + options_.startup_timeout;
  while (ready_count < options_.world_size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return fail(Unavailable("the executor is shutting down"));
    }
    if (reap_dead(*set)) {
      std::string why;
      {
        std::lock_guard<std::mutex> lock(mu_);
        why = set->failure;
      }
      // A load error arrives as a message just before the exit: prefer it.
      auto last = engine::receive_message(set->pull, false, 100ms);
      if (last.ok() && last->has_value() && (*last)->status.ok() &&
          std::holds_alternative<engine::StatusReply>((*last)->message)) {
        const auto& s = std::get<engine::StatusReply>((*last)->message);
        if (!s.ready) why = fmt::format("worker rank {} failed to load the model: {}", s.request_id, s.detail);
      }
      return fail(Unavailable("{} during startup", why));
    }
    if (Clock::now() > deadline) {
      return fail(DeadlineExceeded("workers did not load the model within {} ms", options_.startup_timeout.count()));
    }
    auto got = engine::receive_message(set->pull, false, 50ms);
    if (!got.ok()) return fail(got.status());
    if (!got->has_value()) continue;
    if (!(*got)->status.ok() || !std::holds_alternative<engine::StatusReply>((*got)->message)) continue;
    const auto& s = std::get<engine::StatusReply>((*got)->message);
    if (s.request_id >= ready.size()) continue;
    if (!s.ready) return fail(Unavailable("worker rank {} failed to load the model: {}", s.request_id, s.detail));
    if (!ready[s.request_id]) {
      ready[s.request_id] = true;
      ++ready_count;
    }
  }
  spdlog::info("{} worker(s) ready (generation {})", options_.world_size, set->generation);
  return set;
}

void ModelExecutor::monitor_loop() {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      detail_ = "starting workers";
    }
    auto spawned = spawn_set();
    std::unique_lock<std::mutex> lock(mu_);
    if (!spawned.ok()) {
      detail_ = spawned.status().to_string();
      if (!first_start_done_) {
        first_start_status_ = spawned.status();
        first_start_done_ = true;
        cv_.notify_all();
        return;  // start() reports the error
      }
      ++consecutive_failures_;
      last_failure_ = detail_;
      spdlog::error("restarting workers failed: {}; next try in {} ms", detail_, backoff_.count());
      cv_.wait_for(lock, backoff_, [&] { return stopping_; });
      backoff_ = std::min(backoff_ * 2, options_.restart_backoff_max);
      continue;
    }
    std::shared_ptr<WorkerSet> set = std::move(spawned).value();
    set_ = set;
    detail_.clear();
    if (!first_start_done_) {
      first_start_done_ = true;
      cv_.notify_all();
    }
    // Supervise until a worker dies, a batch marks the set failed, or stop.
    while (!stopping_ && !set->failed.load()) {
      lock.unlock();
      const bool died = reap_dead(*set);
      lock.lock();
      if (died) {
        set->failed = true;
        cv_.notify_all();
        break;
      }
      cv_.wait_for(lock, 50ms);
    }
    if (stopping_ && !set->failed.load()) {
      set_ = nullptr;
      lock.unlock();
      teardown_set(set);
      return;
    }
    // Failed: let the in-flight batch (if any) see it and return first.
    cv_.wait_for(lock, 10s, [&] { return !batch_in_flight_; });
    detail_ = set->failure.empty() ? "workers failed" : set->failure;
    ++consecutive_failures_;
    last_failure_ = detail_;
    set_ = nullptr;
    lock.unlock();
    teardown_set(set);
    lock.lock();
    detail_ += fmt::format("; restarting workers in {} ms (failure {} in a row)", backoff_.count(),
                           consecutive_failures_);
    spdlog::warn("{}", detail_);
    cv_.wait_for(lock, backoff_, [&] { return stopping_; });
    backoff_ = std::min(backoff_ * 2, options_.restart_backoff_max);
  }
}

Result<engine::ItemOutcomes> ModelExecutor::execute_model(const engine::Batch& batch) {
  std::shared_ptr<WorkerSet> set;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!set_ || set_->failed.load()) {
      return Unavailable("workers are not ready: {}", set_ ? set_->failure : detail_);
    }
    set = set_;
    batch_in_flight_ = true;
  }
  auto done = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    batch_in_flight_ = false;
    cv_.notify_all();
  };
  auto mark_failed = [&](const Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (set->failure.empty()) set->failure = st.message();
    set->failed = true;
    cv_.notify_all();
  };
  auto failed_error = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return Unavailable("batch {} failed: {}", batch.batch_id, set->failure);
  };

  auto message = encode_batch(batch);
  if (!message.ok()) {
    done();
    return message.status();
  }
  Status written = set->ring->write((*message)->parts, options_.batch_timeout);
  if (!written.ok()) {
    mark_failed(written);
    done();
    return failed_error();
  }
  const auto deadline = Clock::now() + options_.batch_timeout;
  while (true) {
    if (set->failed.load()) {
      done();
      return failed_error();
    }
    if (Clock::now() > deadline) {
      Status st = DeadlineExceeded("batch {} did not finish within {} ms (a worker is stuck); restarting workers",
                                   batch.batch_id, options_.batch_timeout.count());
      mark_failed(st);
      done();
      return st;
    }
    auto got = engine::receive_message(set->pull, false, 20ms);
    if (!got.ok()) {
      mark_failed(got.status());
      done();
      return failed_error();
    }
    if (!got->has_value()) continue;
    auto& m = **got;
    if (!m.status.ok()) {
      done();
      return Internal("undecodable result from worker 0: {}", m.status.message());
    }
    if (!std::holds_alternative<engine::EncodeResponse>(m.message)) continue;
    auto& resp = std::get<engine::EncodeResponse>(m.message);
    if (resp.request_id != batch.batch_id && resp.request_id != 0) continue;  // stale
    done();
    if (resp.restart_workers) {
      // The workers are stopping (a lost GPU context): no batch goes to them
      // any more; the monitor restarts the set.
      mark_failed(Unavailable("worker 0 stopped after batch {}: {}", batch.batch_id,
                              resp.code != ErrorCode::kOk ? resp.error_message : "its device is lost"));
    }
    if (resp.code != ErrorCode::kOk) return Status(resp.code, resp.error_message);
    if (resp.items.size() != batch.entries.size()) {
      return Internal("worker 0 returned {} results for a batch of {}", resp.items.size(), batch.entries.size());
    }
    engine::ItemOutcomes out;
    out.reserve(resp.items.size());
    for (auto& item : resp.items) {
      // An item that failed alone (its sidecar delivery) fails only its request.
      if (item.failed()) out.emplace_back(Status(item.error_code, item.error_message));
      else out.emplace_back(std::move(item.embedding));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      backoff_ = options_.restart_backoff_initial;
      consecutive_failures_ = 0;
    }
    return out;
  }
}

}  // namespace eric::executor
