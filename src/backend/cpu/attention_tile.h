// attention_tile.h — the inner kernel of varlen_attention: one query block of
// one head of one sequence against all of that sequence's keys, streamed in
// key tiles with an online softmax (FlashAttention's recurrence on a CPU).
//
// Per key tile of kKeyBlock keys the kernel packs K^T and V into scratch,
// computes the score tile S = (scale Q) K^T with a register-blocked
// micro-kernel, updates each row's running max m and sum l, rescales the
// output accumulator by e^(m_old - m_new) and adds P V. Only one
// [kQueryBlock x kKeyBlock] score tile ever exists, so memory does not grow
// with the sequence length.
#pragma once

#include <cstdint>
#include <vector>

namespace eric::cpu::attention {

// Query rows per task: a multiple of kRowTile, and large so that packing a
// key tile (done per task) is spread over many rows.
constexpr int64_t kQueryBlock = 126;
constexpr int64_t kKeyBlock = 64;    // keys per score tile: 4 vectors of 16
constexpr int64_t kRowTile = 6;      // rows per register tile (6 x 4 vectors = 24 accumulators)

// One task. Pointers address token 0 of the block/sequence for this head;
// consecutive tokens are *_stride floats apart; head_dim floats are contiguous.
struct TileTask {
  const float* q;
  int64_t q_stride;
  int64_t q_rows;  // 1 .. kQueryBlock
  const float* k;
  int64_t k_stride;
  const float* v;
  int64_t v_stride;
  int64_t kv_len;  // >= 1
  float* out;
  int64_t out_stride;
  float scale;
};

// Scratch for one thread, for a fixed head_dim; reused across its tasks.
struct Workspace {
  explicit Workspace(int64_t head_dim);

  int64_t head_dim;
  int64_t padded_dim;    // head_dim rounded up to 16
  std::vector<float> q;  // [rows_max, head_dim], scaled
  std::vector<float> kt; // [head_dim, kKeyBlock]
  std::vector<float> v;  // [kKeyBlock, padded_dim], zero beyond head_dim
  std::vector<float> s;  // [rows_max, kKeyBlock] scores, then probabilities
  std::vector<float> o;  // [rows_max, padded_dim] unnormalised output
  std::vector<float> m, m_new, l, alpha;  // per row: running max, its update, running sum, rescale
};

void run_tile(const TileTask& task, Workspace& ws);

}  // namespace eric::cpu::attention
