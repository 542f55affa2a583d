// The executor tests' main. The tests start worker processes by re-executing
// this binary as `<binary> worker <options>`, so the workers have the test
// model family registered, exactly like `eric worker` has the real ones.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "executor/worker.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "worker") {
    std::vector<std::string> args(argv + 2, argv + argc);
    auto options = eric::executor::parse_worker_args(args);
    if (!options.ok()) {
      spdlog::error("{}", options.status().to_string());
      return 2;
    }
    eric::Status st = eric::executor::run_worker(*options);
    if (!st.ok()) {
      spdlog::error("{}", st.to_string());
      return 1;
    }
    return 0;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
