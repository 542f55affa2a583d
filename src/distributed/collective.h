// Collectives between the tensor-parallel ranks of one model replica. Layers
// call this interface only, so the same sharded model runs with the
// shared-memory implementation on CPU workers and NCCL on CUDA workers.
#pragma once

#include <memory>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::distributed {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sums a contiguous float32 tensor element-wise across all ranks, in place.
  // Every rank calls it with the same shape, in the same order.
  virtual Status all_reduce_sum(Tensor& tensor) = 0;
};

// World size 1: all_reduce_sum leaves the tensor as it is.
std::shared_ptr<Collective> make_single_rank_collective();

}  // namespace eric::distributed
