#include "backend/cuda/probe_kernel.h"

namespace eric::cuda {

namespace {
__global__ void probe_kernel(int* out) { *out = 42; }
}  // namespace

cudaError_t launch_probe_kernel(int* host_value) {
  int* dev = nullptr;
  cudaError_t err = cudaMalloc(&dev, sizeof(int));
  if (err != cudaSuccess) return err;
  probe_kernel<<<1, 1>>>(dev);
  err = cudaGetLastError();
  if (err == cudaSuccess) err = cudaMemcpy(host_value, dev, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(dev);
  return err;
}

}  // namespace eric::cuda
