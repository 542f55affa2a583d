#include <spdlog/spdlog.h>

#include "cli/commands.h"

namespace eric::cli {

std::vector<CommandAdder>& command_registry() {
  static std::vector<CommandAdder> registry;
  return registry;
}

void fail(const Status& status) {
  spdlog::error("{}", status.to_string());
  throw CLI::RuntimeError(1);
}

}  // namespace eric::cli
