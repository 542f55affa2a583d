// Download progress for humans: a redrawn bar on a terminal, a log line every
// few seconds otherwise (so CI logs and journald stay readable).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace eric::hub {

class Progress {
 public:
  Progress(std::string what, int64_t total_bytes);
  ~Progress();
  void add(int64_t bytes);        // thread-safe
  void add_total(int64_t bytes);  // more work discovered (thread-safe)
  void finish();

 private:
  void report(bool final);
  std::string what_;
  std::atomic<int64_t> total_;
  std::atomic<int64_t> done_{0};
  bool tty_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_, last_report_;
  bool finished_ = false;
};

}  // namespace eric::hub
