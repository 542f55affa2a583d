// The tensors a sidecar holds for its local consumers, by (data id, chunk).
//
// An item becomes visible only once complete (publish() is called after the
// last byte landed), to the ranks the producer named. A consumer of rank r
// recv()s it (blocking until it is published or the timeout passes), reads the
// arena range in place, then done()s it; when every rank has, the arena range
// is freed. A rank receives an item once: after done() the same rank waits
// again (exactly-once delivery per rank). If a consumer's connection closes
// while it holds a view, the view goes back so a restarted consumer can read
// it. Items nobody collected within the TTL are reclaimed with a log line and
// counted (the `reclaimed` counter, in the sidecar's stats).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "sidecar/arena.h"

namespace eric::sidecar {

// An arena range, freed when the last reference goes away.
struct Region {
  uint64_t offset = 0;
  uint64_t bytes = 0;
};
using RegionRef = std::shared_ptr<const Region>;
// A region whose destruction frees [offset, ...) in `allocator` (which must outlive it).
RegionRef make_region(ArenaAllocator& allocator, uint64_t offset, uint64_t bytes);

struct ItemDesc {
  std::string id;
  uint32_t chunk = 0;
  std::string dtype;            // safetensors spelling
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
};

struct Received {
  ItemDesc desc;
  uint64_t offset = 0;  // in the arena
};

struct StoreStats {
  uint64_t published = 0;
  uint64_t collected = 0;   // items every rank marked done
  uint64_t reclaimed = 0;   // items dropped after the TTL
  uint64_t items = 0;       // held now
};

class ItemStore {
 public:
  explicit ItemStore(std::chrono::milliseconds ttl) : ttl_(ttl) {}

  // Makes a complete item visible to `ranks` (non-empty). Fails if an item
  // with the same (id, chunk) is still here.
  Status publish(ItemDesc desc, RegionRef region, std::vector<int32_t> ranks);
  // Removes an item no rank has touched yet (a send that failed elsewhere);
  // true when removed.
  bool retract(const std::string& id, uint32_t chunk);

  // Waits until (id, chunk) is available to `rank`, and marks it held by
  // `holder` (a connection id). DeadlineExceeded after `timeout`,
  // Unavailable when the store closes.
  Result<Received> recv(const std::string& id, uint32_t chunk, int32_t rank, uint64_t holder,
                        std::chrono::milliseconds timeout);
  // `rank` is finished with the item; the last rank frees it.
  Status done(const std::string& id, uint32_t chunk, int32_t rank);
  // `holder`'s connection closed: the views it held become available again.
  void release_holder(uint64_t holder);

  // Drops items older than the TTL that nobody is reading; logs each one.
  // Returns how many were dropped.
  int reclaim_expired();
  void close();
  StoreStats stats() const;

 private:
  struct Entry {
    ItemDesc desc;
    RegionRef region;
    std::set<int32_t> pending;           // ranks that have not called done()
    std::map<int32_t, uint64_t> held;    // rank -> holder reading it now
    std::chrono::steady_clock::time_point published;
    bool touched = false;
  };
  using Key = std::pair<std::string, uint32_t>;

  std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, Entry> entries_;
  StoreStats stats_;
  bool closed_ = false;
};

}  // namespace eric::sidecar
