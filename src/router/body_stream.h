// A response body produced over time — e.g. an LLM server's answer proxied
// as it arrives (server-sent events for "stream": true). The producer writes
// pieces from any thread; the HTTP server sends each piece as an HTTP/1.1
// chunk as soon as the connection is free, so the client sees it at once.
// Nothing here blocks: the producer never waits for the client (pieces queue
// up in memory, at most max_pending bytes: a client that stops reading while
// more keeps coming gets its answer cut short and the producer is cancelled)
// and the server is told when there is more to send.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <cstddef>
#include <string>

namespace eric::router {

class BodyStream {
 public:
  static constexpr size_t kDefaultMaxPending = 64u << 20;
  explicit BodyStream(size_t max_pending = kDefaultMaxPending) : max_pending_(max_pending) {}

  // ---- producer side (any thread) -------------------------------------------
  void write(std::string data);  // ignored once finished, failed or cancelled
  void finish();                 // the body is complete
  // The body cannot be completed (e.g. the upstream connection broke): the
  // connection is closed without the final chunk, so the client sees a
  // truncated answer rather than a complete-looking one.
  void fail();
  // True once the client went away; the producer should stop.
  bool cancelled() const;
  // `fn` runs once when the client goes away (at once if it already has).
  void on_cancel(std::function<void()> fn);

  // ---- consumer side (the HTTP server) -----------------------------------
  struct Taken {
    std::string data;       // what was written since the last take()
    bool finished = false;  // and nothing will follow
    bool failed = false;
  };
  // Takes what is queued. When it finds nothing to do, the next write(),
  // finish() or fail() calls the notifier (on the producer's thread).
  Taken take();
  void set_notifier(std::function<void()> notify);
  void cancel();  // the client went away

 private:
  const size_t max_pending_;
  mutable std::mutex mu_;
  std::string pending_;
  bool finished_ = false;
  bool failed_ = false;
  bool cancelled_ = false;
  bool waiting_ = false;  // the consumer found nothing and wants a notification
  std::function<void()> notify_;
  std::function<void()> on_cancel_;
  void wake(std::unique_lock<std::mutex>& lock);
};

}  // namespace eric::router
