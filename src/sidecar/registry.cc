#include "sidecar/registry.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace eric::sidecar {

namespace {

constexpr int32_t kMaxRank = 1 << 20;

Result<int32_t> parse_rank(std::string_view s, std::string_view whole) {
  int32_t v = -1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0 || v > kMaxRank) {
    return InvalidArgument("rank list '{}': '{}' is not a rank in [0, {}]", whole, s, kMaxRank);
  }
  return v;
}

}  // namespace

Status RankRegistry::add(SidecarEntry entry) {
  if (entry.name.empty()) return InvalidArgument("sidecar registry: an entry has no name");
  if (find(entry.name) != nullptr) return InvalidArgument("sidecar registry: node '{}' is listed twice", entry.name);
  if (entry.address.empty()) return InvalidArgument("sidecar registry: node '{}' has no address", entry.name);
  for (int32_t r : entry.ranks) {
    if (r < 0) return InvalidArgument("sidecar registry: node '{}' lists negative rank {}", entry.name, r);
    auto it = rank_to_entry_.find(r);
    if (it != rank_to_entry_.end()) {
      return InvalidArgument("sidecar registry: rank {} is served by both '{}' and '{}'", r,
                             entries_[it->second].name, entry.name);
    }
  }
  for (int32_t r : entry.ranks) rank_to_entry_[r] = entries_.size();
  entries_.push_back(std::move(entry));
  return Status::Ok();
}

const SidecarEntry* RankRegistry::find(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const SidecarEntry* RankRegistry::serving(int32_t rank) const {
  auto it = rank_to_entry_.find(rank);
  return it == rank_to_entry_.end() ? nullptr : &entries_[it->second];
}

Result<std::vector<Route>> RankRegistry::route(const std::vector<std::vector<int32_t>>& groups) const {
  std::vector<std::vector<std::vector<int32_t>>> per(entries_.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty()) return InvalidArgument("receiver group {} is empty", g);
    std::vector<std::vector<int32_t>> part(entries_.size());
    for (int32_t r : groups[g]) {
      auto it = rank_to_entry_.find(r);
      if (it == rank_to_entry_.end()) {
        return NotFound("receiver rank {} (group {}) is not served by any sidecar in the registry", r, g);
      }
      part[it->second].push_back(r);
    }
    for (size_t e = 0; e < entries_.size(); ++e) {
      if (!part[e].empty()) per[e].push_back(std::move(part[e]));
    }
  }
  std::vector<Route> routes;
  for (size_t e = 0; e < entries_.size(); ++e) {
    if (!per[e].empty()) routes.push_back({entries_[e].name, std::move(per[e])});
  }
  return routes;
}

Result<RankRegistry> RankRegistry::from_json(std::string_view text, std::string_view source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument("sidecar registry {}: not JSON: {}", source, e.what());
  }
  if (!j.is_object() || !j.contains("sidecars") || !j["sidecars"].is_array()) {
    return InvalidArgument("sidecar registry {}: expected {{\"sidecars\": [...]}}", source);
  }
  RankRegistry reg;
  size_t i = 0;
  for (const auto& e : j["sidecars"]) {
    if (!e.is_object()) return InvalidArgument("sidecar registry {}: sidecars[{}] is not an object", source, i);
    SidecarEntry entry;
    auto str = [&](const char* key) -> Result<std::string> {
      auto it = e.find(key);
      if (it == e.end() || !it->is_string()) {
        return InvalidArgument("sidecar registry {}: sidecars[{}].{} must be a string", source, i, key);
      }
      return it->get<std::string>();
    };
    ERIC_ASSIGN_OR_RETURN(entry.name, str("name"));
    ERIC_ASSIGN_OR_RETURN(entry.address, str("address"));
    auto ranks = e.find("ranks");
    if (ranks == e.end() || !ranks->is_array()) {
      return InvalidArgument("sidecar registry {}: sidecars[{}].ranks must be a list of integers", source, i);
    }
    for (const auto& r : *ranks) {
      if (!r.is_number_integer() || r.get<int64_t>() < 0 || r.get<int64_t>() > kMaxRank) {
        return InvalidArgument("sidecar registry {}: sidecars[{}].ranks holds {}, not a rank", source, i, r.dump());
      }
      entry.ranks.push_back(r.get<int32_t>());
    }
    Status st = reg.add(std::move(entry));
    if (!st.ok()) return st.with_context(std::string(source));
    ++i;
  }
  return reg;
}

Result<RankRegistry> RankRegistry::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read sidecar registry file {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json(ss.str(), path);
}

Result<std::vector<int32_t>> parse_rank_list(std::string_view text) {
  std::vector<int32_t> out;
  if (text.empty()) return out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      ERIC_ASSIGN_OR_RETURN(int32_t r, parse_rank(item, text));
      out.push_back(r);
    } else {
      ERIC_ASSIGN_OR_RETURN(int32_t a, parse_rank(item.substr(0, dash), text));
      ERIC_ASSIGN_OR_RETURN(int32_t b, parse_rank(item.substr(dash + 1), text));
      if (b < a || b - a > 65536) return InvalidArgument("rank list '{}': bad range '{}'", text, item);
      for (int32_t r = a; r <= b; ++r) out.push_back(r);
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

Result<SidecarEntry> parse_peer_flag(std::string_view text) {
  size_t at = text.find('@');
  size_t eq = text.rfind('=');
  if (at == std::string_view::npos || eq == std::string_view::npos || eq < at || at == 0) {
    return InvalidArgument("--peer '{}' is not name@host:port=ranks", text);
  }
  SidecarEntry e;
  e.name = std::string(text.substr(0, at));
  e.address = std::string(text.substr(at + 1, eq - at - 1));
  if (e.address.empty()) return InvalidArgument("--peer '{}' has no address", text);
  ERIC_ASSIGN_OR_RETURN(e.ranks, parse_rank_list(text.substr(eq + 1)));
  return e;
}

}  // namespace eric::sidecar
