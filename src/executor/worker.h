// A worker process: one tensor-parallel rank of the model. It reads batches
// from the engine's shared-memory ring, runs its Encoder (its shard of the
// weights; row-parallel layers all-reduce through the shared-memory
// collective), and rank 0 pushes the embeddings back to the engine over a
// ZeroMQ PUSH socket. Started by ModelExecutor as `eric worker ...`.
//
// Messages the worker pushes: one StatusReply after loading (request_id =
// rank; ready, or not ready with the load error in `detail`), then, from rank
// 0 only, one EncodeResponse per batch (request_id = batch_id).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace eric::executor {

struct WorkerOptions {
  std::string model_dir;
  std::string ring_name;         // shm ring to read batches from
  std::string collective_name;   // shm all-reduce segment (empty: world size 1)
  std::string results_endpoint;  // ipc:// endpoint of the engine's PULL socket
  int rank = 0;
  int world_size = 1;
  int threads = 0;               // compute threads (0: all cores)
  std::string device = "cpu";    // --device: cpu or cuda (rank r uses GPU r)
  std::string cuda_dtype = "bf16";  // --cuda-dtype: bf16 or f32
  std::string cuda_memory_limit;    // --cuda-memory-limit (models/cuda_memory_limit.h); "": none
  int parent_pid = 0;            // exits when this process is gone (0: no check)
};

// Parses "--key value" pairs (the arguments after `eric worker`).
Result<WorkerOptions> parse_worker_args(const std::vector<std::string>& args);
// The arguments that parse_worker_args reads back.
std::vector<std::string> worker_args(const WorkerOptions& options);

// Runs until the ring is closed, a Shutdown message arrives or the parent
// dies. Returns an error for failures before the serving loop, and when the
// encoder's health check fails after a batch (a lost GPU context): that
// batch's answer carries restart_workers, and the process exits.
Status run_worker(const WorkerOptions& options);

}  // namespace eric::executor
