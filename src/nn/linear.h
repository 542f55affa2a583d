// torch.nn.Linear, ready for tensor parallelism.
//
// A Linear is described by its full (unsharded) shape, as the checkpoint
// stores it, plus a ShardSpec saying which part this rank keeps:
//   * column-parallel: this rank computes a slice of the output features
//     (the weight's rows, and the matching bias entries); no communication.
//   * row-parallel: this rank consumes a slice of the input features (the
//     weight's columns); partial outputs are summed with the AllReduce hook,
//     then the bias is added once.
// With the default ShardSpec (world size 1) both reduce to a plain Linear,
// so model code is written once and sharding is a loading-time decision.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "nn/weight_loader.h"
#include "tensor/tensor.h"

namespace eric::nn {

enum class ParallelKind { kReplicated, kColumn, kRow };

struct ShardSpec {
  ParallelKind kind = ParallelKind::kReplicated;
  int rank = 0;
  int world_size = 1;
  // Column sharding of fused projections (e.g. qkv = 3 stacked blocks): each
  // of the `fused_parts` equal blocks of output features is sharded on its
  // own, so every rank keeps its heads' q, k and v.
  int fused_parts = 1;
};

// Sums a tensor in place across the ranks of a tensor-parallel group.
using AllReduce = std::function<Status(Tensor&)>;

// A layer's place in its tensor-parallel group, handed down by the model.
struct TensorParallel {
  int rank = 0;
  int world_size = 1;
  AllReduce all_reduce;  // needed when world_size > 1 (row-parallel outputs)
};

class Linear {
 public:
  Linear() = default;

  // Loads `<prefix>.weight` [out, in] and, if `bias`, `<prefix>.bias` [out].
  static Linear load(WeightLoader& loader, const std::string& prefix, int64_t in_features, int64_t out_features,
                     bool bias, const ShardSpec& shard = {}, AllReduce all_reduce = nullptr);
  // From tensors already in memory (weight [out, in] float32), unsharded.
  static Linear from_tensors(Tensor weight, Tensor bias);

  // x [rows, in_local] -> [rows, out_local].
  Result<Tensor> forward(const Tensor& x) const;

  int64_t in_features() const { return weight_.defined() ? weight_.dim(1) : 0; }    // this rank's
  int64_t out_features() const { return weight_.defined() ? weight_.dim(0) : 0; }   // this rank's
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const ShardSpec& shard() const { return shard_; }

 private:
  Tensor weight_;  // [out_local, in_local] float32
  Tensor bias_;    // [out_local] or undefined
  ShardSpec shard_;
  AllReduce all_reduce_;
};

}  // namespace eric::nn
