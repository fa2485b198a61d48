// Block-sparse causal attention on the CPU; see attention.h.
//
// A work item is one selection row (head, query block), or a chunk of a row's selected blocks when
// there are too few rows to keep every thread busy (decode). An item gathers its query rows into a
// tile (at most kTileRows rows: one head's positions in prefill, or a GQA group's heads in decode),
// then streams the selected key blocks 64 keys at a time: S = Q·Kᵀ, causal mask, online softmax in
// base 2 (scores pre-multiplied by scale·log2 e), O += P·V. Chunks of one row are merged by
// log-sum-exp. S comes from K transposed into a [d][64] panel (once per prefill call, so the inner loop
// runs over 64 contiguous keys) or, for tiles of at most kDirectRows rows without that panel (decode),
// straight from the row-major keys (scores_direct), which costs less than transposing every step.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace seer {

using namespace simd;

void BlockSelection::set_dense(int heads, bool kv_head_rows, int first_qb, int rows, int bs) {
  block_size = bs;
  num_heads = heads;
  per_kv_head = kv_head_rows;
  first_q_block = first_qb;
  num_rows = rows;
  offsets.assign(size_t(heads) * rows + 1, 0);
  indices.clear();
  int64_t per_head = 0;
  for (int r = 0; r < rows; ++r) per_head += first_qb + r + 1;
  indices.reserve(size_t(per_head * heads));
  for (int h = 0; h < heads; ++h) {
    for (int r = 0; r < rows; ++r) {
      for (int j = 0; j <= first_qb + r; ++j) indices.push_back(j);
      offsets[size_t(h) * rows + r + 1] = int32_t(indices.size());
    }
  }
}

namespace {

constexpr int kKeyTile = 64;   // keys per inner tile
constexpr int kTileRows = 64;  // query rows per tile
constexpr int kDirectRows = 8;  // up to this many rows, a tile without Kᵀ is scored by scores_direct
constexpr int kSplitItems = 8;  // decode: split rows' block lists until there are this many items per thread
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Running softmax state of a tile of query rows.
struct TileState {
  std::vector<float> o;    // [kTileRows, head_dim] unnormalised output
  std::vector<float> m;    // [kTileRows] running max (log2 domain)
  std::vector<float> l;    // [kTileRows] running sum
  std::vector<float> qt;   // [kTileRows, head_dim] queries pre-scaled by scale*log2e
  std::vector<float> kt;   // [head_dim, kKeyTile] transposed keys
  std::vector<float> s;    // [kTileRows, kKeyTile] scores, then probabilities
  std::vector<int> qpos;   // [kTileRows]
  // Block maxima (AttentionParams::block_max): [kTileRows, bm_blocks] max base-2 logit per block,
  // or with bm_mass log2 of the block's sum of 2^logit.
  std::vector<float> bmax;
  int bm_blocks = 0, bm_size = 0;  // bm_blocks == 0: not tracked
  bool bm_mass = false;
  void resize(int d) {
    o.resize(size_t(kTileRows) * d);
    m.resize(kTileRows);
    l.resize(kTileRows);
    qt.resize(size_t(kTileRows) * d);
    kt.resize(size_t(d) * kKeyTile);
    s.resize(size_t(kTileRows) * kKeyTile);
    qpos.resize(kTileRows);
  }
  void reset(int rows, int d) {
    std::fill(o.begin(), o.begin() + size_t(rows) * d, 0.0f);
    std::fill(m.begin(), m.begin() + rows, kNegInf);
    std::fill(l.begin(), l.begin() + rows, 0.0f);
    if (bm_blocks > 0) std::fill(bmax.begin(), bmax.begin() + size_t(rows) * bm_blocks, kNegInf);
  }
};

// S[i, 0:64] = sum_c qt[i, c] * kt[c, 0:64] for ROWS rows starting at i0 (vectorised path).
template <int ROWS>
inline void scores_rows(const float* qt, const float* kt, float* s, int i0, int d) {
  f32x16 acc[ROWS][4];
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = splat(0.0f);
  for (int c = 0; c < d; ++c) {
    f32x16 k0 = load(kt + c * kKeyTile), k1 = load(kt + c * kKeyTile + 16);
    f32x16 k2 = load(kt + c * kKeyTile + 32), k3 = load(kt + c * kKeyTile + 48);
    for (int r = 0; r < ROWS; ++r) {
      f32x16 q = splat(qt[(i0 + r) * d + c]);
      acc[r][0] += q * k0;
      acc[r][1] += q * k1;
      acc[r][2] += q * k2;
      acc[r][3] += q * k3;
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < 4; ++v) store(s + (i0 + r) * kKeyTile + 16 * v, acc[r][v]);
}

// o[i, dc:dc+16*NV] += sum_j p[i, j] * v[j, dc:dc+16*NV] for ROWS rows starting at i0.
template <int ROWS, int NV>
inline void pv_rows(const float* p, const float* v, float* o, int i0, int dc, int kn, int d) {
  f32x16 acc[ROWS][NV];
  for (int r = 0; r < ROWS; ++r)
    for (int x = 0; x < NV; ++x) acc[r][x] = load(o + (i0 + r) * d + dc + 16 * x);
  for (int j = 0; j < kn; ++j) {
    f32x16 vv[NV];
    for (int x = 0; x < NV; ++x) vv[x] = load(v + size_t(j) * d + dc + 16 * x);
    for (int r = 0; r < ROWS; ++r) {
      f32x16 pr = splat(p[(i0 + r) * kKeyTile + j]);
      for (int x = 0; x < NV; ++x) acc[r][x] += pr * vv[x];
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int x = 0; x < NV; ++x) store(o + (i0 + r) * d + dc + 16 * x, acc[r][x]);
}

template <int ROWS>
inline void pv_dispatch(const float* p, const float* v, float* o, int i0, int kn, int d) {
  int dc = 0;
  for (; dc + 64 <= d; dc += 64) pv_rows<ROWS, 4>(p, v, o, i0, dc, kn, d);
  for (; dc + 16 <= d; dc += 16) pv_rows<ROWS, 1>(p, v, o, i0, dc, kn, d);
}

// Lane t of the result is the sum of v[t]'s lanes. A tree of two-source shuffles halves the count of
// vectors at each level (16 -> 8 -> 4 -> 2 -> 1); its output lanes come in bit-reversed order of the
// inputs, so callers pass v[t] = the vector of item kBitRev16[t].
constexpr int kBitRev16[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
inline f32x16 hsum16(const f32x16* v) {
  f32x16 a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i)
    a[i] = __builtin_shufflevector(v[2 * i], v[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           __builtin_shufflevector(v[2 * i], v[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; ++i)
    b[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
           __builtin_shufflevector(a[2 * i], a[2 * i + 1], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  for (int i = 0; i < 2; ++i)
    c[i] = __builtin_shufflevector(b[2 * i], b[2 * i + 1], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
           __builtin_shufflevector(b[2 * i], b[2 * i + 1], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
  return __builtin_shufflevector(c[0], c[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
         __builtin_shufflevector(c[0], c[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
}

// S[i, 0:64] = qt[i]·k[j] for a few query rows straight from the row-major keys k [kn, d] (decode: a GQA
// group's rows, where transposing the tile would cost more than the products). Sixteen keys at a time,
// each key's products kept as one vector and the sixteen summed by hsum16. Keys past kn read key kn-1
// (never past the cache); their scores are masked by the caller.
void scores_direct(const float* qt, const float* k, int kn, int rows, int d, float* s) {
  for (int j0 = 0; j0 < kKeyTile; j0 += 16) {
    if (j0 >= kn) {
      for (int i = 0; i < rows; ++i) store(s + i * kKeyTile + j0, splat(0.0f));
      continue;
    }
    const float* kp[16];
    for (int t = 0; t < 16; ++t) kp[t] = k + size_t(std::min(j0 + kBitRev16[t], kn - 1)) * d;
    for (int i = 0; i < rows; ++i) {
      const float* qi = qt + i * d;
      f32x16 acc[16];
      for (int t = 0; t < 16; ++t) acc[t] = splat(0.0f);
      for (int c = 0; c < d; c += 16) {
        const f32x16 q = load(qi + c);
        for (int t = 0; t < 16; ++t) acc[t] += q * load(kp[t] + c);
      }
      store(s + i * kKeyTile + j0, hsum16(acc));
    }
  }
}

// Processes one 64-key tile [kstart, kstart + kn) of one KV head for the tile's `rows` queries.
// Kᵀ of one 64-key tile: kt[c * 64 + j] = k[j * d + c], zero past kn.
void transpose_tile(const float* k, int kn, int d, float* kt) {
  for (int c = 0; c < d; ++c) {
    for (int j = 0; j < kn; ++j) kt[c * kKeyTile + j] = k[size_t(j) * d + c];
    for (int j = kn; j < kKeyTile; ++j) kt[c * kKeyTile + j] = 0.0f;
  }
}

// `kt_pre`: the tile's Kᵀ computed once per layer (prefill), or null to transpose here (decode).
void attend_keys(TileState& st, int rows, int d, const float* k, const float* v, int kstart, int kn,
                 const float* kt_pre) {
  const bool vec = d % 16 == 0;
  float* s = st.s.data();
  // Scores.
  if (vec) {
    const float* kt = kt_pre;
    if (!kt && rows <= kDirectRows) {
      scores_direct(st.qt.data(), k, kn, rows, d, s);
    } else {
      if (!kt) {
        transpose_tile(k, kn, d, st.kt.data());
        kt = st.kt.data();
      }
      int i = 0;
      for (; i + 4 <= rows; i += 4) scores_rows<4>(st.qt.data(), kt, s, i, d);
      for (; i < rows; ++i) scores_rows<1>(st.qt.data(), kt, s, i, d);
    }
  } else {
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < kn; ++j) {
        float acc = 0.0f;
        for (int c = 0; c < d; ++c) acc += st.qt[i * d + c] * k[size_t(j) * d + c];
        s[i * kKeyTile + j] = acc;
      }
  }
  // Mask, online softmax, probabilities in place.
  for (int i = 0; i < rows; ++i) {
    float* si = s + i * kKeyTile;
    const int visible = std::min(kn, st.qpos[i] - kstart + 1);  // keys j < visible are causal
    if (visible <= 0) {  // no causal key in this tile for this row
      std::fill(si, si + kKeyTile, 0.0f);
      continue;
    }
    for (int j = visible; j < kKeyTile; ++j) si[j] = kNegInf;
    float mx = kNegInf;
    for (int j = 0; j < visible; ++j) mx = std::max(mx, si[j]);
    const float m_new = std::max(st.m[i], mx);
    const float alpha = std::exp2(st.m[i] - m_new);  // 0 when the old max is -inf
    f32x16 sum = splat(0.0f);
    const f32x16 mv = splat(m_new);
    for (int j = 0; j < kKeyTile; j += 16) {
      f32x16 pj = simd::exp2(load(si + j) - mv);
      store(si + j, pj);
      sum += pj;
    }
    const float tile_sum = hsum(sum);
    if (st.bm_blocks > 0) {
      float& b = st.bmax[size_t(i) * st.bm_blocks + kstart / st.bm_size];
      if (!st.bm_mass) {
        b = std::max(b, mx);
      } else {  // b = log2(2^b + 2^(m_new + log2 tile_sum)): a block of several tiles adds them up
        const float t = m_new + std::log2(tile_sum);
        const float hi = std::max(b, t), lo = std::min(b, t);
        b = hi + std::log2(1.0f + std::exp2(lo - hi));  // lo = -inf on the block's first tile: hi
      }
    }
    st.l[i] = st.l[i] * alpha + tile_sum;
    st.m[i] = m_new;
    if (alpha != 1.0f) {
      float* oi = st.o.data() + size_t(i) * d;
      for (int c = 0; c < d; ++c) oi[c] *= alpha;
    }
  }
  // O += P·V (masked probabilities are exactly 0).
  if (vec) {
    int i = 0;
    for (; i + 4 <= rows; i += 4) pv_dispatch<4>(s, v, st.o.data(), i, kn, d);
    if (rows - i == 3) pv_dispatch<3>(s, v, st.o.data(), i, kn, d);
    else if (rows - i == 2) pv_dispatch<2>(s, v, st.o.data(), i, kn, d);
    else if (rows - i == 1) pv_dispatch<1>(s, v, st.o.data(), i, kn, d);
  } else {
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < kn; ++j) {
        const float pj = s[i * kKeyTile + j];
        for (int c = 0; c < d; ++c) st.o[size_t(i) * d + c] += pj * v[size_t(j) * d + c];
      }
  }
}

// One query row of the tile: which output slot it writes.
struct RowRef {
  int token;  // index into q/out (0..qo_len-1)
  int head;   // qo head
};

// Describes the rows of one selection row (head h, query block row r).
void gather_rows(const AttentionParams& p, const BlockSelection& sel, int h, int r,
                 std::vector<RowRef>* rows) {
  rows->clear();
  const int bs = sel.block_size;
  const int qb = sel.first_q_block + r;
  const int start = p.start_pos();
  const int t0 = std::max(qb * bs, start) - start;
  const int t1 = std::min((qb + 1) * bs, p.kv_len) - start;
  const int group = p.num_qo_heads / p.num_kv_heads;
  for (int t = t0; t < t1; ++t) {
    if (sel.per_kv_head) {
      for (int g = 0; g < group; ++g) rows->push_back({t, h * group + g});
    } else {
      rows->push_back({t, h});
    }
  }
}

// Runs the blocks [b0, b1) of the row's list over rows[first, first+n) and leaves the state
// (unnormalised o, m, l) in `st`. `kt_head`: the KV head's pre-transposed 64-key tiles
// [num_tiles, head_dim, 64], or null.
void run_tile(const AttentionParams& p, const BlockSelection& sel, int kv_head, const int32_t* blocks,
              int nblocks, const RowRef* rows, int n, TileState& st, const float* kt_head) {
  const int d = p.head_dim;
  const float qscale = p.scale * kLog2e;
  st.reset(n, d);
  for (int i = 0; i < n; ++i) {
    const float* qi = p.q + (size_t(rows[i].token) * p.num_qo_heads + rows[i].head) * d;
    for (int c = 0; c < d; ++c) st.qt[size_t(i) * d + c] = qi[c] * qscale;
    st.qpos[i] = p.start_pos() + rows[i].token;
  }
  const float* kh = p.k_cache + size_t(kv_head) * p.max_context * d;
  const float* vh = p.v_cache + size_t(kv_head) * p.max_context * d;
  const int bs = sel.block_size;
  for (int b = 0; b < nblocks; ++b) {
    const int kb = blocks[b];
    for (int ks = kb * bs; ks < (kb + 1) * bs && ks < p.kv_len; ks += kKeyTile) {
      const int kn = std::min({kKeyTile, (kb + 1) * bs - ks, p.kv_len - ks});
      attend_keys(st, n, d, kh + size_t(ks) * d, vh + size_t(ks) * d, ks, kn,
                  kt_head ? kt_head + size_t(ks / kKeyTile) * d * kKeyTile : nullptr);
    }
  }
}

void write_normalised(const AttentionParams& p, const RowRef* rows, int n, const TileState& st) {
  const int d = p.head_dim;
  for (int i = 0; i < n; ++i) {
    float* oi = p.out + (size_t(rows[i].token) * p.num_qo_heads + rows[i].head) * d;
    const float inv = st.l[i] > 0.0f ? 1.0f / st.l[i] : 0.0f;
    for (int c = 0; c < d; ++c) oi[c] = st.o[size_t(i) * d + c] * inv;
    if (st.bm_blocks > 0) {  // the block's best key's probability (or the block's mass): 2^(b - m) / l
      float* bo = p.block_max + (size_t(rows[i].token) * p.num_qo_heads + rows[i].head) * st.bm_blocks;
      const float* bm = st.bmax.data() + size_t(i) * st.bm_blocks;
      for (int j = 0; j < st.bm_blocks; ++j) bo[j] = std::exp2(bm[j] - st.m[i]) * inv;
    }
  }
}

}  // namespace

void attention(const AttentionParams& p, const BlockSelection& sel, ThreadPool& pool) {
  const int d = p.head_dim;
  SEER_ASSERT(!p.block_max || (p.block_max_size % kKeyTile == 0 && sel.block_size % kKeyTile == 0));
  const int group = p.num_qo_heads / p.num_kv_heads;
  const int64_t num_rows = int64_t(sel.num_heads) * sel.num_rows;
  auto kv_head_of = [&](int h) { return sel.per_kv_head ? h : h / group; };

  // Few rows (decode): split each row's block list into chunks and merge by log-sum-exp.
  const int64_t max_blocks = [&] {
    int64_t mb = 0;
    for (int64_t r = 0; r < num_rows; ++r) mb = std::max<int64_t>(mb, sel.offsets[r + 1] - sel.offsets[r]);
    return mb;
  }();
  // The split path runs a row's query rows as one tile, so a selection row of more query rows than a
  // tile (a prefill chunk with blocks of 128, few heads, many threads) stays on the plain path.
  int splits = 1;
  std::vector<std::vector<RowRef>> row_refs;
  if (num_rows < 4 * pool.size() && max_blocks >= 8 && !p.block_max) {
    row_refs.resize(static_cast<size_t>(num_rows));
    size_t max_tile = 0;
    for (int64_t row = 0; row < num_rows; ++row) {
      gather_rows(p, sel, int(row / sel.num_rows), int(row % sel.num_rows), &row_refs[size_t(row)]);
      max_tile = std::max(max_tile, row_refs[size_t(row)].size());
    }
    if (max_tile <= size_t(kTileRows)) {
      splits = int(std::min<int64_t>((kSplitItems * pool.size() + num_rows - 1) / num_rows, max_blocks / 4));
      splits = std::max(splits, 1);
    }
  }

  // Prefill: every KV head's key tiles are visited by many (qo head, query block) rows, so
  // transpose each 64-key tile once per call instead of once per visit.
  const float* kt_all = nullptr;
  const int num_tiles = (p.kv_len + kKeyTile - 1) / kKeyTile;
  if (p.qo_len > 1 && d % 16 == 0 && sel.block_size % kKeyTile == 0 && num_rows > int64_t(p.num_kv_heads)) {
    // The caller's buffer; workers must use this pointer, not their own thread_local instance.
    thread_local std::vector<float> kt_buf;  // [num_kv_heads, num_tiles, head_dim, 64]
    kt_buf.resize(size_t(p.num_kv_heads) * num_tiles * d * kKeyTile);
    float* kt_data = kt_buf.data();
    pool.parallel_for(int64_t(p.num_kv_heads) * num_tiles, [&](int64_t i, int) {
      const int h = int(i / num_tiles), t = int(i % num_tiles);
      const int kn = std::min(kKeyTile, p.kv_len - t * kKeyTile);
      transpose_tile(p.k_cache + (size_t(h) * p.max_context + size_t(t) * kKeyTile) * d, kn, d,
                     kt_data + size_t(i) * d * kKeyTile);
    });
    kt_all = kt_data;
  }
  auto kt_of = [&](int kv_head) { return kt_all ? kt_all + size_t(kv_head) * num_tiles * d * kKeyTile : nullptr; };

  if (splits == 1) {
    // Largest rows (latest query blocks) first for load balance.
    pool.parallel_for(num_rows, [&](int64_t item, int) {
      const int64_t row = num_rows - 1 - item;
      const int h = int(row / sel.num_rows), r = int(row % sel.num_rows);
      thread_local TileState st;
      thread_local std::vector<RowRef> rows;
      st.resize(d);
      st.bm_blocks = p.block_max ? (p.kv_len + p.block_max_size - 1) / p.block_max_size : 0;
      st.bm_size = p.block_max_size;
      st.bm_mass = p.block_mass;
      if (st.bm_blocks > 0 && st.bmax.size() < size_t(kTileRows) * st.bm_blocks)
        st.bmax.resize(size_t(kTileRows) * st.bm_blocks);
      gather_rows(p, sel, h, r, &rows);
      const int32_t* blocks = sel.indices.data() + sel.offsets[row];
      const int nblocks = sel.offsets[row + 1] - sel.offsets[row];
      for (size_t i0 = 0; i0 < rows.size(); i0 += kTileRows) {
        const int n = int(std::min<size_t>(kTileRows, rows.size() - i0));
        run_tile(p, sel, kv_head_of(h), blocks, nblocks, rows.data() + i0, n, st, kt_of(kv_head_of(h)));
        write_normalised(p, rows.data() + i0, n, st);
      }
    });
    return;
  }

  // Split path: partial states [num_rows, splits, tile rows] then a merge per row.
  struct Partial {
    std::vector<float> o, m, l;
  };
  std::vector<Partial> parts(size_t(num_rows * splits));
  pool.parallel_for(num_rows * splits, [&](int64_t item, int) {
    const int64_t row = item / splits;
    const int split = int(item % splits);
    const auto& rows = row_refs[size_t(row)];
    const int n = int(rows.size());
    const int nblocks = sel.offsets[row + 1] - sel.offsets[row];
    const int per = (nblocks + splits - 1) / splits;
    const int b0 = std::min(nblocks, split * per), b1 = std::min(nblocks, b0 + per);
    thread_local TileState st;
    st.resize(d);
    run_tile(p, sel, kv_head_of(int(row / sel.num_rows)), sel.indices.data() + sel.offsets[row] + b0,
             b1 - b0, rows.data(), n, st, kt_of(kv_head_of(int(row / sel.num_rows))));
    Partial& part = parts[size_t(item)];
    part.o.assign(st.o.begin(), st.o.begin() + size_t(n) * d);
    part.m.assign(st.m.begin(), st.m.begin() + n);
    part.l.assign(st.l.begin(), st.l.begin() + n);
  });
  for (int64_t row = 0; row < num_rows; ++row) {
    const auto& rows = row_refs[size_t(row)];
    for (size_t i = 0; i < rows.size(); ++i) {
      float mx = kNegInf;
      for (int s = 0; s < splits; ++s) mx = std::max(mx, parts[size_t(row * splits + s)].m[i]);
      float* oi = p.out + (size_t(rows[i].token) * p.num_qo_heads + rows[i].head) * d;
      std::fill(oi, oi + d, 0.0f);
      if (mx == kNegInf) continue;
      float l = 0.0f;
      for (int s = 0; s < splits; ++s) {
        const Partial& part = parts[size_t(row * splits + s)];
        if (part.m[i] == kNegInf) continue;
        const float w = std::exp2(part.m[i] - mx);
        l += part.l[i] * w;
        for (int c = 0; c < d; ++c) oi[c] += part.o[i * d + c] * w;
      }
      for (int c = 0; c < d; ++c) oi[c] /= l;
    }
  }
}

void ref_attention(const AttentionParams& p, const BlockSelection& sel) {
  const int d = p.head_dim;
  const int group = p.num_qo_heads / p.num_kv_heads;
  std::vector<RowRef> rows;
  std::vector<double> scores;
  std::vector<double> acc(static_cast<size_t>(d));
  std::vector<int> keys;
  for (int h = 0; h < sel.num_heads; ++h) {
    for (int r = 0; r < sel.num_rows; ++r) {
      const int64_t row = int64_t(h) * sel.num_rows + r;
      gather_rows(p, sel, h, r, &rows);
      const int kvh = sel.per_kv_head ? h : h / group;
      for (const RowRef& rr : rows) {
        const int qpos = p.start_pos() + rr.token;
        const float* qi = p.q + (size_t(rr.token) * p.num_qo_heads + rr.head) * d;
        keys.clear();
        for (int b = sel.offsets[row]; b < sel.offsets[row + 1]; ++b)
          for (int kp = sel.indices[b] * sel.block_size; kp < (sel.indices[b] + 1) * sel.block_size; ++kp)
            if (kp <= qpos && kp < p.kv_len) keys.push_back(kp);
        float* oi = p.out + (size_t(rr.token) * p.num_qo_heads + rr.head) * d;
        if (keys.empty()) {
          std::fill(oi, oi + d, 0.0f);
          continue;
        }
        scores.resize(keys.size());
        double mx = -1e300;
        for (size_t j = 0; j < keys.size(); ++j) {
          const float* kj = p.k_cache + (size_t(kvh) * p.max_context + keys[j]) * d;
          double s = 0.0;
          for (int c = 0; c < d; ++c) s += double(qi[c]) * kj[c];
          scores[j] = s * p.scale;
          mx = std::max(mx, scores[j]);
        }
        double l = 0.0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (size_t j = 0; j < keys.size(); ++j) {
          const double w = std::exp(scores[j] - mx);
          l += w;
          const float* vj = p.v_cache + (size_t(kvh) * p.max_context + keys[j]) * d;
          for (int c = 0; c < d; ++c) acc[c] += w * vj[c];
        }
        for (int c = 0; c < d; ++c) oi[c] = float(acc[c] / l);
      }
    }
  }
}

void ref_attention_block_max(const AttentionParams& p, int bs, float* out) {
  const int d = p.head_dim, Hq = p.num_qo_heads, group = Hq / p.num_kv_heads, start = p.start_pos();
  const int nb = (p.kv_len + bs - 1) / bs;
  std::vector<double> prob(static_cast<size_t>(p.kv_len)), mass(static_cast<size_t>(nb));
  for (int i = 0; i < p.qo_len; ++i)
    for (int h = 0; h < Hq; ++h) {
      const int pos = start + i;
      const float* q = p.q + (size_t(i) * Hq + h) * d;
      const float* k = p.k_cache + size_t(h / group) * p.max_context * d;
      double mx = -INFINITY;
      for (int c = 0; c <= pos; ++c) {
        double dot = 0.0;
        for (int e = 0; e < d; ++e) dot += double(q[e]) * k[size_t(c) * d + e];
        prob[size_t(c)] = dot * p.scale;
        mx = std::max(mx, prob[size_t(c)]);
      }
      double sum = 0.0;
      for (int c = 0; c <= pos; ++c) sum += (prob[size_t(c)] = std::exp(prob[size_t(c)] - mx));
      float* o = out + (size_t(i) * Hq + h) * nb;
      std::fill_n(o, nb, 0.0f);
      if (p.block_mass) {
        std::fill(mass.begin(), mass.end(), 0.0);
        for (int c = 0; c <= pos; ++c) mass[size_t(c / bs)] += prob[size_t(c)] / sum;
        for (int j = 0; j < nb; ++j) o[j] = float(mass[size_t(j)]);
      } else {
        for (int c = 0; c <= pos; ++c) o[c / bs] = std::max(o[c / bs], float(prob[size_t(c)] / sum));
      }
    }
}

void reduce_block_max(const float* block_max, int qo_len, int kv_len, int Hq, int Hkv, const GroundTruthRequest& req) {
  const int bs = req.block_size, nb = (kv_len + bs - 1) / bs, start = kv_len - qo_len;
  const int first_qb = start / bs, q_blocks = (kv_len - 1) / bs - first_qb + 1, group = Hq / Hkv;
  auto at = [&](int t, int h) { return block_max + (size_t(t) * Hq + h) * nb; };
  if (req.pool_2d) {
    std::fill_n(req.pool_2d, size_t(Hq) * q_blocks * nb, 0.0f);
    for (int t = 0; t < qo_len; ++t)
      for (int h = 0; h < Hq; ++h) {
        float* dst = req.pool_2d + (size_t(h) * q_blocks + (start + t) / bs - first_qb) * nb;
        const float* src = at(t, h);
        for (int j = 0; j < nb; ++j) dst[j] = std::max(dst[j], src[j]);
      }
  }
  if (req.group_max)
    for (size_t i = 0; i < req.rows.size(); ++i)
      for (int hk = 0; hk < Hkv; ++hk) {
        float* dst = req.group_max + (i * Hkv + hk) * nb;
        for (int j = 0; j < nb; ++j) {
          float m = 0.0f;  // heads in order (the GPU's group_max_kernel adds them in the same order)
          for (int g = 0; g < group; ++g) {
            const float x = at(req.rows[i], hk * group + g)[j];
            m = req.group == GroupPool::kSum ? m + x : std::max(m, x);
          }
          dst[j] = m;
        }
      }
}

}  // namespace seer
