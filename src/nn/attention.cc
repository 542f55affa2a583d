#include "nn/attention.h"

#include <cmath>
#include <cstring>

#include "backend/cpu/ops.h"
#include "common/thread_pool.h"

namespace eric::nn {

VisionAttention VisionAttention::load(WeightLoader& loader, const std::string& prefix, int64_t dim,
                                      int64_t num_heads, const TensorParallel& parallel) {
  VisionAttention a;
  a.head_dim_ = dim / num_heads;
  a.local_heads_ = num_heads / parallel.world_size;
  a.qkv_ = Linear::load(loader, join_name(prefix, "qkv"), dim, 3 * dim, true,
                        {ParallelKind::kColumn, parallel.rank, parallel.world_size, 3});
  a.proj_ = Linear::load(loader, join_name(prefix, "proj"), dim, dim, true,
                         {ParallelKind::kRow, parallel.rank, parallel.world_size, 1}, parallel.all_reduce);
  return a;
}

Result<Tensor> VisionAttention::forward(const Tensor& x, const Tensor& cos, const Tensor& sin,
                                        const std::vector<int64_t>& cu_seqlens) const {
  ERIC_ASSIGN_OR_RETURN(Tensor qkv, qkv_.forward(x));  // [tokens, 3 * heads * head_dim]
  const int64_t tokens = qkv.dim(0);
  const int64_t width = local_heads_ * head_dim_;
  const Shape split_shape{tokens, local_heads_, head_dim_};
  ERIC_ASSIGN_OR_RETURN(Tensor q, Tensor::empty(DType::kF32, split_shape));
  ERIC_ASSIGN_OR_RETURN(Tensor k, Tensor::empty(DType::kF32, split_shape));
  ERIC_ASSIGN_OR_RETURN(Tensor v, Tensor::empty(DType::kF32, split_shape));
  {
    // qkv rows are [q | k | v]; the attention kernel wants three packed tensors.
    const float* src = qkv.data<float>();
    float* dst[3] = {q.mutable_data<float>(), k.mutable_data<float>(), v.mutable_data<float>()};
    ThreadPool::global().parallel_for(tokens, 64, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        for (int p = 0; p < 3; ++p) {
          std::memcpy(dst[p] + t * width, src + t * 3 * width + p * width, sizeof(float) * width);
        }
      }
    });
  }
  ERIC_RETURN_IF_ERROR(cpu::apply_rotary_(q, cos, sin));
  ERIC_RETURN_IF_ERROR(cpu::apply_rotary_(k, cos, sin));
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_)));  // head_dim**-0.5
  ERIC_ASSIGN_OR_RETURN(Tensor out, cpu::varlen_attention(q, k, v, cu_seqlens, scale));
  ERIC_ASSIGN_OR_RETURN(Tensor flat, out.reshape({tokens, width}));
  return proj_.forward(flat);
}

}  // namespace eric::nn
