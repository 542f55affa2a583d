// Row gathers/scatters for Qwen2.5-VL's window reordering (the device side
// of models/qwen2_5_vl/window_index.h). Dtype-agnostic: a group of rows is
// contiguous, so it moves as a run of bytes, in 16-byte units where the group
// size and both base pointers allow (else 8, 4 or 2 bytes: every float
// dtype's row is a whole number of 2-byte units). Each block copies whole
// groups (threadIdx.y picks the group, threadIdx.x walks its units, kUnroll
// units in flight per thread); the element-per-thread version with a 64-bit
// division and modulo per 2-byte unit ran at 21% of the copy rate.
#include "backend/cuda/kernel_util.cuh"
#include "backend/cuda/kernels.h"

namespace eric::cuda::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// Group g of the output (gather: from source group index[g]) or of the input
// (scatter: to destination group index[g]), `units` Units each.
template <typename Unit>
__global__ void reorder_kernel(Unit* out, const Unit* x, const int32_t* index, int64_t groups, int64_t units,
                               bool scatter) {
  const int64_t step = int64_t{gridDim.x} * blockDim.y;
  for (int64_t g = int64_t{blockIdx.x} * blockDim.y + threadIdx.y; g < groups; g += step) {
    const int64_t self = g * units, other = int64_t{index[g]} * units;
    Unit* dst = out + (scatter ? other : self);
    const Unit* src = x + (scatter ? self : other);
    for (int64_t u = threadIdx.x; u < units; u += int64_t{blockDim.x} * kUnroll) {
      Unit v[kUnroll];
#pragma unroll
      for (int k = 0; k < kUnroll; ++k) {
        const int64_t i = u + int64_t{k} * blockDim.x;
        if (i < units) v[k] = src[i];
      }
#pragma unroll
      for (int k = 0; k < kUnroll; ++k) {
        const int64_t i = u + int64_t{k} * blockDim.x;
        if (i < units) dst[i] = v[k];
      }
    }
  }
}

template <typename Unit>
cudaError_t launch(void* out, const void* x, const int32_t* index, int64_t groups, int64_t group_bytes, bool scatter,
                   cudaStream_t s) {
  const int64_t units = group_bytes / static_cast<int64_t>(sizeof(Unit));
  const int64_t per_thread = (units + kUnroll - 1) / kUnroll;
  const int bx = static_cast<int>(per_thread >= kThreads ? kThreads : (per_thread + 31) / 32 * 32);
  const int by = kThreads / bx;
  const int64_t blocks = (groups + by - 1) / by;
  const dim3 block(static_cast<unsigned>(bx), static_cast<unsigned>(by));
  reorder_kernel<Unit><<<static_cast<unsigned>(blocks < INT32_MAX ? blocks : INT32_MAX), block, 0, s>>>(
      static_cast<Unit*>(out), static_cast<const Unit*>(x), index, groups, units, scatter);
  return cudaGetLastError();
}

// Whether groups of `group_bytes` at both bases split into `unit`-byte units.
bool units_of(int64_t unit, const void* out, const void* x, int64_t group_bytes) {
  return group_bytes % unit == 0 && reinterpret_cast<uintptr_t>(out) % unit == 0 &&
         reinterpret_cast<uintptr_t>(x) % unit == 0;
}
}  // namespace

cudaError_t reorder_rows(void* out, const void* x, const int32_t* index, int64_t groups, int64_t group_bytes,
                         bool scatter, cudaStream_t s) {
  if (groups == 0 || group_bytes == 0) return cudaSuccess;
  if (units_of(16, out, x, group_bytes)) return launch<uint4>(out, x, index, groups, group_bytes, scatter, s);
  if (units_of(8, out, x, group_bytes)) return launch<uint2>(out, x, index, groups, group_bytes, scatter, s);
  if (units_of(4, out, x, group_bytes)) return launch<uint32_t>(out, x, index, groups, group_bytes, scatter, s);
  if (units_of(2, out, x, group_bytes)) return launch<uint16_t>(out, x, index, groups, group_bytes, scatter, s);
  return cudaErrorInvalidValue;  // an odd byte count or base: not rows of a float dtype
}

}  // namespace eric::cuda::kernels
