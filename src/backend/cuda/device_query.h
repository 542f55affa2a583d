// Which CUDA devices this process can see.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace eric::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  size_t total_memory_bytes = 0;
  int multiprocessors = 0;
};

// Lists visible devices. A machine without a GPU or driver returns
// Unavailable with the CUDA runtime's explanation.
Result<std::vector<DeviceInfo>> list_devices();

// The CUDA runtime version this binary was built against, e.g. "13.0".
std::string runtime_version();

}  // namespace eric::cuda
