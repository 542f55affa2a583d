// Every `eric` subcommand lives in its own cmd_<name>.cc and registers itself
// with ERIC_REGISTER_COMMAND(fn), where fn(CLI::App&) adds the subcommand.
// (The cmd_*.cc files are compiled straight into the executable, so the
// registrars are never dropped by the linker.) A subcommand's callback
// reports failure with fail(status), which logs and exits with code 1.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

#include "common/status.h"

namespace eric::cli {

using CommandAdder = void (*)(CLI::App& app);

std::vector<CommandAdder>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(CommandAdder adder) { command_registry().push_back(adder); }
};

// Logs a failed Status and exits the subcommand with code 1.
[[noreturn]] void fail(const Status& status);

}  // namespace eric::cli

#define ERIC_REGISTER_COMMAND(fn) \
  static ::eric::cli::CommandRegistrar ERIC_CONCAT(eric_command_registrar_, __LINE__)(fn)
