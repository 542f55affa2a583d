// CUDA errors as Status and the record of a lost context (cuda_error.h):
// pure bookkeeping on the runtime's error codes, so it runs without a GPU.
#include <gtest/gtest.h>

#include "backend/cuda/cuda_error.h"

namespace eric::cuda {
namespace {

TEST(CudaError, StickyErrorsAreTheOnesThatNeedANewProcess) {
  for (cudaError_t e : {cudaErrorIllegalAddress, cudaErrorLaunchFailure, cudaErrorAssert, cudaErrorMisalignedAddress,
                        cudaErrorIllegalInstruction, cudaErrorHardwareStackError, cudaErrorECCUncorrectable,
                        cudaErrorLaunchTimeout, cudaErrorContained}) {
    EXPECT_TRUE(is_sticky_error(e)) << cudaGetErrorName(e);
  }
  for (cudaError_t e : {cudaSuccess, cudaErrorMemoryAllocation, cudaErrorInvalidValue, cudaErrorNotSupported,
                        cudaErrorLaunchOutOfResources, cudaErrorNoDevice, cudaErrorInvalidDevice}) {
    EXPECT_FALSE(is_sticky_error(e)) << cudaGetErrorName(e);
  }
}

// One test, in order: the record is process-wide and only ever set.
TEST(CudaError, StatusKindsAndTheFirstLossIsKept) {
  EXPECT_TRUE(cuda_status(cudaSuccess, "nothing").ok());
  EXPECT_TRUE(context_lost().ok());

  const Status oom = cuda_status(cudaErrorMemoryAllocation, "alloc 5 GiB");
  EXPECT_EQ(oom.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(oom.message().find("alloc 5 GiB"), std::string::npos) << oom.message();
  const Status bad = cuda_status(cudaErrorInvalidValue, "launch x");
  EXPECT_EQ(bad.code(), ErrorCode::kInternal);
  EXPECT_TRUE(context_lost().ok()) << "neither error loses the context";

  const Status lost = cuda_status(cudaErrorIllegalAddress, "stream sync");
  EXPECT_EQ(lost.code(), ErrorCode::kUnavailable);
  EXPECT_NE(lost.message().find("cudaErrorIllegalAddress"), std::string::npos) << lost.message();
  EXPECT_NE(lost.message().find("stream sync"), std::string::npos) << lost.message();
  EXPECT_EQ(context_lost().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(context_lost().message(), lost.message());

  // Later losses (another error, a broken communicator) keep the first cause.
  (void)cuda_status(cudaErrorLaunchFailure, "kernel y");
  note_context_lost(Internal("NCCL all-reduce failed"));
  EXPECT_EQ(context_lost().message(), lost.message());
}

}  // namespace
}  // namespace eric::cuda
