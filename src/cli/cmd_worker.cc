// `eric worker ...` (internal): one tensor-parallel worker process, started by
// the engine's ModelExecutor. Options are the executor's (see
// executor/worker.h); users never run this directly.
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "executor/worker.h"

namespace eric::cli {

namespace {
void add_worker_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("worker", "(internal) a model worker process started by the engine");
  cmd->group("");  // hidden from --help
  cmd->allow_extras();
  cmd->callback([cmd] {
    auto options = executor::parse_worker_args(cmd->remaining());
    if (!options.ok()) fail(options.status());
    Status st = executor::run_worker(*options);
    if (!st.ok()) fail(st);
  });
}
}  // namespace

ERIC_REGISTER_COMMAND(add_worker_command);

}  // namespace eric::cli
