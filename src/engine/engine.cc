#include "engine/engine.h"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "engine/zmq_transport.h"

namespace eric::engine {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {
constexpr const char* kWakeEndpoint = "inproc://eric-engine-wake";

// Deadlines are wall-clock times set by the router on the same machine.
int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}

Engine::Engine(EngineOptions options) : options_(std::move(options)), scheduler_(options_.limits) {}

Engine::~Engine() = default;

std::string Engine::endpoint() const { return "ipc://" + (fs::path(options_.run_dir) / "engine.sock").string(); }

StatusReply Engine::status_reply(uint64_t request_id) {
  std::shared_ptr<BatchExecutor> ex;
  StatusReply r;
  r.request_id = request_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ex = executor_;
    r.queue_length = scheduler_.queue_length();
    if (!ex) r.detail = executor_done_ ? executor_error_.to_string() : "loading the model";
    if (draining_) r.detail = "shutting down";
  }
  if (ex) {
    ExecutorHealth h = ex->health();
    r.ready = h.ready && r.detail.empty();
    r.workers_alive = h.workers_alive;
    r.workers_total = h.workers_total;
    if (r.detail.empty()) r.detail = h.detail;
  }
  return r;
}

void Engine::runner_loop(ExecutorFactory make_executor) {
  auto created = make_executor();
  {
    std::lock_guard<std::mutex> lock(mu_);
    executor_done_ = true;
    if (created.ok()) {
      executor_ = std::move(created).value();
    } else {
      executor_error_ = created.status();
      spdlog::error("engine: cannot start the model executor: {}", executor_error_.to_string());
    }
  }
  cv_.notify_all();
  wake_();
  while (true) {
    std::optional<Batch> batch;
    std::shared_ptr<BatchExecutor> ex;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return scheduler_.queue_length() > 0 || draining_; });
      // Items nobody waits for any more are dropped before batching.
      auto expired = scheduler_.expire(now_unix_ms());
      if (!expired.empty()) {
        for (auto& r : expired) outbox_.push_back(std::move(r));
        lock.unlock();
        wake_();
        lock.lock();
      }
      if (scheduler_.queue_length() == 0) {
        if (draining_) break;  // draining and idle
        continue;
      }
      if (!executor_) {
        // No executor: fail what is queued (the engine is about to exit).
        auto failed = scheduler_.fail_all(Unavailable("the model executor failed to start: {}", executor_error_.message()));
        for (auto& r : failed) outbox_.push_back(std::move(r));
        lock.unlock();
        wake_();
        continue;
      }
      batch = scheduler_.next_batch();
      ex = executor_;
      batch_running_ = true;
    }
    const auto start = Clock::now();
    Result<ItemOutcomes> result = Internal("batch {} did not run", batch->batch_id);
    try {
      result = ex->execute_model(*batch);
    } catch (const std::exception& e) {
      // A throwing executor fails this batch's requests only; the engine goes on.
      result = Internal("batch {} failed: the executor threw: {}", batch->batch_id, e.what());
    } catch (...) {
      result = Internal("batch {} failed: the executor threw a non-standard exception", batch->batch_id);
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    const double ms = static_cast<double>(elapsed.count()) / 1000.0;
    if (result.ok()) {
      const auto failed = std::count_if(result->begin(), result->end(), [](const auto& r) { return !r.ok(); });
      spdlog::debug("batch {}: {} {} item(s), {} tokens in {:.1f} ms", batch->batch_id, batch->size(), batch->modality,
                    batch->num_tokens, ms);
      if (failed > 0) spdlog::warn("batch {}: {} of {} item(s) failed on their own (only their requests fail)",
                                   batch->batch_id, failed, batch->size());
    } else {
      spdlog::error("batch {} ({} item(s)) failed: {}", batch->batch_id, batch->size(), result.status().to_string());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto done = scheduler_.complete_batch(*batch, std::move(result), elapsed);
      for (auto& r : done) outbox_.push_back(std::move(r));
      batch_running_ = false;
    }
    wake_();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    runner_exited_ = true;
  }
  wake_();
}

Status Engine::run(ExecutorFactory make_executor) {
  const std::string ep = endpoint();
  const std::string sock_path = (fs::path(options_.run_dir) / "engine.sock").string();
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  zmq::socket_t wake_rx(ctx, zmq::socket_type::pair);
  zmq::socket_t wake_tx(ctx, zmq::socket_type::pair);
  try {
    router.set(zmq::sockopt::linger, 1000);
    router.set(zmq::sockopt::sndtimeo, 5000);
    // A reply to a router that went away is dropped instead of blocking.
    router.set(zmq::sockopt::router_mandatory, false);
    std::error_code ec;
    fs::remove(sock_path, ec);  // stale from a crashed engine
    router.bind(ep);
    wake_rx.bind(kWakeEndpoint);
    wake_tx.connect(kWakeEndpoint);
  } catch (const zmq::error_t& e) {
    return Unavailable("engine: cannot bind {}: {}", ep, e.what());
  }
  spdlog::info("engine listening on {}", ep);

  // The runner pings this inproc pipe after queueing responses, so the
  // socket thread sends them at once; only the runner thread uses wake_tx.
  wake_ = [&] {
    try {
      wake_tx.send(zmq::message_t(), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
    }
  };
  std::thread runner([&] { runner_loop(make_executor); });

  std::optional<std::pair<std::string, uint64_t>> shutdown_sender;
  std::unordered_map<uint64_t, std::string> routes;
  std::optional<Clock::time_point> drain_deadline;
  Status exit_status;

  auto flush_outbox = [&] {
    std::deque<EncodeResponse> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out.swap(outbox_);
    }
    for (auto& resp : out) {
      auto it = routes.find(resp.request_id);
      if (it == routes.end()) {
        spdlog::error("engine: no route for the response to request {}", resp.request_id);
        continue;
      }
      Status st = send_message(router, resp, it->second);
      if (!st.ok()) spdlog::error("engine: cannot answer request {}: {}", resp.request_id, st.to_string());
      routes.erase(it);
    }
  };
  auto answer_error = [&](const std::string& route, uint64_t request_id, const Status& error) {
    EncodeResponse r;
    r.request_id = request_id;
    r.code = error.code();
    r.error_message = error.message();
    Status st = send_message(router, r, route);
    if (!st.ok()) spdlog::error("engine: cannot answer request {}: {}", request_id, st.to_string());
  };
  auto begin_drain = [&](std::string_view why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return;
    draining_ = true;
    drain_deadline = Clock::now() + options_.drain_timeout;
    spdlog::info("engine: {}; draining {} queued item(s)", why, scheduler_.queue_length());
    cv_.notify_all();
  };

  while (true) {
    if (stop_requested_.load()) begin_drain("stop requested");
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (executor_done_ && !executor_ && exit_status.ok()) exit_status = executor_error_;
    }
    if (!exit_status.ok()) begin_drain("the model executor failed to start");

    zmq::pollitem_t items[] = {{static_cast<void*>(router), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(wake_rx), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, 50ms);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) {
        exit_status = Unavailable("engine: poll failed: {}", e.what());
        begin_drain("socket failure");
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t m;
      while (wake_rx.recv(m, zmq::recv_flags::dontwait)) {}
    }
    {
      // Also while a long batch runs: a request past its deadline is answered
      // within one poll period, not when the batch ends.
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& r : scheduler_.expire(now_unix_ms())) outbox_.push_back(std::move(r));
    }
    flush_outbox();
    if (items[0].revents & ZMQ_POLLIN) {
      // Handle everything that is waiting.
      while (true) {
        auto got = receive_message(router, /*with_routing_id=*/true, 0ms);
        if (!got.ok() || !got->has_value()) break;
        ReceivedMessage& m = **got;
        if (!m.status.ok()) {
          spdlog::warn("engine: malformed message: {}", m.status.to_string());
          if (m.request_id) answer_error(m.routing_id, *m.request_id, InvalidArgument("malformed request: {}", m.status.message()));
          continue;
        }
        if (auto* req = std::get_if<EncodeRequest>(&m.message)) {
          const uint64_t id = req->request_id;
          Status added;
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (draining_) {
              added = Unavailable("the engine is shutting down");
            } else if (routes.count(id) != 0) {
              added = InvalidArgument("request {} is already pending (request ids must be unique)", id);
            } else {
              added = scheduler_.add_request(std::move(*req));
            }
          }
          if (!added.ok()) {
            answer_error(m.routing_id, id, added);
            continue;
          }
          routes[id] = m.routing_id;
          cv_.notify_all();
        } else if (auto* q = std::get_if<StatusQuery>(&m.message)) {
          Status st = send_message(router, status_reply(q->request_id), m.routing_id);
          if (!st.ok()) spdlog::warn("engine: cannot answer status query: {}", st.to_string());
        } else if (auto* s = std::get_if<Shutdown>(&m.message)) {
          shutdown_sender = std::make_pair(m.routing_id, s->request_id);
          begin_drain("shutdown requested");
        } else {
          spdlog::warn("engine: ignoring unexpected {} message", message_type_name(m.message));
        }
      }
    }

    bool finished = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (draining_) {
        if (drain_deadline && Clock::now() > *drain_deadline && scheduler_.pending_requests() > 0) {
          spdlog::error("engine: drain timed out; failing {} request(s)", scheduler_.pending_requests());
          for (auto& r : scheduler_.fail_all(Unavailable("the engine shut down before this request finished"))) {
            outbox_.push_back(std::move(r));
          }
          drain_deadline.reset();
        }
        finished = runner_exited_ || (scheduler_.pending_requests() == 0 && !batch_running_ && executor_done_);
      }
    }
    if (finished) break;
  }

  runner.join();
  // A batch still running past the drain deadline was failed above; its late
  // completion answers nothing twice (the scheduler dropped it).
  flush_outbox();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : scheduler_.fail_all(Unavailable("the engine shut down before this request finished"))) {
      outbox_.push_back(std::move(r));
    }
  }
  flush_outbox();
  if (shutdown_sender) {
    StatusReply ack = status_reply(shutdown_sender->second);
    ack.ready = false;
    ack.detail = "shut down";
    (void)send_message(router, ack, shutdown_sender->first);
  }
  // Release the executor (stops the workers) before the socket goes.
  {
    std::lock_guard<std::mutex> lock(mu_);
    executor_.reset();
  }
  router.close();
  wake_rx.close();
  wake_tx.close();
  ctx.close();
  std::error_code ec;
  fs::remove(sock_path, ec);
  spdlog::info("engine stopped");
  return exit_status;
}

}  // namespace eric::engine
