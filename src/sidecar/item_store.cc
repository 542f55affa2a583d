#include "sidecar/item_store.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

namespace eric::sidecar {

using Clock = std::chrono::steady_clock;

RegionRef make_region(ArenaAllocator& allocator, uint64_t offset, uint64_t bytes) {
  return RegionRef(new Region{offset, bytes}, [&allocator](const Region* r) {
    Status st = allocator.free(r->offset);
    if (!st.ok()) spdlog::error("sidecar: freeing arena range: {}", st.to_string());
    delete r;
  });
}

Status ItemStore::publish(ItemDesc desc, RegionRef region, std::vector<int32_t> ranks) {
  if (ranks.empty()) return InvalidArgument("item '{}' chunk {}: no receiving ranks on this sidecar", desc.id, desc.chunk);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Unavailable("item '{}': the sidecar is shutting down", desc.id);
    Key key{desc.id, desc.chunk};
    if (entries_.count(key) != 0) {
      return InvalidArgument("item '{}' chunk {} is already held by this sidecar and not yet collected (ids must be unique)",
                             desc.id, desc.chunk);
    }
    Entry e;
    e.desc = std::move(desc);
    e.region = std::move(region);
    e.pending.insert(ranks.begin(), ranks.end());
    e.published = Clock::now();
    entries_.emplace(std::move(key), std::move(e));
    ++stats_.published;
  }
  cv_.notify_all();
  return Status::Ok();
}

bool ItemStore::retract(const std::string& id, uint32_t chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find({id, chunk});
  if (it == entries_.end() || it->second.touched) return false;
  entries_.erase(it);
  return true;
}

Result<Received> ItemStore::recv(const std::string& id, uint32_t chunk, int32_t rank, uint64_t holder,
                                 std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (closed_) return Unavailable("item '{}' chunk {}: the sidecar is shutting down", id, chunk);
    auto it = entries_.find({id, chunk});
    if (it != entries_.end() && it->second.pending.count(rank) != 0) {
      Entry& e = it->second;
      auto h = e.held.find(rank);
      if (h == e.held.end() || h->second == holder) {
        e.held[rank] = holder;
        e.touched = true;
        return Received{e.desc, e.region->offset};
      }
      // Another consumer of the same rank is reading it: wait for its done().
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && Clock::now() >= deadline) {
      return DeadlineExceeded("item '{}' chunk {} did not arrive for rank {} within {} ms", id, chunk, rank,
                              timeout.count());
    }
  }
}

Status ItemStore::done(const std::string& id, uint32_t chunk, int32_t rank) {
  RegionRef drop;  // freed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find({id, chunk});
    if (it == entries_.end() || it->second.pending.count(rank) == 0) {
      return NotFound("item '{}' chunk {} is not held for rank {} (never received, already done, or reclaimed)", id,
                      chunk, rank);
    }
    Entry& e = it->second;
    e.pending.erase(rank);
    e.held.erase(rank);
    e.touched = true;
    if (e.pending.empty()) {
      drop = std::move(e.region);
      entries_.erase(it);
      ++stats_.collected;
    }
  }
  cv_.notify_all();
  return Status::Ok();
}

void ItemStore::release_holder(uint64_t holder) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, e] : entries_) {
      for (auto it = e.held.begin(); it != e.held.end();) {
        it = it->second == holder ? e.held.erase(it) : std::next(it);
      }
    }
  }
  cv_.notify_all();
}

int ItemStore::reclaim_expired() {
  std::vector<RegionRef> drop;
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      if (now - e.published < ttl_ || !e.held.empty()) {
        ++it;
        continue;
      }
      spdlog::warn("sidecar: reclaimed item '{}' chunk {} ({} bytes) after {} ms: rank(s) {} never collected it",
                   e.desc.id, e.desc.chunk, e.desc.bytes, ttl_.count(), fmt::join(e.pending, ","));
      drop.push_back(std::move(e.region));
      it = entries_.erase(it);
      ++stats_.reclaimed;
      ++n;
    }
  }
  return n;
}

void ItemStore::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    entries_.clear();
  }
  cv_.notify_all();
}

StoreStats ItemStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStats s = stats_;
  s.items = entries_.size();
  return s;
}

}  // namespace eric::sidecar
