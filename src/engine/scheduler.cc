#include "engine/scheduler.h"

#include <algorithm>

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

EncodeResponse Scheduler::fail_request(uint64_t request_id, const Status& error) {
  requests_.erase(request_id);
  // Its other items will not be needed.
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const BatchEntry& e) { return e.request_id == request_id; }),
               queue_.end());
  EncodeResponse resp;
  resp.request_id = request_id;
  resp.code = error.code() == ErrorCode::kOk ? ErrorCode::kInternal : error.code();
  resp.error_message = error.message();
  return resp;
}

std::vector<EncodeResponse> Scheduler::complete_batch(const Batch& batch, Result<std::vector<Tensor>> outcome) {
  std::vector<EncodeResponse> done;
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
    PendingRequest& pending = it->second;
    if (entry.item.return_embedding) pending.results[entry.item_index].embedding = (*outcome)[i];
    if (--pending.remaining == 0) {
      EncodeResponse resp;
      resp.request_id = entry.request_id;
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
