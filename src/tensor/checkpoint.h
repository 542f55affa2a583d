// A Hugging Face checkpoint folder: model.safetensors, or shards listed by
// model.safetensors.index.json. Loads only the tensors under given prefixes
// and opens only the shards that hold them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "tensor/safetensors.h"
#include "tensor/tensor.h"

namespace eric {

using WeightMap = std::map<std::string, Tensor>;

class Checkpoint {
 public:
  static constexpr const char* kIndexName = "model.safetensors.index.json";
  static constexpr const char* kSingleName = "model.safetensors";

  // Finds the index (preferred) or the single file in `dir`. Reads only the
  // index, not the shards.
  static Result<Checkpoint> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool sharded() const { return sharded_; }
  // Shard file names that hold at least one tensor under any of `prefixes`.
  std::vector<std::string> shards_for(const std::vector<std::string>& prefixes) const;

  // Tensors whose names start with one of `prefixes`, keyed by the name with
  // that prefix removed. Tensors are zero-copy views into the mapped shards.
  // Fails if the index names a tensor its shard lacks, or no tensor matches.
  Result<WeightMap> load(const std::vector<std::string>& prefixes);

  // Shard files opened so far by this object (file names, in open order).
  const std::vector<std::string>& opened_files() const { return opened_; }

 private:
  std::string dir_;
  bool sharded_ = false;
  std::map<std::string, std::string> weight_map_;  // tensor name -> shard file (sharded only)
  std::vector<std::string> opened_;
};

}  // namespace eric
