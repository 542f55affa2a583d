// FCFS batching of encode items.
//
// Batching rule (exact): the batch takes the item at the head of the queue,
// adopts its (modality, model_id), then keeps taking items from the head in
// arrival order while the next item has the same (modality, model_id), the
// batch holds fewer than max_batch_size items and adding the item keeps the
// sum of num_tokens within max_batch_tokens. It stops at the first item that
// fails any of these; it never skips ahead, so no item is overtaken by a later
// one. An item larger than max_batch_tokens on its own still runs, alone.
//
// Requests: a request's items may land in several batches. The request
// completes (one EncodeResponse) only when every one of its items is done; if
// a batch fails as a whole, every request with an item in it fails at once
// with that error, and its items still waiting in the queue are dropped. If
// only some items of a batch fail (e.g. one item's sidecar delivery), only the
// requests owning those items fail, each with its item's error; the other
// requests of the batch go on as if the batch had succeeded.
//
// Deadlines: expire() fails every request whose deadline_unix_ms has passed
// with kDeadlineExceeded and drops its queued items, so no batch spends time
// on an answer nobody waits for. The engine calls it before each next_batch()
// and periodically while a batch runs.
//
// Timing: each response carries queue_us / encode_us and per-item batch
// sizes (see EncodeResponse); complete_batch() takes the batch's run time.
//
// Not thread-safe: the engine guards it with its own mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/protocol.h"

namespace eric::engine {

struct SchedulerLimits {
  int64_t max_batch_size = 16;      // items per batch (>= 1)
  int64_t max_batch_tokens = 16384; // sum of num_tokens per batch (>= 1)
};

struct BatchEntry {
  uint64_t request_id = 0;
  size_t item_index = 0;  // position in the request
  EncodeItem item;
};

// One batch's outcome per entry, in entry order: the entry's embedding, or
// the error that failed that item alone.
using ItemOutcomes = std::vector<Result<Tensor>>;

struct Batch {
  uint64_t batch_id = 0;
  std::string modality;
  std::string model_id;
  int64_t num_tokens = 0;
  std::vector<BatchEntry> entries;
  size_t size() const { return entries.size(); }
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerLimits limits);
  static Status validate(const SchedulerLimits& limits);

  // Queues a request's items. Fails (and queues nothing) for an empty
  // request or a request_id that is already pending. A request already past
  // its deadline is queued and failed by the next expire().
  Status add_request(EncodeRequest request);

  // Fails the requests whose deadline is at or before `now_unix_ms` (ms since
  // the Unix epoch) and returns their responses.
  std::vector<EncodeResponse> expire(int64_t now_unix_ms);

  // The next batch by the rule above, or nullopt when the queue is empty.
  std::optional<Batch> next_batch();

  // Records a batch's outcome (one outcome per entry, in entry order, or an
  // error for the whole batch) and returns the responses of the requests it
  // completed or failed. `elapsed`: how long the batch ran (its requests'
  // encode time).
  std::vector<EncodeResponse> complete_batch(const Batch& batch, Result<ItemOutcomes> outcome,
                                             std::chrono::microseconds elapsed = std::chrono::microseconds(0));

  // Fails every pending request (queued or in a batch) with `error`, e.g. at
  // shutdown, and returns their responses.
  std::vector<EncodeResponse> fail_all(const Status& error);

  int64_t queue_length() const { return static_cast<int64_t>(queue_.size()); }
  int64_t pending_requests() const { return static_cast<int64_t>(requests_.size()); }
  const SchedulerLimits& limits() const { return limits_; }

 private:
  struct PendingRequest {
    std::vector<ItemResult> results;  // in request order
    size_t remaining = 0;
    int64_t deadline_unix_ms = 0;     // 0: none
    std::chrono::steady_clock::time_point arrival;
    int64_t encode_us = 0;            // summed run time of its batches so far
    std::vector<int32_t> batch_sizes; // per item; 0 until the item ran
  };
  EncodeResponse fail_request(uint64_t request_id, const Status& error);
  // Fills the response's timing fields from the request's record.
  static void set_timing(const PendingRequest& pending, EncodeResponse& response);

  SchedulerLimits limits_;
  std::deque<BatchEntry> queue_;
  std::unordered_map<uint64_t, PendingRequest> requests_;
  uint64_t next_batch_id_ = 1;
};

}  // namespace eric::engine
