// attention.cc — varlen_attention: argument checks and the split into tasks.
//
// Work is cut into (sequence, head, block of kQueryBlock queries) tasks and
// handed out through an atomic counter, longest sequences first, so threads
// stay busy when sequence lengths differ (several images, window attention).
// q, k and v may be strided views with unit stride in head_dim (for instance
// slices of one fused qkv projection). Keys and values are first packed into
// tiles per (sequence, head) in a parallel pass (extra memory: about the size
// of k and v), then every query block of that head streams over those tiles.
#include <algorithm>
#include <atomic>

#include "backend/cpu/attention_tile.h"
#include "backend/cpu/check.h"
#include "backend/cpu/op_profile.h"
#include "backend/cpu/ops.h"
#include "common/thread_pool.h"

namespace eric::cpu {

namespace {

constexpr std::string_view kOp = "varlen_attention";

Status check_qkv(const Tensor& t, std::string_view what, const Shape& want) {
  ERIC_RETURN_IF_ERROR(check_f32(t, kOp, what));
  if (t.rank() != 3) {
    return InvalidArgument("{}: {} has shape {}, expected [tokens, heads, head_dim]", kOp, what,
                           t.shape().to_string());
  }
  if (t.shape() != want) {
    return InvalidArgument("{}: {} has shape {} but q has shape {}", kOp, what, t.shape().to_string(),
                           want.to_string());
  }
  if (t.dim(2) > 1 && t.strides()[2] != 1) {
    return InvalidArgument("{}: {} {} needs unit stride in head_dim", kOp, what, t.describe());
  }
  return Status::Ok();
}

Status check_cu_seqlens(const std::vector<int64_t>& cu, int64_t tokens) {
  if (cu.empty() || cu.front() != 0) {
    return InvalidArgument("{}: cu_seqlens must start with 0 (got {} entries)", kOp, cu.size());
  }
  for (size_t i = 1; i < cu.size(); ++i) {
    if (cu[i] < cu[i - 1]) {
      return InvalidArgument("{}: cu_seqlens decreases at index {} ({} after {})", kOp, i, cu[i], cu[i - 1]);
    }
  }
  if (cu.back() != tokens) {
    return InvalidArgument("{}: cu_seqlens ends at {} but q has {} tokens", kOp, cu.back(), tokens);
  }
  return Status::Ok();
}

struct TaskRef {
  size_t seq;
  int64_t seq_begin, seq_len, head, q_begin;
};

}  // namespace

Result<Tensor> varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                const std::vector<int64_t>& cu_seqlens, float scale) {
  ERIC_RETURN_IF_ERROR(check_f32(q, kOp, "q"));
  ERIC_RETURN_IF_ERROR(check_qkv(q, "q", q.shape()));
  ERIC_RETURN_IF_ERROR(check_qkv(k, "k", q.shape()));
  ERIC_RETURN_IF_ERROR(check_qkv(v, "v", q.shape()));
  const int64_t tokens = q.dim(0), heads = q.dim(1), head_dim = q.dim(2);
  ERIC_RETURN_IF_ERROR(check_cu_seqlens(cu_seqlens, tokens));
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, q.shape()));
  if (tokens == 0 || heads == 0 || head_dim == 0) return out;
  double flops = 0;  // QK^T and PV: 2 * 2 * len^2 * head_dim per sequence and head
  for (size_t i = 0; i + 1 < cu_seqlens.size(); ++i) {
    const double len = static_cast<double>(cu_seqlens[i + 1] - cu_seqlens[i]);
    flops += 4.0 * len * len * static_cast<double>(head_dim * heads);
  }
  profile::Scope timed(profile::OpKind::kAttention, flops);

  // Packed tiles: sequence i's tiles for head h start at tile index
  // h * total_tiles + tile_base[i].
  const size_t seqs = cu_seqlens.size() - 1;
  std::vector<int64_t> tile_base(seqs + 1, 0);
  for (size_t i = 0; i < seqs; ++i) tile_base[i + 1] = tile_base[i] + attention::key_tiles(cu_seqlens[i + 1] - cu_seqlens[i]);
  const int64_t total_tiles = tile_base[seqs];
  const int64_t kt_tile = attention::kt_tile_floats(head_dim), vp_tile = attention::vp_tile_floats(head_dim);
  ERIC_ASSIGN_OR_RETURN(Tensor kt_all, Tensor::empty(DType::kF32, {heads * total_tiles * kt_tile}));
  ERIC_ASSIGN_OR_RETURN(Tensor vp_all, Tensor::empty(DType::kF32, {heads * total_tiles * vp_tile}));
  float* pkt = kt_all.mutable_data<float>();
  float* pvp = vp_all.mutable_data<float>();

  const auto* pq = static_cast<const float*>(q.raw_data());
  const auto* pk = static_cast<const float*>(k.raw_data());
  const auto* pv = static_cast<const float*>(v.raw_data());
  float* po = out.mutable_data<float>();
  const auto &sq = q.strides(), &sk = k.strides(), &sv = v.strides(), &so = out.strides();
  ThreadPool& pool = ThreadPool::global();

  pool.parallel_for(static_cast<int64_t>(seqs) * heads, 1, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const size_t i = static_cast<size_t>(item / heads);
      const int64_t h = item % heads, begin = cu_seqlens[i], len = cu_seqlens[i + 1] - begin;
      const int64_t tile0 = h * total_tiles + tile_base[i];
      attention::pack_keys_values(pk + begin * sk[0] + h * sk[1], sk[0], pv + begin * sv[0] + h * sv[1], sv[0], len,
                                  head_dim, pkt + tile0 * kt_tile, pvp + tile0 * vp_tile);
    }
  });

  std::vector<TaskRef> tasks;
  for (size_t i = 0; i < seqs; ++i) {
    const int64_t begin = cu_seqlens[i], len = cu_seqlens[i + 1] - begin;
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t qb = 0; qb < len; qb += attention::kQueryBlock) tasks.push_back({i, begin, len, h, qb});
  }
  // Longest sequences first, so the last tasks to start are the short ones.
  std::stable_sort(tasks.begin(), tasks.end(), [](const TaskRef& a, const TaskRef& b) { return a.seq_len > b.seq_len; });

  std::atomic<size_t> next{0};
  pool.parallel_for(pool.num_threads(), 1, [&](int64_t, int64_t) {
    attention::Workspace ws(head_dim);
    for (size_t i = next.fetch_add(1); i < tasks.size(); i = next.fetch_add(1)) {
      const TaskRef& r = tasks[i];
      const int64_t q0 = r.seq_begin + r.q_begin;
      const int64_t tile0 = r.head * total_tiles + tile_base[r.seq];
      attention::TileTask t{};
      t.q = pq + q0 * sq[0] + r.head * sq[1];
      t.q_stride = sq[0];
      t.q_rows = std::min(attention::kQueryBlock, r.seq_len - r.q_begin);
      t.kt = pkt + tile0 * kt_tile;
      t.vp = pvp + tile0 * vp_tile;
      t.kv_len = r.seq_len;
      t.out = po + q0 * so[0] + r.head * so[1];
      t.out_stride = so[0];
      t.scale = scale;
      attention::run_tile(t, ws);
    }
  });
  return out;
}

}  // namespace eric::cpu
