// Helpers for tests that run the real `eric` executable: run a command to
// completion, start `eric serve` in the background, find its descendants.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "../common/free_port.h"
#include "common/status.h"

namespace eric::integration {

// The eric binary under test.
std::string eric_binary();

// Runs argv to completion with stdout+stderr appended to `log`; returns the exit code.
int run_command(const std::vector<std::string>& argv, const std::string& log);

// A free loopback TCP port (tests/common/free_port.h).
using testing::free_port;

// Writes a 24-bit BMP with a deterministic pattern seeded by `seed`.
void write_test_bmp(const std::string& path, int width, int height, int seed);

// pids of every live process whose parent chain reaches `root` (not root itself).
std::vector<pid_t> descendants(pid_t root);
// pids of the live processes whose parent is `parent`.
std::vector<pid_t> children(pid_t parent);
bool process_alive(pid_t pid);  // exists and is not a zombie

// A background `eric serve` with its log in a file.
class ServeProcess {
 public:
  ServeProcess(std::vector<std::string> args, std::string log_path, std::string runtime_dir);
  ~ServeProcess();  // SIGKILLs it (and its process group) if still running

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  std::string log() const;
  // Polls GET /health until 200 or the timeout; false when the server died.
  bool wait_healthy(std::chrono::seconds timeout);
  // Sends `sig` and waits for exit; returns the exit code (-signal when killed), or nullopt on timeout.
  std::optional<int> stop(int sig, std::chrono::seconds timeout);

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_path_;
};

}  // namespace eric::integration
