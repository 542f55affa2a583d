// Child processes: spawning the worker executables, checking liveness and
// stopping them without leaving zombies.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace eric::executor {

// True when `pid` exists and is not a zombie (a dead child not yet reaped
// still answers kill(pid, 0), so /proc is consulted too).
bool process_alive(pid_t pid);

// fork + exec of argv[0] with argv. The child gets PR_SET_PDEATHSIG(SIGKILL),
// so it dies with the thread that spawned it, and closes inherited fds >= 3.
Result<pid_t> spawn_process(const std::vector<std::string>& argv);

// Reaps `pid` if it has exited. Returns true (and its exit description) when
// it was reaped now.
bool try_reap(pid_t pid, std::string* how);

// SIGTERM, wait up to `grace`, then SIGKILL; always reaps. Returns how it ended.
std::string stop_process(pid_t pid, std::chrono::milliseconds grace);

// "exited with code 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

}  // namespace eric::executor
