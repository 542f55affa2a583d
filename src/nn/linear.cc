#include "nn/linear.h"

#include "backend/cpu/ops.h"

namespace eric::nn {

namespace {

// Rows [part*rows_per_part + rank*chunk, ... + chunk) of every fused part,
// stacked: the column-parallel slice of a weight [out, in] or bias [out].
Result<Tensor> column_slice(const Tensor& t, const ShardSpec& s) {
  const int64_t out = t.dim(0);
  const int64_t per_part = out / s.fused_parts;
  const int64_t chunk = per_part / s.world_size;
  if (per_part * s.fused_parts != out || chunk * s.world_size != per_part) {
    return InvalidArgument("column-parallel split of {} output features into {} parts over {} ranks is uneven", out,
                           s.fused_parts, s.world_size);
  }
  std::vector<int64_t> dims = t.shape().dims();
  dims[0] = chunk * s.fused_parts;
  ERIC_ASSIGN_OR_RETURN(Tensor result, Tensor::empty(DType::kF32, Shape(dims)));
  for (int p = 0; p < s.fused_parts; ++p) {
    const int64_t start = p * per_part + s.rank * chunk;
    ERIC_ASSIGN_OR_RETURN(Tensor src, t.slice(0, start, start + chunk));
    ERIC_ASSIGN_OR_RETURN(Tensor dst, result.slice(0, p * chunk, (p + 1) * chunk));
    ERIC_RETURN_IF_ERROR(dst.copy_from(src));
  }
  return result;
}

Result<Tensor> row_slice(const Tensor& w, const ShardSpec& s) {
  const int64_t in = w.dim(1);
  const int64_t chunk = in / s.world_size;
  if (chunk * s.world_size != in) {
    return InvalidArgument("row-parallel split of {} input features over {} ranks is uneven", in, s.world_size);
  }
  ERIC_ASSIGN_OR_RETURN(Tensor view, w.slice(1, s.rank * chunk, (s.rank + 1) * chunk));
  return view.clone();
}

}  // namespace

Linear Linear::load(WeightLoader& loader, const std::string& prefix, int64_t in_features, int64_t out_features,
                    bool bias, const ShardSpec& shard, AllReduce all_reduce) {
  Linear l;
  l.shard_ = shard;
  l.all_reduce_ = std::move(all_reduce);
  l.weight_ = loader.take(join_name(prefix, "weight"), Shape{out_features, in_features});
  if (bias) l.bias_ = loader.take(join_name(prefix, "bias"), Shape{out_features});
  if (shard.world_size <= 1 || shard.kind == ParallelKind::kReplicated || !l.weight_.defined()) return l;

  // A failed slice leaves the layer undefined; forward() then reports it.
  if (shard.kind == ParallelKind::kColumn) {
    auto w = column_slice(l.weight_, shard);
    l.weight_ = w.ok() ? *w : Tensor();
    if (l.bias_.defined()) {
      auto b = column_slice(l.bias_, shard);
      l.bias_ = b.ok() ? *b : Tensor();
    }
  } else {
    auto w = row_slice(l.weight_, shard);
    l.weight_ = w.ok() ? *w : Tensor();
    // The bias is added once, after the all-reduce, so every rank keeps it whole.
  }
  return l;
}

Linear Linear::from_tensors(Tensor weight, Tensor bias) {
  Linear l;
  l.weight_ = std::move(weight);
  l.bias_ = std::move(bias);
  return l;
}

Result<Tensor> Linear::forward(const Tensor& x) const {
  if (!weight_.defined()) return Internal("Linear used without weights");
  const bool row_parallel = shard_.kind == ParallelKind::kRow && shard_.world_size > 1;
  if (!row_parallel) return cpu::linear(x, weight_, bias_.defined() ? &bias_ : nullptr);

  ERIC_ASSIGN_OR_RETURN(Tensor y, cpu::linear(x, weight_, nullptr));
  if (!all_reduce_) return Internal("row-parallel Linear over {} ranks has no AllReduce hook", shard_.world_size);
  ERIC_RETURN_IF_ERROR(all_reduce_(y));
  if (bias_.defined()) ERIC_RETURN_IF_ERROR(cpu::add_bias_(y, bias_));
  return y;
}

}  // namespace eric::nn
