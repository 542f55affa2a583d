// What the engine needs from whatever runs its batches: the multi-process
// ModelExecutor (src/executor/) in production, simple fakes in tests.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/scheduler.h"
#include "tensor/tensor.h"

namespace eric::engine {

struct ExecutorHealth {
  bool ready = false;       // every worker alive and the model loaded
  int workers_alive = 0;
  int workers_total = 0;
  std::string detail;       // why not ready (last failure, restart state)
};

class BatchExecutor {
 public:
  virtual ~BatchExecutor() = default;
  // Runs one batch: one outcome per entry, in entry order (its embedding, or
  // the error that failed that item alone, e.g. its sidecar delivery), or an
  // error that applies to the whole batch. Called from one thread at a time.
  virtual Result<ItemOutcomes> execute_model(const Batch& batch) = 0;
  // Thread-safe; called while a batch runs.
  virtual ExecutorHealth health() const = 0;
};

}  // namespace eric::engine
