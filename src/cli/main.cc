// The `eric` executable. All processes (router, engine, workers, sidecar) are
// this binary started with different subcommands.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/logging.h"
#include "common/thread_pool.h"

int main(int argc, char** argv) {
  CLI::App app{"eric: a multimodal encoder server"};
  app.require_subcommand(1);
  std::string log_level = "info";
  int threads = 0;
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str();
  app.add_option("--threads", threads, "compute threads for this process (0: all cores)")->capture_default_str();
  app.parse_complete_callback([&] {
    eric::Status st = eric::init_logging(log_level);
    if (!st.ok()) throw CLI::ValidationError("--log-level", st.message());
    eric::ThreadPool::set_global_threads(threads);
  });

  for (auto add : eric::cli::command_registry()) add(app);

  CLI11_PARSE(app, argc, argv);
  return 0;
}
