// A one-thread kernel that writes 42: proves device code is built, linked and
// launchable. Kept free of eric headers so nvcc compiles only CUDA code.
#pragma once

#include <cuda_runtime.h>

namespace eric::cuda {
cudaError_t launch_probe_kernel(int* host_value);
}  // namespace eric::cuda
