#include "backend/cuda/cuda_error.h"

#include <mutex>

namespace eric::cuda {

namespace {
struct LostRecord {
  std::mutex mu;
  Status why;  // Ok until the first record
};
LostRecord& lost_record() {
  static LostRecord r;
  return r;
}
}  // namespace

bool is_sticky_error(cudaError_t err) {
  // The errors whose documentation (driver_types.h, CUDA 13.0) says the
  // process must be terminated and relaunched, plus an uncorrectable ECC
  // error, after which the driver wants the device reset.
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorTensorMemoryLeak:
    case cudaErrorContained:
    case cudaErrorMpsClientTerminated:
    case cudaErrorExternalDevice:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

void note_context_lost(const Status& why) {
  if (why.ok()) return;
  LostRecord& r = lost_record();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.why.ok()) r.why = Unavailable("{}", why.message());
}

Status context_lost() {
  LostRecord& r = lost_record();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.why;
}

Status cuda_status(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return Status::Ok();
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so later calls are unaffected
    return ResourceExhausted("CUDA {}: {}", what, cudaGetErrorString(err));
  }
  if (is_sticky_error(err)) {
    Status st = Unavailable("CUDA {}: {} ({}); this process's GPU context is lost, only a new process recovers it",
                            what, cudaGetErrorName(err), cudaGetErrorString(err));
    note_context_lost(st);
    return st;
  }
  return Internal("CUDA {}: {} ({})", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

}  // namespace eric::cuda
