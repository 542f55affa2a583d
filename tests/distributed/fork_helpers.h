// Runs a function in forked child processes and collects their exit codes,
// with a deadline so a hung child fails the test instead of hanging it.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

namespace eric::testing {

// Forks one child per call of `body(i)` for i in [0, n); a child's exit code is
// body's return value. Returns the exit codes (or 128+signal, or -1 when the
// child had to be killed at the deadline).
inline std::vector<int> run_forked(int n, const std::function<int(int)>& body,
                                   std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int code = 1;
      try {
        code = body(i);
      } catch (...) {
        code = 99;
      }
      _exit(code);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes(n, -1);
  const auto end = std::chrono::steady_clock::now() + deadline;
  int remaining = n;
  while (remaining > 0 && std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < n; ++i) {
      if (pids[i] == 0) continue;
      int status = 0;
      if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pids[i] = 0;
        --remaining;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (int i = 0; i < n; ++i) {
    if (pids[i] != 0) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], nullptr, 0);
    }
  }
  return codes;
}

}  // namespace eric::testing
