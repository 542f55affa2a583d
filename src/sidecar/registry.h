// Which sidecar serves which LLM-server rank.
//
// Every sidecar of a deployment is told the same table, from a JSON file
// (--registry) or from flags (--node/--listen/--ranks for itself, --peer for
// each other one); docs/sidecar.md has the format:
//
//   {"sidecars": [
//     {"name": "node-a", "address": "10.0.0.1:7601", "ranks": [0, 1]},
//     {"name": "node-b", "address": "10.0.0.2:7601", "ranks": [2, 3]}]}
//
// A rank is served by exactly one sidecar. An item's receiver groups are
// routed per sidecar: each sidecar gets the part of every group whose ranks it
// serves (usually a whole group: one LLM instance's ranks on one node).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eric::sidecar {

struct SidecarEntry {
  std::string name;
  std::string address;  // host:port of its peer (TCP) listener
  std::vector<int32_t> ranks;
};

// One sidecar's share of an item's receiver groups.
struct Route {
  std::string node;
  std::vector<std::vector<int32_t>> groups;  // non-empty groups, in item order
};

class RankRegistry {
 public:
  static Result<RankRegistry> from_json(std::string_view text, std::string_view source);
  static Result<RankRegistry> load_file(const std::string& path);

  // Rejects empty or duplicate names, ranks < 0 and ranks already served.
  Status add(SidecarEntry entry);

  const SidecarEntry* find(std::string_view name) const;
  const std::vector<SidecarEntry>& entries() const { return entries_; }
  // The sidecar serving `rank`, or nullptr.
  const SidecarEntry* serving(int32_t rank) const;

  // Splits receiver groups by serving sidecar (routes in registry order).
  // Fails naming the first rank no sidecar serves, or an empty group.
  Result<std::vector<Route>> route(const std::vector<std::vector<int32_t>>& groups) const;

 private:
  std::vector<SidecarEntry> entries_;
  std::map<int32_t, size_t> rank_to_entry_;
};

// "0,1,4-7" -> {0, 1, 4, 5, 6, 7}.
Result<std::vector<int32_t>> parse_rank_list(std::string_view text);
// "name@host:port=0,1" (a --peer flag).
Result<SidecarEntry> parse_peer_flag(std::string_view text);

}  // namespace eric::sidecar
