#include "nn/mlp.h"

#include "backend/cpu/ops.h"

namespace eric::nn {

namespace {
ShardSpec column(const TensorParallel& p) { return {ParallelKind::kColumn, p.rank, p.world_size, 1}; }
ShardSpec row(const TensorParallel& p) { return {ParallelKind::kRow, p.rank, p.world_size, 1}; }
}  // namespace

MLP MLP::load(WeightLoader& loader, const std::string& prefix, int64_t dim, int64_t hidden, int64_t out_dim,
              Activation act, const std::string& fc1_name, const std::string& fc2_name, const TensorParallel& parallel) {
  MLP m;
  if (out_dim == 0) out_dim = dim;
  m.fc1_ = Linear::load(loader, join_name(prefix, fc1_name), dim, hidden, true, column(parallel));
  m.fc2_ = Linear::load(loader, join_name(prefix, fc2_name), hidden, out_dim, true, row(parallel),
                        parallel.all_reduce);
  m.act_ = act;
  return m;
}

Result<Tensor> MLP::forward(const Tensor& x) const {
  ERIC_ASSIGN_OR_RETURN(Tensor h, fc1_.forward(x));
  ERIC_RETURN_IF_ERROR(apply_activation_(h, act_));
  return fc2_.forward(h);
}

GatedMLP GatedMLP::load(WeightLoader& loader, const std::string& prefix, int64_t dim, int64_t hidden, bool bias,
                        const TensorParallel& parallel) {
  GatedMLP m;
  m.gate_ = Linear::load(loader, join_name(prefix, "gate_proj"), dim, hidden, bias, column(parallel));
  m.up_ = Linear::load(loader, join_name(prefix, "up_proj"), dim, hidden, bias, column(parallel));
  m.down_ = Linear::load(loader, join_name(prefix, "down_proj"), hidden, dim, bias, row(parallel),
                         parallel.all_reduce);
  return m;
}

Result<Tensor> GatedMLP::forward(const Tensor& x) const {
  ERIC_ASSIGN_OR_RETURN(Tensor gate, gate_.forward(x));
  ERIC_ASSIGN_OR_RETURN(Tensor up, up_.forward(x));
  ERIC_ASSIGN_OR_RETURN(Tensor h, cpu::silu_mul(gate, up));
  return down_.forward(h);
}

}  // namespace eric::nn
