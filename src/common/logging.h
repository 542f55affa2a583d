// Logging goes through spdlog; this sets it up once per process.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "common/status.h"

namespace eric {

// level: trace, debug, info, warn, error, critical, off. Logs go to stderr so
// that stdout stays free for command output.
Status init_logging(std::string_view level, std::string_view process_name = "eric");

}  // namespace eric
