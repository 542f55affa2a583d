// The router's side of the router <-> engine protocol: one DEALER socket,
// owned by one dedicated thread (ZeroMQ sockets are not thread-safe). Any
// thread may submit; each request gets a router-chosen request_id and its
// callback fires exactly once: with the engine's answer, with a timeout, or
// with Unavailable when the engine died (mark_dead) or the client closes.
//
// Callbacks run on the client's thread and must return quickly (hand heavy
// work to another pool).
//
// Engine restarts: mark_dead() fails everything pending and refuses new
// encode requests; status queries still go out (they time out while no
// engine listens), so the supervisor can watch a restarted engine load.
// reconnect() gives the client a fresh socket for the new engine (nothing of
// the old connection is reused), and mark_alive() accepts encodes again.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "engine/protocol.h"

namespace eric::router {

struct EngineClientOptions {
  std::string endpoint;  // e.g. "ipc:///run/user/1000/eric-XXXX/engine.sock"
  // Time an encode request may take from submission to answer.
  std::chrono::milliseconds request_timeout{std::chrono::minutes(5)};
};

class EngineClient {
 public:
  using EncodeCallback = std::function<void(Result<engine::EncodeResponse>)>;
  using StatusCallback = std::function<void(Result<engine::StatusReply>)>;

  static Result<std::unique_ptr<EngineClient>> connect(EngineClientOptions options);
  // Fails whatever is still pending with Unavailable and joins the thread.
  ~EngineClient();
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // Sets request.request_id and sends it. The request fails after `timeout`
  // or the client's request_timeout, whichever is shorter (0: the latter).
  void submit(engine::EncodeRequest request, EncodeCallback done,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  void query_status(StatusCallback done, std::chrono::milliseconds timeout);
  // Asks the engine to finish and exit; the answer is not awaited.
  void send_shutdown();

  // The engine is gone: every pending request and every later encode
  // request fails with Unavailable carrying `reason` (until mark_alive()).
  void mark_dead(const std::string& reason);
  // Replaces the socket with a new one connected to the same endpoint (for a
  // restarted engine); returns once the new socket is in place.
  void reconnect();
  // A restarted engine is ready: encode requests are sent again. A non-empty
  // `probation` (an engine in a crash loop) is reported by probation() until
  // the engine answers an encode request successfully, so /health stays 503
  // instead of flapping while requests still reach the engine.
  void mark_alive(const std::string& probation = "");
  std::string probation() const;
  bool dead() const;
  // Requests sent and not yet answered.
  size_t pending() const;

 private:
  struct Impl;
  explicit EngineClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eric::router
