// Ground-truth block maxima of causal attention probabilities; see block_max.h.
#include "kernels/cpu/block_max.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace seer {
namespace {

constexpr int kTileRows = 64;

void blas_single_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

constexpr int kChunkKeys = 512;  // keys per sgemm: a 64 x 512 logit tile (128 KB) stays in L2

struct Scratch {
  std::vector<float> q;     // [kTileRows, head_dim]
  std::vector<float> s;     // [kTileRows, chunk] logits in base 2
  std::vector<float> bmax;  // [kTileRows, nb] block max logits
  float row_max[kTileRows], row_sum[kTileRows];
};

int chunk_keys(int bs) { return bs * std::max(1, kChunkKeys / bs); }

// Rows rows[0..m) of qo head h (ascending): out_rows [m, nb] block maxima of the probabilities
// (p.block_mass: the blocks' masses). Keys go by chunks of whole blocks; each row keeps its running
// max and its sum of 2^(s - max) (rescaled when the max grows), as a flash-attention forward does, and
// the max logit of each block (or log2 of its sum of 2^logit; a block never spans two chunks).
void tile(const AttentionParams& p, int bs, int h, const int* rows, int m, Scratch& sc,
          float* out_rows, int64_t out_stride) {
  using namespace simd;
  const int d = p.head_dim, group = p.num_qo_heads / p.num_kv_heads, start = p.start_pos();
  const int nb = (p.kv_len + bs - 1) / bs, chunk = chunk_keys(bs);
  const int n_keys = start + rows[m - 1] + 1;
  for (int i = 0; i < m; ++i) {
    std::copy_n(p.q + (size_t(rows[i]) * p.num_qo_heads + h) * d, d, sc.q.data() + size_t(i) * d);
    sc.row_max[i] = -INFINITY;
    sc.row_sum[i] = 0.0f;
  }
  const float* k = p.k_cache + size_t(h / group) * p.max_context * d;
  const float alpha = p.scale * float(M_LOG2E);
  for (int c0 = 0; c0 < n_keys; c0 += chunk) {
    const int cn = std::min(chunk, n_keys - c0);
    // Rows whose keys start after c0 see nothing of this chunk; the sgemm still covers all m rows.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, cn, d, alpha, sc.q.data(), d, k + size_t(c0) * d, d,
                0.0f, sc.s.data(), cn);
    for (int i = 0; i < m; ++i) {
      const int pos = start + rows[i];
      if (pos < c0) continue;
      const int c_end = std::min(c0 + cn, pos + 1);  // keys [c0, c_end) are visible
      const float* s = sc.s.data() + size_t(i) * cn - c0;  // s[c] for absolute key c
      float* bmax = sc.bmax.data() + size_t(i) * nb;
      float chunk_max = -INFINITY;
      for (int j = c0 / bs; j * bs < c_end; ++j) {
        const int a = j * bs, b = std::min(a + bs, c_end);
        int c = a;
        float m_j = -INFINITY;
        if (b - a >= kLanes) {
          f32x16 acc = load(s + c);
          for (c += kLanes; c + kLanes <= b; c += kLanes) acc = vmax(acc, load(s + c));
          m_j = hmax(acc);
        }
        for (; c < b; ++c) m_j = std::max(m_j, s[c]);
        if (p.block_mass && m_j != -INFINITY) {  // log2 of the block's sum of 2^logit
          float sum = 0.0f;
          for (c = a; c < b; ++c) sum += std::exp2(s[c] - m_j);
          m_j += std::log2(sum);
        }
        bmax[j] = m_j;
        chunk_max = std::max(chunk_max, m_j);
      }
      const float new_max = std::max(sc.row_max[i], chunk_max);
      const f32x16 vm = splat(new_max);
      f32x16 acc = splat(0.0f);
      int c = c0;
      for (; c + kLanes <= c_end; c += kLanes) acc += simd::exp2(load(s + c) - vm);
      float sum = hsum(acc);
      for (; c < c_end; ++c) sum += std::exp2(s[c] - new_max);
      sc.row_sum[i] = sc.row_sum[i] * std::exp2(sc.row_max[i] - new_max) + sum;
      sc.row_max[i] = new_max;
    }
  }
  for (int i = 0; i < m; ++i) {
    const int last_block = (start + rows[i]) / bs;
    const float* bmax = sc.bmax.data() + size_t(i) * nb;
    float* out = out_rows + size_t(i) * out_stride;
    const float inv = 1.0f / sc.row_sum[i];
    for (int j = 0; j <= last_block; ++j) out[j] = std::exp2(bmax[j] - sc.row_max[i]) * inv;
    for (int j = last_block + 1; j < nb; ++j) out[j] = 0.0f;
  }
}

std::vector<Scratch> make_scratch(const AttentionParams& p, int bs, int threads) {
  std::vector<Scratch> sc(static_cast<size_t>(threads));
  for (Scratch& s : sc) {
    s.q.resize(size_t(kTileRows) * p.head_dim);
    s.s.resize(size_t(kTileRows) * chunk_keys(bs));
    s.bmax.resize(size_t(kTileRows) * ((p.kv_len + bs - 1) / bs));
  }
  return sc;
}

}  // namespace

void attention_block_max_2d(const AttentionParams& p, int bs, float* out, ThreadPool& pool) {
  blas_single_thread();
  const int start = p.start_pos(), first_qb = start / bs, last_qb = (p.kv_len - 1) / bs;
  const int rows = last_qb - first_qb + 1, nb = last_qb + 1;
  std::vector<Scratch> scratch = make_scratch(p, bs, pool.size());
  std::vector<std::vector<float>> tiles(static_cast<size_t>(pool.size()),
                                        std::vector<float>(size_t(std::max(bs, kTileRows)) * nb));
  auto item = [&](int64_t i, int tid) {
    const int h = int(i / rows), r = int(i % rows), qb = first_qb + r;
    // The new tokens of query block qb, as indices into q, in tiles of kTileRows.
    const int i0 = std::max(qb * bs, start) - start, i1 = std::min((qb + 1) * bs, p.kv_len) - start;
    float* dst = out + (size_t(h) * rows + r) * nb;
    std::fill_n(dst, nb, 0.0f);
    int idx[kTileRows];
    float* t = tiles[size_t(tid)].data();
    for (int a = i0; a < i1; a += kTileRows) {
      const int m = std::min(kTileRows, i1 - a);
      for (int k = 0; k < m; ++k) idx[k] = a + k;
      tile(p, bs, h, idx, m, scratch[size_t(tid)], t, nb);
      for (int k = 0; k < m; ++k)
        for (int j = 0; j < nb; ++j) dst[j] = std::max(dst[j], t[size_t(k) * nb + j]);
    }
  };
  pool.parallel_for(int64_t(p.num_qo_heads) * rows, item);
}

void attention_block_max_1d(const AttentionParams& p, int bs, const int* rows, int n, float* out,
                            ThreadPool& pool) {
  blas_single_thread();
  if (n == 0) return;
  const int nb = (p.kv_len + bs - 1) / bs, Hq = p.num_qo_heads;
  const int chunks = (n + kTileRows - 1) / kTileRows;
  std::vector<Scratch> scratch = make_scratch(p, bs, pool.size());
  // Largest chunks first: their rows see the most keys.
  auto item = [&](int64_t i, int tid) {
    const int h = int(i % Hq), c = chunks - 1 - int(i / Hq);
    const int a = c * kTileRows, m = std::min(kTileRows, n - a);
    tile(p, bs, h, rows + a, m, scratch[size_t(tid)], out + (size_t(a) * Hq + h) * nb, int64_t(Hq) * nb);
  };
  pool.parallel_for(int64_t(chunks) * Hq, item);
}

}  // namespace seer
