// CUDA runtime errors as eric Status, naming the operation that failed, and
// the process-wide record of a lost GPU context.
//
// Some errors are sticky: after a kernel's illegal access, a device-side
// assert, an uncorrectable ECC error and the like, CUDA's documentation says
// "any further CUDA work will return the same error. To continue using CUDA,
// the process must be terminated and relaunched". cuda_status reports them
// as Unavailable and records the first one; a worker that finds the record
// set after a batch stops, so that its supervisor starts a fresh process on a
// fresh context instead of failing every later batch.
#pragma once

#include <cuda_runtime.h>

#include <string_view>

#include "common/status.h"

namespace eric::cuda {

// Whether `err` leaves this process's CUDA context unusable.
bool is_sticky_error(cudaError_t err);

// Records that the GPU context (or a communicator built on it) is unusable;
// the first record wins. Thread-safe.
void note_context_lost(const Status& why);
// Ok while nothing was recorded; otherwise the first record (Unavailable).
Status context_lost();

// err as a Status: Ok, ResourceExhausted for an allocation failure (not
// sticky: cleared here so later calls are unaffected), Unavailable for a
// sticky error (recorded), Internal otherwise.
Status cuda_status(cudaError_t err, std::string_view what);

}  // namespace eric::cuda

#define ERIC_CUDA_RETURN_IF_ERROR(call, what) ERIC_RETURN_IF_ERROR(::eric::cuda::cuda_status((call), (what)))
