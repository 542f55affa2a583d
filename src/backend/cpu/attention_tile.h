// attention_tile.h — the inner kernel of varlen_attention: one query block of
// one head of one sequence against all of that sequence's keys, streamed in
// key tiles with an online softmax (FlashAttention's recurrence on a CPU).
//
// Keys and values are packed once per (sequence, head) by pack_keys_values:
// K^T in [head_dim x kKeyBlock] tiles, V in [kKeyBlock x padded_dim] tiles.
// Packing per query block instead would re-read K and V, strided by
// heads * head_dim, once per block: a quarter of the run time when measured.
// Per key tile the kernel computes the score tile S = (scale Q) K^T with a
// register-blocked micro-kernel, updates each row's running max m and sum l,
// rescales the output accumulator by e^(m_old - m_new) and adds P V. Only one
// [kQueryBlock x kKeyBlock] score tile exists per thread, so scratch memory
// does not grow with the sequence length (the packed K and V take about the
// size of K and V: O(tokens), never O(tokens^2)).
#pragma once

#include <cstdint>
#include <vector>

namespace eric::cpu::attention {

// Query rows per task: a multiple of kRowTile, and large so that the
// per-tile softmax bookkeeping and the load of each packed K/V tile are
// spread over many rows.
constexpr int64_t kQueryBlock = 126;
constexpr int64_t kKeyBlock = 64;    // keys per score tile: 4 vectors of 16
constexpr int64_t kRowTile = 6;      // rows per register tile (6 x 4 vectors = 24 accumulators)

// Floats of packed K^T (kt) and V (vp) per key tile.
inline int64_t kt_tile_floats(int64_t head_dim) { return head_dim * kKeyBlock; }
inline int64_t padded_dim(int64_t head_dim) { return (head_dim + 15) / 16 * 16; }
inline int64_t vp_tile_floats(int64_t head_dim) { return kKeyBlock * padded_dim(head_dim); }
inline int64_t key_tiles(int64_t len) { return (len + kKeyBlock - 1) / kKeyBlock; }

// Packs one sequence's keys and values of one head into key_tiles(len)
// consecutive tiles at kt and vp. Rows are *_stride floats apart; padding
// keys and dims are zero.
void pack_keys_values(const float* k, int64_t k_stride, const float* v, int64_t v_stride, int64_t len,
                      int64_t head_dim, float* kt, float* vp);

// One task: a block of queries of one head against that head's packed keys
// and values. q and out address the block's first token; consecutive tokens
// are *_stride floats apart; head_dim floats are contiguous.
struct TileTask {
  const float* q;
  int64_t q_stride;
  int64_t q_rows;  // 1 .. kQueryBlock
  const float* kt; // key_tiles(kv_len) packed tiles
  const float* vp;
  int64_t kv_len;  // >= 1
  float* out;
  int64_t out_stride;
  float scale;
};

// Scratch for one thread, for a fixed head_dim; reused across its tasks.
struct Workspace {
  explicit Workspace(int64_t head_dim);

  int64_t head_dim;
  int64_t padded;        // head_dim rounded up to 16
  std::vector<float> q;  // [rows_max, head_dim], scaled
  std::vector<float> s;  // [rows_max, kKeyBlock] scores, then probabilities
  std::vector<float> o;  // [rows_max, padded_dim] unnormalised output
  std::vector<float> m, m_new, l, alpha;  // per row: running max, its update, running sum, rescale
};

void run_tile(const TileTask& task, Workspace& ws);

}  // namespace eric::cpu::attention
