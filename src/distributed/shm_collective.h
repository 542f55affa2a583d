// Shared-memory all-reduce between the tensor-parallel worker processes of one
// machine (the CPU implementation of Collective).
//
// One segment per communicator: a header with a futex barrier, one staging
// buffer per rank and one result buffer, each `chunk_floats` long. A tensor is
// reduced chunk by chunk: every rank copies its chunk into its buffer,
// barrier, rank r sums slice r of the chunk over all buffers into the result
// (the ranks reduce in parallel, each its own slice, always adding ranks in
// order 0..N-1 so every rank gets bit-identical sums), barrier, every rank
// copies the result back. Barriers spin briefly and then sleep on a futex;
// a barrier that waits longer than the timeout marks the communicator broken
// (a peer died or diverged) and every rank's all_reduce_sum fails from then on.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "distributed/collective.h"
#include "distributed/shm_segment.h"

namespace eric::distributed {

struct ShmCollectiveOptions {
  int world_size = 1;
  size_t chunk_floats = 1 << 20;  // 4 MiB per rank buffer
  std::chrono::milliseconds timeout{30000};
};

// The segment, created by the process that starts the workers (it unlinks it
// when destroyed, so crashed workers leave nothing behind).
class ShmCollectiveGroup {
 public:
  static Result<std::unique_ptr<ShmCollectiveGroup>> create(const ShmCollectiveOptions& options);
  const std::string& name() const { return segment_.name(); }

 private:
  ShmSegment segment_;
};

// Joins the communicator `name` as `rank` (each rank in its own process, or
// thread). All ranks must pass the same world_size.
Result<std::shared_ptr<Collective>> open_shm_collective(const std::string& name, int rank, int world_size,
                                                        std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace eric::distributed
