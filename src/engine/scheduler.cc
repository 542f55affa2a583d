#include "engine/scheduler.h"

#include <algorithm>
#include <unordered_set>

namespace eric::engine {

Scheduler::Scheduler(SchedulerLimits limits) : limits_(limits) {
  ERIC_CHECK(validate(limits).ok(), "{}", validate(limits).message());
}

Status Scheduler::validate(const SchedulerLimits& limits) {
  if (limits.max_batch_size < 1) return InvalidArgument("max_batch_size must be >= 1, got {}", limits.max_batch_size);
  if (limits.max_batch_tokens < 1) {
    return InvalidArgument("max_batch_tokens must be >= 1, got {}", limits.max_batch_tokens);
  }
  return Status::Ok();
}

Status Scheduler::add_request(EncodeRequest request) {
  if (request.items.empty()) return InvalidArgument("request {} has no items", request.request_id);
  if (requests_.count(request.request_id) != 0) {
    return InvalidArgument("request {} is already pending (request ids must be unique)", request.request_id);
  }
  for (const EncodeItem& item : request.items) {
    if (item.num_tokens < 0) {
      return InvalidArgument("request {} item '{}': negative num_tokens {}", request.request_id, item.item_id,
                             item.num_tokens);
    }
  }
  PendingRequest pending;
  pending.remaining = request.items.size();
  pending.results.resize(request.items.size());
  pending.deadline_unix_ms = request.deadline_unix_ms;
  pending.arrival = std::chrono::steady_clock::now();
  pending.batch_sizes.assign(request.items.size(), 0);
  for (size_t i = 0; i < request.items.size(); ++i) {
    pending.results[i].item_id = request.items[i].item_id;
    queue_.push_back(BatchEntry{request.request_id, i, std::move(request.items[i])});
  }
  requests_.emplace(request.request_id, std::move(pending));
  return Status::Ok();
}

std::optional<Batch> Scheduler::next_batch() {
  if (queue_.empty()) return std::nullopt;
  Batch batch;
  batch.batch_id = next_batch_id_++;
  batch.modality = queue_.front().item.modality;
  batch.model_id = queue_.front().item.model_id;
  while (!queue_.empty()) {
    const EncodeItem& next = queue_.front().item;
    if (!batch.entries.empty()) {
      const bool compatible = next.modality == batch.modality && next.model_id == batch.model_id;
      const bool fits_size = static_cast<int64_t>(batch.entries.size()) < limits_.max_batch_size;
      const bool fits_tokens = batch.num_tokens + next.num_tokens <= limits_.max_batch_tokens;
      if (!compatible || !fits_size || !fits_tokens) break;
    }
    batch.num_tokens += next.num_tokens;
    batch.entries.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void Scheduler::set_timing(const PendingRequest& pending, EncodeResponse& response) {
  const auto total = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                           pending.arrival).count();
  response.encode_us = std::clamp<int64_t>(pending.encode_us, 0, std::max<int64_t>(total, 0));
  response.queue_us = std::max<int64_t>(total - response.encode_us, 0);
}

std::vector<EncodeResponse> Scheduler::expire(int64_t now_unix_ms) {
  std::vector<uint64_t> ids;
  for (const auto& [id, pending] : requests_) {
    if (pending.deadline_unix_ms > 0 && pending.deadline_unix_ms <= now_unix_ms) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<EncodeResponse> out;
  for (uint64_t id : ids) {
    const int64_t late = now_unix_ms - requests_.at(id).deadline_unix_ms;
    out.push_back(fail_request(
        id, DeadlineExceeded("request {} passed its deadline {} ms ago before its items were encoded", id, late)));
  }
  return out;
}

EncodeResponse Scheduler::fail_request(uint64_t request_id, const Status& error) {
  EncodeResponse resp;
  if (auto it = requests_.find(request_id); it != requests_.end()) set_timing(it->second, resp);
  requests_.erase(request_id);
  // Its other items will not be needed.
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const BatchEntry& e) { return e.request_id == request_id; }),
               queue_.end());
  resp.request_id = request_id;
  resp.code = error.code() == ErrorCode::kOk ? ErrorCode::kInternal : error.code();
  resp.error_message = error.message();
  return resp;
}

std::vector<EncodeResponse> Scheduler::complete_batch(const Batch& batch, Result<ItemOutcomes> outcome,
                                                      std::chrono::microseconds elapsed) {
  std::vector<EncodeResponse> done;
  // Every request in the batch spent the whole run time encoding, once.
  for (const BatchEntry& entry : batch.entries) {
    auto it = requests_.find(entry.request_id);
    if (it == requests_.end()) continue;
    if (entry.item_index < it->second.batch_sizes.size()) {
      it->second.batch_sizes[entry.item_index] = static_cast<int32_t>(batch.size());
    }
  }
  std::unordered_set<uint64_t> charged;
  for (const BatchEntry& entry : batch.entries) {
    auto it = requests_.find(entry.request_id);
    if (it != requests_.end() && charged.insert(entry.request_id).second) it->second.encode_us += elapsed.count();
  }
  if (outcome.ok() && outcome->size() != batch.entries.size()) {
    outcome = Internal("the executor returned {} embeddings for a batch of {} items", outcome->size(),
                       batch.entries.size());
  }
  for (size_t i = 0; i < batch.entries.size(); ++i) {
    const BatchEntry& entry = batch.entries[i];
    auto it = requests_.find(entry.request_id);
    if (it == requests_.end()) continue;  // already failed (and answered)
    if (!outcome.ok()) {
      done.push_back(fail_request(entry.request_id, outcome.status()));
      continue;
    }
    Result<Tensor>& item = (*outcome)[i];
    if (!item.ok()) {
      // This item alone failed: only its request fails (once; its other
      // items in this batch are then skipped above).
      done.push_back(fail_request(entry.request_id, item.status()));
      continue;
    }
    PendingRequest& pending = it->second;
    if (entry.item.return_embedding) pending.results[entry.item_index].embedding = std::move(*item);
    if (--pending.remaining == 0) {
      EncodeResponse resp;
      resp.request_id = entry.request_id;
      set_timing(pending, resp);
      resp.batch_sizes = std::move(pending.batch_sizes);
      resp.items = std::move(pending.results);
      requests_.erase(it);
      done.push_back(std::move(resp));
    }
  }
  return done;
}

std::vector<EncodeResponse> Scheduler::fail_all(const Status& error) {
  std::vector<uint64_t> ids;
  for (const auto& [id, _] : requests_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::vector<EncodeResponse> out;
  for (uint64_t id : ids) out.push_back(fail_request(id, error));
  return out;
}

}  // namespace eric::engine
