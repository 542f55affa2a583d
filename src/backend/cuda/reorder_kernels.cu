// Row gathers/scatters for Qwen2.5-VL's window reordering (the device side
// of models/qwen2_5_vl/window_index.h). Dtype-agnostic: rows move as 16-bit
// units (every float dtype's row is a whole number of them).
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {
namespace {

// Unit i of output group g: gather reads source group index[g]; scatter
// writes destination group index[g].
__global__ void reorder_kernel(uint16_t* out, const uint16_t* x, const int32_t* index, int64_t groups,
                               int64_t group_units, bool scatter) {
  const int64_t n = groups * group_units;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t g = i / group_units, u = i % group_units;
    const int64_t other = int64_t{index[g]} * group_units + u;
    if (scatter) {
      out[other] = x[i];
    } else {
      out[i] = x[other];
    }
  }
}
}  // namespace

cudaError_t reorder_rows(void* out, const void* x, const int32_t* index, int64_t groups, int64_t group_bytes,
                         bool scatter, cudaStream_t s) {
  if (groups == 0 || group_bytes == 0) return cudaSuccess;
  if (group_bytes % 2 != 0) return cudaErrorInvalidValue;
  const int64_t units = group_bytes / 2;
  reorder_kernel<<<detail::grid_for(groups * units, 256), 256, 0, s>>>(
      static_cast<uint16_t*>(out), static_cast<const uint16_t*>(x), index, groups, units, scatter);
  return cudaGetLastError();
}

}  // namespace eric::cuda::kernels
