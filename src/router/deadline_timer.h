// One thread that runs callbacks at given times, for request deadlines: the
// router answers 504 when a request's deadline passes, whatever its
// preprocessing (e.g. a stalled download) or the engine is doing. Requests
// that finish first cancel their timer, so nothing waits for long-gone
// requests. Callbacks run on the timer thread, outside its lock, and must be
// quick (answering through a Responder is).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace eric::router {

class DeadlineTimer {
 public:
  using Clock = std::chrono::steady_clock;

  DeadlineTimer();
  // Joins the thread; callbacks not yet due are dropped without running.
  ~DeadlineTimer();
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Runs `fn` at `when` (at once if it has passed) unless cancelled first.
  // Returns the id for cancel().
  uint64_t schedule(Clock::time_point when, std::function<void()> fn);
  // Drops a timer that has not fired; a no-op for one that fired or is unknown.
  void cancel(uint64_t id);
  // Timers scheduled and not yet fired or cancelled.
  size_t pending() const;

 private:
  void loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  std::multimap<Clock::time_point, std::pair<uint64_t, std::function<void()>>> due_;
  std::unordered_map<uint64_t, decltype(due_)::iterator> by_id_;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace eric::router
