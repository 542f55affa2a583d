#include "router/engine_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace eric::router {

Result<std::unique_ptr<EngineProcess>> EngineProcess::spawn(const std::vector<std::string>& argv) {
  if (argv.empty()) return InvalidArgument("engine command line is empty");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) return IoError("fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    // The router blocks SIGINT/SIGTERM in its threads to wait for them
    // synchronously; the engine must get the default dispositions back.
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    // Its own process group: a Ctrl-C in the terminal reaches only the
    // router, which drains first and then stops the engine itself.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the router died before prctl took effect
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return std::unique_ptr<EngineProcess>(new EngineProcess(pid));
}

EngineProcess::~EngineProcess() {
  if (!exit_ && !poll_exit()) {
    signal(SIGKILL);
    wait_exit(std::chrono::seconds(5));
  }
}

namespace {
std::string describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  return fmt::format("ended with wait status {}", status);
}
}  // namespace

std::optional<std::string> EngineProcess::poll_exit() {
  if (exit_) return exit_;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_ = describe(status);
  } else if (r < 0 && errno == ECHILD) {
    exit_ = "ended (already reaped)";
  }
  return exit_;
}

std::optional<std::string> EngineProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!poll_exit()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_;
}

void EngineProcess::signal(int sig) {
  if (!exit_) ::kill(pid_, sig);
}

}  // namespace eric::router
