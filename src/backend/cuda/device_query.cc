#include <cuda_runtime.h>

#include "backend/cuda/device_query.h"
#include "backend/cuda/probe_kernel.h"

namespace eric::cuda {


Result<std::vector<DeviceInfo>> list_devices() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return Unavailable("no CUDA device: {}", cudaGetErrorString(err));
  }
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, i);
    if (err != cudaSuccess) return Unavailable("CUDA device {}: {}", i, cudaGetErrorString(err));
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.compute_major = prop.major;
    d.compute_minor = prop.minor;
    d.total_memory_bytes = prop.totalGlobalMem;
    d.multiprocessors = prop.multiProcessorCount;
    out.push_back(d);
  }
  if (!out.empty()) {
    // Prove that our own device code runs on device 0.
    int value = 0;
    err = launch_probe_kernel(&value);
    if (err != cudaSuccess) return Unavailable("CUDA probe kernel failed: {}", cudaGetErrorString(err));
    if (value != 42) return Internal("CUDA probe kernel returned {} instead of 42", value);
  }
  return out;
}

std::string runtime_version() {
  return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
}

}  // namespace eric::cuda
