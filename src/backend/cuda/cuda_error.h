// CUDA runtime errors as eric Status, naming the operation that failed.
#pragma once

#include <cuda_runtime.h>

#include <string_view>

#include "common/status.h"

namespace eric::cuda {

inline Status cuda_status(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return Status::Ok();
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so later calls are unaffected
    return ResourceExhausted("CUDA {}: {}", what, cudaGetErrorString(err));
  }
  return Internal("CUDA {}: {} ({})", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

}  // namespace eric::cuda

#define ERIC_CUDA_RETURN_IF_ERROR(call, what) ERIC_RETURN_IF_ERROR(::eric::cuda::cuda_status((call), (what)))
