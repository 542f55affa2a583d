// Tensor-parallel collectives between CUDA workers through NCCL.
//
// The ranks of one model replica are separate worker processes, each on its
// own GPU (worker rank r uses GPU r). NCCL needs one 128-byte unique id made
// by one rank and known to all before they can form a communicator; eric
// sends it over the channel the workers already share with the engine (the
// host collective the engine creates for them), so no extra socket or file
// is involved: `exchange_nccl_id` takes that channel as a host all-reduce.
//
// Built wherever nvcc is; NCCL itself is optional at build time (it ships
// with /usr/local/cuda here): without it every call here returns a clear
// Unimplemented error, and world size 1 never needs it.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "backend/cuda/device_tensor.h"
#include "common/status.h"

namespace eric::cuda {

// Whether this build links NCCL.
bool nccl_available();

using NcclId = std::array<char, 128>;  // ncclUniqueId's bytes

// A fresh id; the calling process hosts NCCL's bootstrap root until the
// communicator is formed, so rank 0 makes it.
Result<NcclId> make_nccl_id();

// Sums a float32 vector element-wise across the ranks (the host channel).
using HostAllReduce = std::function<Status(std::vector<float>& values)>;

// Rank 0 makes the id; every rank gets it through `all_reduce`: rank 0
// contributes each byte as a float (0..255), the others zeros, so the sum is
// the id, exactly. Every rank must call this collectively.
// `make_id` is make_nccl_id, replaceable for tests.
Result<NcclId> exchange_nccl_id(int rank, const HostAllReduce& all_reduce,
                                const std::function<Result<NcclId>()>& make_id = make_nccl_id);

class NcclCommunicator {
 public:
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  // Joins the communicator of `world_size` ranks named by `id` as `rank`, on
  // `device`. Blocks until every rank has joined.
  static Result<std::unique_ptr<NcclCommunicator>> create(const NcclId& id, int rank, int world_size, int device);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int device() const { return device_; }

  // In place, enqueued on `stream` (float32 or bfloat16; bf16 is summed by
  // NCCL in bf16, as vLLM and transformers' TP do).
  Status all_reduce_sum(DeviceTensor& tensor, cudaStream_t stream);

 private:
  NcclCommunicator(void* comm, int rank, int world_size, int device)
      : comm_(comm), rank_(rank), world_size_(world_size), device_(device) {}
  void* comm_ = nullptr;  // ncclComm_t
  int rank_ = 0, world_size_ = 1, device_ = 0;
};

}  // namespace eric::cuda
