// Checks shared by the executor tests (model_executor_test, engine_server_test).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "tensor/tensor.h"

namespace eric::testing {

// ||got - want|| / ||want|| over two float32 tensors of one size.
inline double rel_error(const Tensor& got, const Tensor& want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double d = double(got.data<float>()[i]) - want.data<float>()[i];
    num += d * d;
    den += double(want.data<float>()[i]) * want.data<float>()[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// How many shared-memory segments this process created (their names carry its pid).
inline int our_shm_segments() {
  int n = 0;
  const std::string prefix = "eric-" + std::to_string(::getpid()) + "-";
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  }
  return n;
}

}  // namespace eric::testing
