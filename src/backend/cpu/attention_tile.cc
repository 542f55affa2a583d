// attention_tile.cc — micro-kernels of one attention task (see
// attention_tile.h). Register tiles are fixed-size arrays of v16 that GCC
// keeps in registers once the constant-trip loops are unrolled: 6 rows x 4
// vectors = 24 accumulators + 4 operands fit AVX-512's 32 zmm registers.
#include "backend/cpu/attention_tile.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/simd.h"

namespace eric::cpu::attention {

using simd::v16;

namespace {

// Row capacity of the scratch: a whole number of register tiles and of
// 16-row vectors (the rescale loop in online_softmax runs over 16 rows).
constexpr int64_t kRowsMax = (kQueryBlock + 47) / 48 * 48;
constexpr int kKeyVecs = static_cast<int>(kKeyBlock / simd::kW);

// kt[d][j] = k[j][d] for j < nk; zero for the padded keys.
ERIC_INLINE void pack_kt(float* kt, const float* k, int64_t k_stride, int64_t nk, int64_t d_len) {
  for (int64_t j = 0; j < nk; ++j)
    for (int64_t d = 0; d < d_len; ++d) kt[d * kKeyBlock + j] = k[j * k_stride + d];
  if (nk < kKeyBlock)
    for (int64_t d = 0; d < d_len; ++d)
      for (int64_t j = nk; j < kKeyBlock; ++j) kt[d * kKeyBlock + j] = 0.0f;
}

// vp[j][d] = v[j][d]; zero for d >= d_len (rows >= nk are never read).
ERIC_INLINE void pack_v(float* vp, const float* v, int64_t v_stride, int64_t nk, int64_t d_len, int64_t dp) {
  for (int64_t j = 0; j < nk; ++j) {
    for (int64_t d = 0; d < d_len; ++d) vp[j * dp + d] = v[j * v_stride + d];
    for (int64_t d = d_len; d < dp; ++d) vp[j * dp + d] = 0.0f;
  }
}

// s[rows, kKeyBlock] = q[rows, d_len] * kt[d_len, kKeyBlock].
ERIC_INLINE void scores(const float* q, const float* kt, float* s, int64_t rows, int64_t d_len) {
  for (int64_t i0 = 0; i0 < rows; i0 += kRowTile) {
    v16 acc[kRowTile][kKeyVecs];
#pragma GCC unroll 8
    for (int r = 0; r < kRowTile; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < kKeyVecs; ++c) acc[r][c] = simd::splat(0.0f);
    const float* qi = q + i0 * d_len;
    for (int64_t d = 0; d < d_len; ++d) {
      v16 b[kKeyVecs];
#pragma GCC unroll 4
      for (int c = 0; c < kKeyVecs; ++c) b[c] = simd::load(kt + d * kKeyBlock + c * simd::kW);
#pragma GCC unroll 8
      for (int r = 0; r < kRowTile; ++r) {
        const v16 a = simd::splat(qi[r * d_len + d]);
#pragma GCC unroll 4
        for (int c = 0; c < kKeyVecs; ++c) acc[r][c] += a * b[c];
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < kRowTile; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < kKeyVecs; ++c) simd::store(s + (i0 + r) * kKeyBlock + c * simd::kW, acc[r][c]);
  }
}

// Turns score rows into probabilities against the updated running max and
// records how much each row's earlier output must shrink (alpha). The
// rescale factors are computed 16 rows at a time, not one scalar exp per row.
ERIC_INLINE void online_softmax(float* s, int64_t rows, int64_t nk, float* m, float* m_new, float* l,
                                float* alpha) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < rows; ++i) {
    float* si = s + i * kKeyBlock;
    for (int64_t j = nk; j < kKeyBlock; ++j) si[j] = neg_inf;  // padded keys get probability 0
    v16 mx = simd::load(si);
#pragma GCC unroll 4
    for (int c = 1; c < kKeyVecs; ++c) mx = simd::vmax(mx, simd::load(si + c * simd::kW));
    m_new[i] = std::max(m[i], simd::hmax(mx));
  }
  // rows_max is a multiple of 16 (Workspace), so whole vectors are in bounds;
  // on the first tile m = -inf and alpha = e^-inf = 0.
  for (int64_t i = 0; i < rows; i += simd::kW) {
    simd::store(alpha + i, simd::vexp(simd::load(m + i) - simd::load(m_new + i)));
    simd::store(m + i, simd::load(m_new + i));
  }
  for (int64_t i = 0; i < rows; ++i) {
    float* si = s + i * kKeyBlock;
    const v16 mv = simd::splat(m_new[i]);
    v16 sum = simd::splat(0.0f);
#pragma GCC unroll 4
    for (int c = 0; c < kKeyVecs; ++c) {
      const v16 p = simd::vexp(simd::load(si + c * simd::kW) - mv);
      simd::store(si + c * simd::kW, p);
      sum += p;
    }
    l[i] = l[i] * alpha[i] + simd::hsum(sum);
  }
}

// o[kRowTile rows, NV vectors] = o * alpha + p[rows, nk] * vp[nk, NV vectors].
template <int NV>
ERIC_INLINE void pv_block(const float* p, const float* vp, int64_t dp, float* o, const float* alpha, int64_t nk) {
  v16 acc[kRowTile][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kRowTile; ++r) {
    const v16 a = simd::splat(alpha[r]);
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c) acc[r][c] = simd::load(o + r * dp + c * simd::kW) * a;
  }
  for (int64_t j = 0; j < nk; ++j) {
    v16 b[NV];
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c) b[c] = simd::load(vp + j * dp + c * simd::kW);
#pragma GCC unroll 8
    for (int r = 0; r < kRowTile; ++r) {
      const v16 pr = simd::splat(p[r * kKeyBlock + j]);
#pragma GCC unroll 4
      for (int c = 0; c < NV; ++c) acc[r][c] += pr * b[c];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRowTile; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c) simd::store(o + r * dp + c * simd::kW, acc[r][c]);
}

ERIC_INLINE void accumulate_pv(const float* p, const float* vp, float* o, const float* alpha, int64_t rows,
                               int64_t nk, int64_t dp) {
  const int64_t vecs = dp / simd::kW;
  for (int64_t i0 = 0; i0 < rows; i0 += kRowTile) {
    for (int64_t c0 = 0; c0 < vecs; c0 += 4) {
      const float* pi = p + i0 * kKeyBlock;
      const float* vc = vp + c0 * simd::kW;
      float* oi = o + i0 * dp + c0 * simd::kW;
      switch (std::min<int64_t>(4, vecs - c0)) {
        case 4: pv_block<4>(pi, vc, dp, oi, alpha + i0, nk); break;
        case 3: pv_block<3>(pi, vc, dp, oi, alpha + i0, nk); break;
        case 2: pv_block<2>(pi, vc, dp, oi, alpha + i0, nk); break;
        default: pv_block<1>(pi, vc, dp, oi, alpha + i0, nk); break;
      }
    }
  }
}

}  // namespace

ERIC_CPU_CLONES void pack_keys_values(const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                                      int64_t len, int64_t head_dim, float* kt, float* vp) {
  const int64_t dp = padded_dim(head_dim);
  for (int64_t t = 0; t < key_tiles(len); ++t) {
    const int64_t k0 = t * kKeyBlock, nk = std::min(kKeyBlock, len - k0);
    pack_kt(kt + t * kt_tile_floats(head_dim), k + k0 * k_stride, k_stride, nk, head_dim);
    pack_v(vp + t * vp_tile_floats(head_dim), v + k0 * v_stride, v_stride, nk, head_dim, dp);
  }
}

Workspace::Workspace(int64_t d)
    : head_dim(d),
      padded(padded_dim(d)),
      q(static_cast<size_t>(kRowsMax * d)),
      s(static_cast<size_t>(kRowsMax * kKeyBlock)),
      o(static_cast<size_t>(kRowsMax * padded)),
      m(kRowsMax),
      m_new(kRowsMax),
      l(kRowsMax),
      alpha(kRowsMax) {}

ERIC_CPU_CLONES void run_tile(const TileTask& t, Workspace& ws) {
  const int64_t d_len = ws.head_dim, dp = ws.padded;
  const int64_t rows = (t.q_rows + kRowTile - 1) / kRowTile * kRowTile;
  float* q = ws.q.data();
  for (int64_t i = 0; i < t.q_rows; ++i)
    for (int64_t d = 0; d < d_len; ++d) q[i * d_len + d] = t.q[i * t.q_stride + d] * t.scale;
  std::fill(q + t.q_rows * d_len, q + rows * d_len, 0.0f);  // padded rows: harmless zeros
  std::fill(ws.o.begin(), ws.o.begin() + rows * dp, 0.0f);
  std::fill(ws.m.begin(), ws.m.end(), -std::numeric_limits<float>::infinity());
  std::fill(ws.l.begin(), ws.l.end(), 0.0f);

  for (int64_t k0 = 0, tile = 0; k0 < t.kv_len; k0 += kKeyBlock, ++tile) {
    const int64_t nk = std::min(kKeyBlock, t.kv_len - k0);
    const float* vp = t.vp + tile * vp_tile_floats(d_len);
    scores(q, t.kt + tile * kt_tile_floats(d_len), ws.s.data(), rows, d_len);
    online_softmax(ws.s.data(), rows, nk, ws.m.data(), ws.m_new.data(), ws.l.data(), ws.alpha.data());
    accumulate_pv(ws.s.data(), vp, ws.o.data(), ws.alpha.data(), rows, nk, dp);
  }

  for (int64_t i = 0; i < t.q_rows; ++i) {
    const float inv = 1.0f / ws.l[i];
    for (int64_t d = 0; d < d_len; ++d) t.out[i * t.out_stride + d] = ws.o[i * dp + d] * inv;
  }
}

}  // namespace eric::cpu::attention
