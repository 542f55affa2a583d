#include "tensor/checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace eric {

namespace fs = std::filesystem;

namespace {

bool has_any_prefix(const std::string& name, const std::vector<std::string>& prefixes, size_t* matched_len) {
  for (const auto& p : prefixes) {
    if (name.compare(0, p.size(), p) == 0) {
      *matched_len = p.size();
      return true;
    }
  }
  return false;
}

// A shard name from an (untrusted, possibly downloaded) index must name a
// file inside the checkpoint folder.
bool safe_shard_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name != "." && name != ".." && name.find('\0') == std::string::npos;
}

}  // namespace

Result<Checkpoint> Checkpoint::open(const std::string& dir) {
  Checkpoint ck;
  ck.dir_ = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound("checkpoint folder '{}' does not exist", dir);
  fs::path index_path = fs::path(dir) / kIndexName;
  if (fs::exists(index_path, ec)) {
    std::ifstream in(index_path);
    if (!in) return IoError("{}: cannot read", index_path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::exception& ex) {
      return DataLoss("{}: not valid JSON: {}", index_path.string(), ex.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      return DataLoss("{}: has no 'weight_map' object", index_path.string());
    }
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return DataLoss("{}: weight_map entry '{}' is not a file name", index_path.string(), it.key());
      }
      std::string shard = it.value().get<std::string>();
      if (!safe_shard_name(shard)) {
        return DataLoss("{}: weight_map entry '{}' names '{}', which is not a file in the checkpoint folder",
                        index_path.string(), it.key(), shard);
      }
      ck.weight_map_[it.key()] = std::move(shard);
    }
    ck.sharded_ = true;
    return ck;
  }
  if (fs::exists(fs::path(dir) / kSingleName, ec)) return ck;
  return NotFound("checkpoint folder '{}' has neither {} nor {}", dir, kIndexName, kSingleName);
}

std::vector<std::string> Checkpoint::shards_for(const std::vector<std::string>& prefixes) const {
  if (!sharded_) return {kSingleName};
  std::set<std::string> shards;
  size_t len = 0;
  for (const auto& [name, shard] : weight_map_) {
    if (has_any_prefix(name, prefixes, &len)) shards.insert(shard);
  }
  return {shards.begin(), shards.end()};
}

Result<WeightMap> Checkpoint::load(const std::vector<std::string>& prefixes) {
  WeightMap out;
  size_t len = 0;
  for (const std::string& shard : shards_for(prefixes)) {
    std::string path = (fs::path(dir_) / shard).string();
    ERIC_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
    opened_.push_back(shard);
    if (sharded_) {
      // Every tensor the index places in this shard under our prefixes must be there.
      for (const auto& [name, s] : weight_map_) {
        if (s == shard && has_any_prefix(name, prefixes, &len) && !file.contains(name)) {
          return DataLoss("{}: the index places tensor '{}' in this shard, but the shard does not hold it", path,
                          name);
        }
      }
    }
    for (const std::string& name : file.names()) {
      if (!has_any_prefix(name, prefixes, &len)) continue;
      if (sharded_) {
        auto it = weight_map_.find(name);
        if (it == weight_map_.end() || it->second != shard) continue;  // the index is authoritative
      }
      ERIC_ASSIGN_OR_RETURN(Tensor t, file.get(name));
      std::string key = name.substr(len);
      if (!out.emplace(key, std::move(t)).second) {
        return DataLoss("{}: tensor '{}' appears twice after removing its prefix", dir_, key);
      }
    }
  }
  if (out.empty()) {
    std::string joined;
    for (const auto& p : prefixes) joined += (joined.empty() ? "'" : ", '") + p + "'";
    return NotFound("checkpoint '{}' has no tensors under {}", dir_, joined);
  }
  return out;
}

}  // namespace eric
