// The server's private run folder (sockets and other per-server files):
// <base>/eric-XXXXXX, mode 0700, with base $XDG_RUNTIME_DIR when usable, else
// /tmp. It records the owning router's pid, so a later server can tell
// folders left by a crashed one from folders of a server still running and
// remove only the former.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace eric::router {

// $XDG_RUNTIME_DIR if it is an existing writable folder, else "/tmp".
std::string run_dir_base();

// Creates a fresh run folder under `base` owned by this process.
Result<std::string> create_run_dir(const std::string& base);

// Removes eric-* folders under `base` whose owner process is gone. Returns
// the folders removed.
std::vector<std::string> remove_stale_run_dirs(const std::string& base);

// Removes the folder and everything in it.
Status remove_run_dir(const std::string& path);

}  // namespace eric::router
