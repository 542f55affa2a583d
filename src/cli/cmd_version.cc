// `eric version`: version, build configuration and visible devices.
#include <fmt/format.h>

#include "cli/commands.h"
#include "common/thread_pool.h"
#ifdef ERIC_HAVE_CUDA
#include "backend/cuda/device_query.h"
#endif

#ifndef ERIC_VERSION
#define ERIC_VERSION "unknown"
#endif
#ifndef ERIC_BUILD_TYPE
#define ERIC_BUILD_TYPE "unknown"
#endif

namespace eric::cli {

namespace {
void add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "print version, build configuration and devices");
  cmd->callback([] {
    fmt::print("eric {}\n", ERIC_VERSION);
    fmt::print("build: {}, C++{}\n", ERIC_BUILD_TYPE, __cplusplus / 100 % 100);
    fmt::print("cpu threads: {}\n", ThreadPool::global().num_threads());
#ifdef ERIC_HAVE_CUDA
    fmt::print("cuda: built with runtime {}\n", cuda::runtime_version());
    auto devices = cuda::list_devices();
    if (!devices.ok()) {
      fmt::print("cuda devices: none ({})\n", devices.status().message());
    } else {
      for (const auto& d : *devices) {
        fmt::print("cuda:{}: {} (sm_{}{}, {} SMs, {:.1f} GiB)\n", d.index, d.name, d.compute_major,
                   d.compute_minor, d.multiprocessors, d.total_memory_bytes / double(1 << 30));
      }
    }
#else
    fmt::print("cuda: not built\n");
#endif
  });
}
}  // namespace

ERIC_REGISTER_COMMAND(add_version_command);

}  // namespace eric::cli
