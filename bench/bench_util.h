// Helpers shared by the preprocessing benchmarks (preprocess_bench and
// video_preprocess_bench): reading their inputs and timing the two stages,
// decode then process, the same way in both. Header-only: every bench/*.cc is
// an executable of its own (bench/CMakeLists.txt).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"
#include "models/model.h"

namespace eric::bench {

inline double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The median of a non-empty sample (the upper one of an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Prints a failure to stderr; true when status failed (the bench then exits 1).
inline bool report_failure(const Status& status) {
  if (status.ok()) return false;
  fmt::print(stderr, "{}\n", status.to_string());
  return true;
}

// The whole file, or an IoError naming it.
inline Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A JSON config file; an empty path (no config given) is an empty object.
inline nlohmann::json read_json(const std::string& path) {
  if (path.empty()) return nlohmann::json::object();
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// The name the run_*_bench.sh scripts parse.
inline const char* backend_name(models::ImageProcessorBackend backend) {
  return backend == models::ImageProcessorBackend::kPillow ? "pillow" : "torchvision";
}

struct StageMedians {
  double total = 0, decode = 0, process = 0;  // milliseconds
};

// Runs decode() then process() iters + 1 times (at least twice) and returns
// the medians of every run but the first, which warms caches. Both return a
// Status; the first failure ends the timing and is returned.
template <class Decode, class Process>
Result<StageMedians> time_decode_process(int iters, Decode&& decode, Process&& process) {
  std::vector<double> total, decoding, processing;
  for (int i = 0; i < std::max(iters, 1) + 1; ++i) {
    const double t0 = now_ms();
    ERIC_RETURN_IF_ERROR(decode());
    const double t1 = now_ms();
    ERIC_RETURN_IF_ERROR(process());
    const double t2 = now_ms();
    if (i == 0) continue;
    total.push_back(t2 - t0);
    decoding.push_back(t1 - t0);
    processing.push_back(t2 - t1);
  }
  return StageMedians{median(total), median(decoding), median(processing)};
}

}  // namespace eric::bench
