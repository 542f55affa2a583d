#include "router/engine_client.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "engine/zmq_transport.h"

namespace eric::router {

using Clock = std::chrono::steady_clock;

namespace {

struct Pending {
  std::variant<EngineClient::EncodeCallback, EngineClient::StatusCallback> done;
  Clock::time_point deadline;
};

// Fires a pending entry's callback with an error.
void fail(Pending& p, const Status& status) {
  if (auto* cb = std::get_if<EngineClient::EncodeCallback>(&p.done)) {
    (*cb)(status);
  } else {
    std::get<EngineClient::StatusCallback>(p.done)(status);
  }
}

}  // namespace

struct EngineClient::Impl {
  EngineClientOptions options;
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  int wake_fd = -1;  // eventfd: submitters wake the socket thread through it
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{1};

  mutable std::mutex mu;
  std::deque<engine::Message> outbox;
  std::unordered_map<uint64_t, Pending> pending;
  bool is_dead = false;
  std::string dead_reason;
  std::string probation;  // see EngineClient::probation()
  bool reconnect_requested = false;
  std::condition_variable reconnect_done;

  ~Impl() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void wake() {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd, &one, sizeof(one));
    (void)n;  // the counter saturating still leaves the fd readable
  }

  // Registers a callback and queues its message; fails at once when dead
  // (status queries excepted: they probe a restarting engine).
  void enqueue(uint64_t id, Pending entry, engine::Message message) {
    std::string reason;
    const bool probe = std::holds_alternative<engine::StatusQuery>(message);
    {
      std::lock_guard<std::mutex> lock(mu);
      if ((!is_dead || probe) && !stopping.load()) {
        pending.emplace(id, std::move(entry));
        outbox.push_back(std::move(message));
        wake();
        return;
      }
      reason = is_dead ? "the engine stopped: " + dead_reason : "the router is shutting down";
    }
    fail(entry, Unavailable("{}", reason));
  }

  std::optional<Pending> take(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(id);
    if (it == pending.end()) return std::nullopt;
    Pending p = std::move(it->second);
    pending.erase(it);
    return p;
  }

  void fail_everything(const Status& status) {
    std::unordered_map<uint64_t, Pending> victims;
    {
      std::lock_guard<std::mutex> lock(mu);
      victims.swap(pending);
      outbox.clear();
    }
    for (auto& [id, p] : victims) fail(p, status);
  }

  void send_outbox() {
    std::deque<engine::Message> batch;
    {
      std::lock_guard<std::mutex> lock(mu);
      batch.swap(outbox);
    }
    for (auto& message : batch) {
      uint64_t id = std::visit([](const auto& m) { return m.request_id; }, message);
      Status st = engine::send_message(socket, message);
      if (!st.ok()) {
        if (auto p = take(id)) fail(*p, st.with_context("sending to the engine"));
      }
    }
  }

  void dispatch(engine::ReceivedMessage received) {
    if (!received.status.ok()) {
      spdlog::error("undecodable message from the engine: {}", received.status.to_string());
      if (received.request_id) {
        if (auto p = take(*received.request_id)) fail(*p, received.status.with_context("engine answer"));
      }
      return;
    }
    if (auto* response = std::get_if<engine::EncodeResponse>(&received.message)) {
      if (response->code == ErrorCode::kOk) {
        std::lock_guard<std::mutex> lock(mu);
        probation.clear();  // the engine works again
      }
      auto p = take(response->request_id);
      if (!p) return;  // timed out earlier: the late answer has nobody waiting
      if (auto* cb = std::get_if<EncodeCallback>(&p->done)) {
        (*cb)(std::move(*response));
      } else {
        fail(*p, Internal("engine answered status query {} with an encode response", response->request_id));
      }
      return;
    }
    if (auto* reply = std::get_if<engine::StatusReply>(&received.message)) {
      auto p = take(reply->request_id);
      if (!p) return;
      if (auto* cb = std::get_if<StatusCallback>(&p->done)) {
        (*cb)(std::move(*reply));
      } else {
        fail(*p, Internal("engine answered encode request {} with a status reply", reply->request_id));
      }
      return;
    }
    spdlog::warn("unexpected {} message from the engine", engine::message_type_name(received.message));
  }

  void expire(Clock::time_point now) {
    std::vector<std::pair<uint64_t, Pending>> expired;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = pending.begin(); it != pending.end();) {
        if (it->second.deadline <= now) {
          expired.emplace_back(it->first, std::move(it->second));
          it = pending.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& [id, p] : expired) fail(p, DeadlineExceeded("the engine did not answer request {} in time", id));
  }

  // Creates and connects the DEALER socket (on the client's thread, or
  // before it starts).
  Status open_socket() {
    try {
      socket = zmq::socket_t(context, zmq::socket_type::dealer);
      socket.set(zmq::sockopt::linger, 0);
      socket.set(zmq::sockopt::sndhwm, 100000);
      socket.set(zmq::sockopt::rcvhwm, 100000);
      socket.set(zmq::sockopt::sndtimeo, 1000);
      socket.connect(options.endpoint);
    } catch (const zmq::error_t& e) {
      return Unavailable("cannot connect to the engine at {}: {}", options.endpoint, e.what());
    }
    return Status::Ok();
  }

  // Runs a requested reconnect on the socket thread.
  void maybe_reconnect() {
    std::lock_guard<std::mutex> lock(mu);
    if (!reconnect_requested) return;
    reconnect_requested = false;
    socket.close();
    Status st = open_socket();
    if (!st.ok()) spdlog::error("engine client: {}", st.to_string());
    reconnect_done.notify_all();
  }

  void loop() {
    while (!stopping.load()) {
      maybe_reconnect();
      send_outbox();
      zmq::pollitem_t items[2] = {{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd, ZMQ_POLLIN, 0}};
      try {
        // The timeout bounds how late deadlines are noticed.
        zmq::poll(items, 2, std::chrono::milliseconds(50));
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        spdlog::error("engine client poll failed: {}", e.what());
        break;
      }
      if (items[1].revents & ZMQ_POLLIN) {
        uint64_t count;
        ssize_t n = ::read(wake_fd, &count, sizeof(count));
        (void)n;
      }
      if (items[0].revents & ZMQ_POLLIN) {
        for (;;) {
          auto received = engine::receive_message(socket, /*with_routing_id=*/false, std::chrono::milliseconds(0));
          if (!received.ok()) {
            spdlog::error("engine client receive failed: {}", received.status().to_string());
            break;
          }
          if (!received->has_value()) break;
          dispatch(std::move(**received));
        }
      }
      expire(Clock::now());
    }
  }
};

EngineClient::EngineClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<EngineClient>> EngineClient::connect(EngineClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake_fd < 0) return IoError("eventfd failed: {}", std::strerror(errno));
  ERIC_RETURN_IF_ERROR(impl->open_socket());
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<EngineClient>(new EngineClient(std::move(impl)));
}

EngineClient::~EngineClient() {
  impl_->stopping = true;
  impl_->wake();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->fail_everything(Unavailable("the router is shutting down"));
}

void EngineClient::submit(engine::EncodeRequest request, EncodeCallback done, std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0 || timeout > impl_->options.request_timeout) timeout = impl_->options.request_timeout;
  uint64_t id = impl_->next_id.fetch_add(1);
  request.request_id = id;
  impl_->enqueue(id, Pending{std::move(done), Clock::now() + timeout}, engine::Message(std::move(request)));
}

void EngineClient::query_status(StatusCallback done, std::chrono::milliseconds timeout) {
  uint64_t id = impl_->next_id.fetch_add(1);
  impl_->enqueue(id, Pending{std::move(done), Clock::now() + timeout}, engine::Message(engine::StatusQuery{id}));
}

void EngineClient::send_shutdown() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->is_dead) return;
  impl_->outbox.push_back(engine::Message(engine::Shutdown{impl_->next_id.fetch_add(1)}));
  impl_->wake();
}

void EngineClient::mark_dead(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->is_dead) return;
    impl_->is_dead = true;
    impl_->dead_reason = reason;
  }
  impl_->fail_everything(Unavailable("the engine stopped: {}", reason));
}

void EngineClient::reconnect() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->reconnect_requested = true;
  impl_->outbox.clear();  // meant for the old engine
  impl_->wake();
  // Bounded: a socket thread that died on a poll failure must not hang the supervisor.
  if (!impl_->reconnect_done.wait_for(lock, std::chrono::seconds(5),
                                      [&] { return !impl_->reconnect_requested || impl_->stopping.load(); })) {
    spdlog::error("engine client: the socket thread did not reconnect to {} within 5 s", impl_->options.endpoint);
  }
}

void EngineClient::mark_alive(const std::string& probation) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->is_dead = false;
  impl_->dead_reason.clear();
  impl_->probation = probation;
}

std::string EngineClient::probation() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->probation;
}

bool EngineClient::dead() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->is_dead;
}

size_t EngineClient::pending() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pending.size();
}

}  // namespace eric::router
