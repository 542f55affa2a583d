#include "hub/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace eric::hub {

namespace {
std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", b, units[u]);
}
}  // namespace

Progress::Progress(std::string what, int64_t total_bytes)
    : what_(std::move(what)), total_(total_bytes), tty_(::isatty(STDERR_FILENO) == 1) {
  start_ = last_report_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::add(int64_t bytes) {
  done_ += bytes;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  auto interval = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  if (now - last_report_ >= interval) {
    last_report_ = now;
    report(false);
  }
}

void Progress::add_total(int64_t bytes) { total_ += bytes; }

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (done_ > 0) report(true);
}

void Progress::report(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(done_.load()) / secs : 0;
  const int64_t total = total_.load(), done = done_.load();
  int pct = total > 0 ? static_cast<int>(100.0 * done / total) : 0;
  std::string line = fmt::format("{}: {:3d}% {} / {} ({}/s)", what_, pct, human_bytes(done), human_bytes(total),
                                 human_bytes(rate));
  if (tty_) {
    int width = 30, filled = total > 0 ? static_cast<int>(width * done / total) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(static_cast<size_t>(width), '.');
    std::fprintf(stderr, "\r[%s] %s%s", bar.c_str(), line.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace eric::hub
