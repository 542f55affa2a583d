// The engine child process: started with fork + exec (of this same binary,
// /proc/self/exe, with the internal `engine` subcommand), watched for exit,
// stopped. The child is told by the kernel to die with the router
// (PR_SET_PDEATHSIG), so a crashed router leaves no orphan engine behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace eric::router {

class EngineProcess {
 public:
  // argv[0] is the program; spawn() must be called from a thread that lives
  // as long as the child (the death signal follows the forking thread).
  static Result<std::unique_ptr<EngineProcess>> spawn(const std::vector<std::string>& argv);
  ~EngineProcess();  // kills and reaps a child still running

  pid_t pid() const { return pid_; }
  // How the child ended ("exited with code 1", "killed by signal 9 (Killed)"),
  // or nullopt while it runs. Never blocks.
  std::optional<std::string> poll_exit();
  // Waits up to `timeout` for the child to end.
  std::optional<std::string> wait_exit(std::chrono::milliseconds timeout);
  void signal(int sig);

 private:
  explicit EngineProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<std::string> exit_;
};

}  // namespace eric::router
