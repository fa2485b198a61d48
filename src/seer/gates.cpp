// AttnGate math: block pooling, the prefill gate (SPEC §1) and the decode gate with its
// K-compression cache (SPEC §2). Loading, saving and initialisation live in gates_io.cpp.
//
// Layouts (token-major inputs as the engine gives them):
//   q_nope [qo_len, num_qo_heads, head_dim], k_nope [qo_len, num_kv_heads, head_dim] (pre-RoPE)
//   pooled features [.., |pools| * head_dim], pools concatenated in the order max | min | avg
//   linear weights [heads, in, dg] (y = x @ W[h], no bias, upstream MultiHeadLinear)
// Gate RoPE is rotate_half over dg dims (see seer/gates.h for the [AMBIG] choice when dg != d).
#include <seer/gates.h>

#include "core/thread_pool.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/simd.h"
#include "seer/gate_math.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

namespace seer {
namespace {

using gate_detail::gate_inv_freq;
using gate_detail::kNormEps;
using gate_detail::pool_stats;
using gate_detail::write_features;

void blas_single_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Runs fn(i) for i in [0, n), on the pool when there is one.
template <typename Fn>
void for_each_index(ThreadPool* pool, int64_t n, Fn&& fn) {
  if (pool && n > 1)
    pool->parallel_for(n, [&](int64_t i, int) { fn(i); });
  else
    for (int64_t i = 0; i < n; ++i) fn(i);
}

// cos/sin tables [n, dg/2] for the gate RoPE at `positions`.
struct RopeTables {
  std::vector<float> cos_t, sin_t;
  RopeTables(const std::vector<float>& inv_freq, float scale, const int* positions, int64_t n) {
    cos_t.resize(size_t(n) * inv_freq.size());
    sin_t.resize(cos_t.size());
    rope_tables(inv_freq, scale, positions, n, cos_t.data(), sin_t.data());
  }
};

// Rotates `n` vectors of dg dims in place, vector i with row i of the tables.
void gate_rope(const RopeTables& t, float* x /*[n, dg]*/, int64_t n, int dg) {
  rope_apply(x, n, 1, dg, t.cos_t.data(), t.sin_t.data());
}

void rmsnorm_vec(float* x /*[dg]*/, const float* w /*[dg]*/, int dg) {
  double ss = 0.0;
  for (int i = 0; i < dg; ++i) ss += double(x[i]) * x[i];
  const float r = float(1.0 / std::sqrt(ss / dg + kNormEps));
  for (int i = 0; i < dg; ++i) x[i] = x[i] * r * w[i];
}

// Pools `count` vectors of d dims, `stride` floats apart, into [|pools|*d].
void pool_vectors(const std::vector<PoolType>& pools, const float* x, int count, int64_t stride,
                  int d, float* feat, float* scratch /*[3*d]*/) {
  pool_stats(pools, x, count, stride, d, scratch, scratch + d, scratch + 2 * d);
  write_features(pools, scratch, scratch + d, scratch + 2 * d, count, d, feat);
}

// C[m, n] = alpha * A[m, k] @ B[k, n] (row-major).
void gemm_nn(int m, int n, int k, float alpha, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, k, b, n, 0.0f, c, n);
}
// C[m, n] = alpha * A[m, k] @ B[n, k]^T.
void gemm_nt(int m, int n, int k, float alpha, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, alpha, a, k, b, k, 0.0f, c, n);
}

// The last step of both gates' scoring: the softmax of each row when the rule wants probabilities;
// for a gate trained without block 0 (GateConfig::sink_excluded) over blocks 1.., and block 0 then
// scored +inf, so that every selection keeps it.
void finish_scores(const GateConfig& c, bool probabilities, float* x /*[rows, n]*/, int64_t rows, int n) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (c.sink_excluded)
    for (int64_t r = 0; r < rows; ++r) x[r * n] = -kInf;  // out of the softmax
  if (probabilities) softmax_rows(x, rows, n);
  if (c.sink_excluded)
    for (int64_t r = 0; r < rows; ++r) x[r * n] = kInf;
}

}  // namespace

void softmax_rows(float* x, int64_t rows, int n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* v = x + r * n;
    float m = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < n; ++i) m = std::max(m, v[i]);
    if (m == -std::numeric_limits<float>::infinity()) {  // nothing valid: all zero
      std::fill_n(v, n, 0.0f);
      continue;
    }
    double s = 0.0;
    for (int i = 0; i < n; ++i) {
      v[i] = std::exp(v[i] - m);
      s += v[i];
    }
    const float inv = float(1.0 / s);
    for (int i = 0; i < n; ++i) v[i] *= inv;
  }
}

// ---------------------------------------------------------------------------------------------
// Prefill gate

PrefillGate::PrefillGate(const GateSet& gates) : gates_(&gates) {
  inv_freq_ = gate_inv_freq(gates, &rope_scale_);
  layers_.resize(size_t(gates.model.num_layers));
}

void PrefillGate::reset() {
  for (auto& st : layers_) st = LayerState{};
}

int PrefillGate::length(int layer) const { return layers_[size_t(layer)].len; }

std::vector<float> PrefillGate::pooled_k(int layer) const {
  const GateSet& g = *gates_;
  const int Hkv = g.model.num_kv_heads, d = g.model.head_dim, bs = g.config.block_size;
  const auto& pools = g.config.k_pools;
  const int P = int(pools.size());
  LayerState& st = layers_[size_t(layer)];
  fold_pending(st);
  const int nb = (st.len + bs - 1) / bs;
  std::vector<float> out(size_t(Hkv) * nb * P * d);  // [num_kv_heads, num_blocks, P*head_dim]
  for (int h = 0; h < Hkv; ++h)
    for (int b = 0; b < nb; ++b) {
      const size_t src = (size_t(b) * Hkv + h) * d;
      write_features(pools, st.kmax.data() + src, st.kmin.data() + src, st.ksum.data() + src,
                     std::min(bs, st.len - b * bs), d, out.data() + (size_t(h) * nb + b) * P * d);
    }
  return out;
}

Status PrefillGate::absorb(int layer, const float* k_nope, int qo_len, int start_pos) {
  const GateSet& g = *gates_;
  const GateConfig& cfg = g.config;
  const int Hkv = g.model.num_kv_heads, d = g.model.head_dim;
  if (cfg.kind != GateKind::kPrefill) return Status::error("prefill gate: the gate set is a decode gate");
  if (layer < 0 || layer >= int(layers_.size()))
    return Status::error("prefill gate: layer {} out of range (gates have {} layers)", layer, layers_.size());
  if (qo_len < 1) return Status::error("prefill gate: qo_len {} must be >= 1", qo_len);
  LayerState& st = layers_[size_t(layer)];
  if (start_pos == 0) st = LayerState{};
  if (start_pos != st.len)
    return Status::error("prefill gate: layer {} holds {} tokens but the new tokens start at {}",
                         layer, st.len, start_pos);
  const size_t row = size_t(Hkv) * d;
  if (qo_len == 1) {  // a decode step: keep the row, pool it when a reader needs the store
    st.pending.insert(st.pending.end(), k_nope, k_nope + row);
    st.len += 1;
    return Status::ok();
  }
  fold_pending(st);
  pool_rows(st, k_nope, qo_len);
  return Status::ok();
}

void PrefillGate::fold_pending(LayerState& st) const {
  const size_t row = size_t(gates_->model.num_kv_heads) * gates_->model.head_dim;
  if (st.pending.empty()) return;
  pool_rows(st, st.pending.data(), int(st.pending.size() / row));
  st.pending.clear();
}

void PrefillGate::pool_rows(LayerState& st, const float* k_nope, int n) const {
  const GateSet& g = *gates_;
  const int Hkv = g.model.num_kv_heads, d = g.model.head_dim, bs = g.config.block_size;
  // Running K statistics, [num_blocks, num_kv_heads, head_dim] (appendable).
  const int start_pos = st.pooled;
  const int kv_len = start_pos + n;
  const int num_blocks = (kv_len + bs - 1) / bs;
  st.kmax.resize(size_t(num_blocks) * Hkv * d);
  st.kmin.resize(st.kmax.size());
  st.ksum.resize(st.kmax.size());
  for (int t = 0; t < n; ++t) {
    const int p = start_pos + t;
    const bool first = p % bs == 0;
    for (int h = 0; h < Hkv; ++h) {
      const float* k = k_nope + (size_t(t) * Hkv + h) * d;
      const size_t o = (size_t(p / bs) * Hkv + h) * d;
      float* mx = st.kmax.data() + o;
      float* mn = st.kmin.data() + o;
      float* sm = st.ksum.data() + o;
      if (first) {
        std::copy_n(k, d, mx);
        std::copy_n(k, d, mn);
        std::copy_n(k, d, sm);
      } else {
        for (int i = 0; i < d; ++i) {
          mx[i] = std::max(mx[i], k[i]);
          mn[i] = std::min(mn[i], k[i]);
          sm[i] += k[i];
        }
      }
    }
  }
  st.pooled = kv_len;
  st.len = std::max(st.len, kv_len);
}

Status PrefillGate::forward(int layer, const float* q_nope, const float* k_nope, int qo_len,
                            int start_pos, bool probabilities, PrefillGateScores* out,
                            ThreadPool* pool) {
  SEER_RETURN_IF_ERROR(absorb(layer, k_nope, qo_len, start_pos));
  fold_pending(layers_[size_t(layer)]);  // a one-token forward was only queued
  const GateSet& g = *gates_;
  const GateConfig& cfg = g.config;
  const int Hq = g.model.num_qo_heads, Hkv = g.model.num_kv_heads, d = g.model.head_dim;
  const int group_size = Hq / Hkv, bs = cfg.block_size, dg = cfg.hidden_size;
  LayerState& st = layers_[size_t(layer)];
  blas_single_thread();
  const int kv_len = start_pos + qo_len;
  const int num_blocks = (kv_len + bs - 1) / bs;

  // 2. Key features per KV head, [num_kv_heads, num_blocks, P*head_dim].
  const int Pk = int(cfg.k_pools.size());
  const int kin = Pk * d;
  std::vector<float> kfeat(size_t(Hkv) * num_blocks * kin);
  for (int h = 0; h < Hkv; ++h)
    for (int b = 0; b < num_blocks; ++b) {
      const size_t src = (size_t(b) * Hkv + h) * d;
      write_features(cfg.k_pools, st.kmax.data() + src, st.kmin.data() + src, st.ksum.data() + src,
                     std::min(bs, kv_len - b * bs), d, kfeat.data() + (size_t(h) * num_blocks + b) * kin);
    }

  const int first_qb = start_pos / bs;
  const int last_qb = (kv_len - 1) / bs;
  const int rows = last_qb - first_qb + 1;
  std::vector<int> kpos(static_cast<size_t>(num_blocks)), qpos(static_cast<size_t>(rows));
  for (int b = 0; b < num_blocks; ++b) kpos[size_t(b)] = b * bs;
  for (int r = 0; r < rows; ++r) qpos[size_t(r)] = (first_qb + r) * bs;
  const RopeTables krope(inv_freq_, rope_scale_, kpos.data(), num_blocks);
  const RopeTables qrope(inv_freq_, rope_scale_, qpos.data(), rows);

  // 3. Projected, rotated keys: per query head (K-only form) or per KV head (two-linear form).
  const bool two = cfg.prefill_two_linear(d);
  const GateLayerWeights& W = g.layers[size_t(layer)];
  const int kheads = two ? Hkv : Hq;
  std::vector<float> kg(size_t(kheads) * num_blocks * dg);  // [kheads, num_blocks, dg]
  for_each_index(pool, kheads, [&](int64_t h) {
    const int src_head = two ? int(h) : int(h) / group_size;
    float* dst = kg.data() + size_t(h) * num_blocks * dg;
    gemm_nn(num_blocks, dg, kin, 1.0f, kfeat.data() + size_t(src_head) * num_blocks * kin,
            W.linear_k.data() + size_t(h) * kin * dg, dst);
    gate_rope(krope, dst, num_blocks, dg);
  });

  // 4. Pooled queries (new tokens only) -> optional Q linear -> RoPE, then scores.
  out->num_qo_heads = Hq;
  out->first_q_block = first_qb;
  out->num_rows = rows;
  out->num_key_blocks = num_blocks;
  out->scores.resize(size_t(Hq) * rows * num_blocks);
  const int Pq = int(cfg.q_pools.size());
  const int qin = Pq * d;
  const float scale = 1.0f / std::sqrt(float(dg));
  // Query statistics of all heads at once (token rows are contiguous): [rows, Hq*head_dim] each.
  const int64_t qrow = int64_t(Hq) * d;
  std::vector<float> qmax(size_t(rows * qrow)), qmin(qmax.size()), qsum(qmax.size());
  std::vector<int> qcount(static_cast<size_t>(rows));
  for_each_index(pool, rows, [&](int64_t r) {
    const int qb = first_qb + int(r);
    const int t0 = std::max(start_pos, qb * bs) - start_pos;
    const int t1 = std::min(kv_len, (qb + 1) * bs) - start_pos;
    qcount[size_t(r)] = t1 - t0;
    pool_stats(cfg.q_pools, q_nope + size_t(t0) * qrow, t1 - t0, qrow, qrow, qmax.data() + r * qrow,
               qmin.data() + r * qrow, qsum.data() + r * qrow);
  });
  for_each_index(pool, Hq, [&](int64_t hq) {
    const int h = int(hq);
    std::vector<float> qfeat(size_t(rows) * qin);  // [rows, Pq*head_dim]
    for (int r = 0; r < rows; ++r) {
      const size_t o = size_t(r) * qrow + size_t(h) * d;
      write_features(cfg.q_pools, qmax.data() + o, qmin.data() + o, qsum.data() + o, qcount[size_t(r)],
                     d, qfeat.data() + size_t(r) * qin);
    }
    std::vector<float> qg;  // [rows, dg]
    if (two) {
      qg.resize(size_t(rows) * dg);
      gemm_nn(rows, dg, qin, 1.0f, qfeat.data(), W.linear_q.data() + size_t(h) * qin * dg, qg.data());
    } else {
      qg = std::move(qfeat);  // qin == d == dg
    }
    gate_rope(qrope, qg.data(), rows, dg);
    const int kh = two ? h / group_size : h;
    float* s = out->scores.data() + size_t(h) * rows * num_blocks;
    gemm_nt(rows, num_blocks, dg, scale, qg.data(), kg.data() + size_t(kh) * num_blocks * dg, s);
    for (int r = 0; r < rows; ++r)
      for (int j = first_qb + r + 1; j < num_blocks; ++j)
        s[size_t(r) * num_blocks + j] = -std::numeric_limits<float>::infinity();
    finish_scores(cfg, probabilities, s, rows, num_blocks);
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Decode gate

KCompressionCache::KCompressionCache(const GateSet& gates, KCacheOptions opts)
    : gates_(&gates), opts_(opts) {
  inv_freq_ = gate_inv_freq(gates, &rope_scale_);
  layers_.resize(size_t(gates.model.num_layers));
  if (opts_.bf16_scoring) {
    linear_q_bf16_.resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l)
      for (float w : gates.layers[l].linear_q) linear_q_bf16_[l].push_back(fp32_to_bf16(w));
  }
  reset();
}

void KCompressionCache::reset() {
  const GateSet& g = *gates_;
  for (auto& st : layers_) {
    st.len = 0;
    st.entries.assign(size_t(g.model.num_kv_heads), {});
    st.entries_bf16.assign(size_t(g.model.num_kv_heads), {});
    st.remainder.assign(size_t(g.config.block_size) * g.model.num_kv_heads * g.model.head_dim, 0.0f);
  }
}

int KCompressionCache::length(int layer) const { return layers_[size_t(layer)].len; }
int KCompressionCache::num_blocks(int layer) const {
  return (layers_[size_t(layer)].len + gates_->config.block_size - 1) / gates_->config.block_size;
}
const float* KCompressionCache::entries(int layer, int kv_head) const {
  return layers_[size_t(layer)].entries[size_t(kv_head)].data();
}
const uint16_t* KCompressionCache::entries_bf16(int layer, int kv_head) const {
  return opts_.bf16_scoring ? layers_[size_t(layer)].entries_bf16[size_t(kv_head)].data() : nullptr;
}
const uint16_t* KCompressionCache::linear_q_bf16(int layer) const {
  if (!opts_.bf16_scoring || linear_q_bf16_[size_t(layer)].empty()) return nullptr;
  return linear_q_bf16_[size_t(layer)].data();
}

void KCompressionCache::compress_block(LayerState& st, int layer, int block, int rope_pos) {
  const GateSet& g = *gates_;
  const GateConfig& cfg = g.config;
  const int Hkv = g.model.num_kv_heads, d = g.model.head_dim, dg = cfg.hidden_size;
  const int bs = cfg.block_size, kin = int(cfg.k_pools.size()) * d;
  const GateLayerWeights& W = g.layers[size_t(layer)];
  std::vector<float> feat(static_cast<size_t>(kin)), scratch(3 * static_cast<size_t>(d));
  const RopeTables rope(inv_freq_, rope_scale_, &rope_pos, 1);
  for (int h = 0; h < Hkv; ++h) {
    pool_vectors(cfg.k_pools, st.remainder.data() + size_t(h) * d, bs, int64_t(Hkv) * d, d,
                 feat.data(), scratch.data());
    float* __restrict e = st.entries[size_t(h)].data() + size_t(block) * dg;
    const float* __restrict w = W.linear_k.data() + size_t(h) * kin * dg;  // [kin, dg]
    std::fill_n(e, dg, 0.0f);
    for (int i = 0; i < kin; ++i) {
      const float f = feat[size_t(i)];
      const float* wr = w + size_t(i) * dg;
      for (int o = 0; o < dg; ++o) e[o] += f * wr[o];
    }
    if (cfg.use_qk_norm) rmsnorm_vec(e, W.k_norm.data(), dg);
    if (cfg.use_rope) gate_rope(rope, e, 1, dg);
    if (opts_.int8_entries) {  // v -> s * round(v / s), s = max |v| / 127, in the GPU cache's fp32 steps
      float amax = 0.0f;
      for (int o = 0; o < dg; ++o) amax = std::max(amax, std::fabs(e[o]));
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f, s = amax / 127.0f;
      for (int o = 0; o < dg; ++o) e[o] = s * std::min(std::max(std::nearbyint(e[o] * inv), -127.0f), 127.0f);
    }
    if (opts_.bf16_scoring) {  // tiled [num_blocks/16, dg, 16]: see entries_bf16()
      uint16_t* tile = st.entries_bf16[size_t(h)].data() + size_t(block / kScoreTile) * dg * kScoreTile;
      for (int o = 0; o < dg; ++o) tile[size_t(o) * kScoreTile + block % kScoreTile] = fp32_to_bf16(e[o]);
    }
  }
}

Status KCompressionCache::update(int layer, const float* k_nope, int n_new, int start_pos) {
  const GateSet& g = *gates_;
  if (g.config.kind != GateKind::kDecode)
    return Status::error("K-compression cache: the gate set is a prefill gate");
  if (layer < 0 || layer >= int(layers_.size()))
    return Status::error("K-compression cache: layer {} out of range (gates have {} layers)", layer,
                         layers_.size());
  if (n_new < 1) return Status::error("K-compression cache: n_new {} must be >= 1", n_new);
  blas_single_thread();
  LayerState& st = layers_[size_t(layer)];
  if (start_pos == 0) {
    st.len = 0;
    for (auto& e : st.entries) e.clear();
    for (auto& e : st.entries_bf16) e.clear();
  }
  if (start_pos != st.len)
    return Status::error("K-compression cache: layer {} holds {} tokens but the new tokens start at {}",
                         layer, st.len, start_pos);
  const int Hkv = g.model.num_kv_heads, d = g.model.head_dim;
  const int bs = g.config.block_size, dg = g.config.hidden_size;
  for (int t = 0; t < n_new; ++t) {
    const int p = start_pos + t;
    const int slot = p % bs;  // shared by every layer: derived from the position (SPEC §9.3)
    if (slot == 0) {          // first token of a new block: zero placeholder entry
      for (auto& e : st.entries) e.resize(e.size() + size_t(dg), 0.0f);
      if (opts_.bf16_scoring && (p / bs) % kScoreTile == 0)
        for (auto& e : st.entries_bf16) e.resize(e.size() + size_t(dg) * kScoreTile, 0);
    }
    std::copy_n(k_nope + size_t(t) * Hkv * d, size_t(Hkv) * d,
                st.remainder.data() + size_t(slot) * Hkv * d);
    if (slot == bs - 1) {
      const int block = p / bs;
      const bool decode_step = n_new == 1 && opts_.upstream_decode_rope_position;
      compress_block(st, layer, block, decode_step ? p : block * bs);
    }
  }
  st.len = start_pos + n_new;
  return Status::ok();
}

namespace {

// Columns [o0, o0 + 16*NV) of gemv_bf16, NV accumulators in registers.
template <int NV>
void gemv_bf16_cols(const float* x, const uint16_t* w, int n_in, int n_out, int o0, float* out) {
  using namespace simd;
  f32x16 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = load(out + o0 + v * kLanes);
  for (int c = 0; c < n_in; ++c) {
    const f32x16 xc = splat(x[c]);
    const uint16_t* wr = w + size_t(c) * n_out + o0;
    for (int v = 0; v < NV; ++v) acc[v] += xc * load_bf16(wr + v * kLanes);
  }
  for (int v = 0; v < NV; ++v) store(out + o0 + v * kLanes, acc[v]);
}

// out[o] += sum_c x[c] * w[c, o] for bf16 w [n_in, n_out] (n_out a multiple of 16, else scalar).
// Rows are read in order, 64 columns at a time.
void gemv_bf16(const float* x, const uint16_t* w, int n_in, int n_out, float* out) {
  using namespace simd;
  if (n_out % kLanes != 0) {
    for (int c = 0; c < n_in; ++c)
      for (int o = 0; o < n_out; ++o) out[o] += x[c] * bf16_to_fp32(w[size_t(c) * n_out + o]);
    return;
  }
  int o0 = 0;
  for (; o0 + 4 * kLanes <= n_out; o0 += 4 * kLanes) gemv_bf16_cols<4>(x, w, n_in, n_out, o0, out);
  switch ((n_out - o0) / kLanes) {
    case 3: gemv_bf16_cols<3>(x, w, n_in, n_out, o0, out); break;
    case 2: gemv_bf16_cols<2>(x, w, n_in, n_out, o0, out); break;
    case 1: gemv_bf16_cols<1>(x, w, n_in, n_out, o0, out); break;
    default: break;
  }
}

// scores[j] = scale * e_j . q over bf16 entries tiled [ceil(n/16), dg, 16] (KCompressionCache::
// entries_bf16): 16 entries per tile, one lane each, so no horizontal sums.
void scores_bf16(const uint16_t* tiles, const float* q, int n, int dg, float scale, float* scores) {
  using namespace simd;
  static_assert(KCompressionCache::kScoreTile == kLanes);
  for (int t = 0; t * kLanes < n; ++t) {
    const uint16_t* tile = tiles + size_t(t) * dg * kLanes;
    f32x16 acc[4] = {};
    int o = 0;
    for (; o + 4 <= dg; o += 4)
      for (int u = 0; u < 4; ++u) acc[u] += splat(q[o + u]) * load_bf16(tile + size_t(o + u) * kLanes);
    for (; o < dg; ++o) acc[0] += splat(q[o]) * load_bf16(tile + size_t(o) * kLanes);
    alignas(64) float s[kLanes];
    store(s, (acc[0] + acc[1] + acc[2] + acc[3]) * splat(scale));
    std::copy_n(s, std::min(kLanes, n - t * kLanes), scores + size_t(t) * kLanes);
  }
}

// `cos_t`/`sin_t` [dg/2]: the position's RoPE table when the caller has it (shared by all layers
// of a decode step), else null to compute it here.
// Heads [h_begin, h_end) only (default: all), so that KV heads can be scored in parallel.
// `wq_bf16`: the layer's query projection in bf16 (KCompressionCache::linear_q_bf16), or null for
// the fp32 weights.
void decode_query(const GateSet& g, int layer, const float* q_nope, int pos,
                  const std::vector<float>& inv_freq, float rope_scale, float* qg,
                  const float* cos_t = nullptr, const float* sin_t = nullptr, int h_begin = 0, int h_end = -1,
                  const uint16_t* wq_bf16 = nullptr) {
  const GateConfig& cfg = g.config;
  const int Hkv = g.model.num_kv_heads, d = g.model.head_dim;
  const int group_size = g.model.num_qo_heads / Hkv, dg = cfg.hidden_size;
  const GateLayerWeights& W = g.layers[size_t(layer)];
  if (h_end < 0) h_end = Hkv;
  std::vector<float> avg;  // Qavg / Qavgproj: the group's mean query
  if (cfg.q_head_pooling != QHeadPooling::kQproj) avg.resize(size_t(d));
  for (int h = h_begin; h < h_end; ++h) {
    float* __restrict out = qg + size_t(h) * dg;
    std::fill_n(out, dg, 0.0f);
    if (cfg.q_head_pooling == QHeadPooling::kQproj) {
      // qg[h] = sum_i q[h*g + i] @ W[h, i]; W [num_kv_heads, group_size, head_dim, dg]
      for (int i = 0; i < group_size; ++i) {
        const float* q = q_nope + size_t(h * group_size + i) * d;
        const size_t off = (size_t(h) * group_size + i) * d * dg;
        if (wq_bf16)
          gemv_bf16(q, wq_bf16 + off, d, dg, out);
        else
          for (int c = 0; c < d; ++c)
            for (int o = 0; o < dg; ++o) out[o] += q[c] * W.linear_q[off + size_t(c) * dg + o];
      }
    } else {
      std::fill(avg.begin(), avg.end(), 0.0f);
      for (int i = 0; i < group_size; ++i) {
        const float* q = q_nope + size_t(h * group_size + i) * d;
        for (int c = 0; c < d; ++c) avg[size_t(c)] += q[c];
      }
      for (auto& a : avg) a /= float(group_size);
      if (cfg.q_head_pooling == QHeadPooling::kQavgproj) {
        const size_t off = size_t(h) * d * dg;  // [num_kv_heads, head_dim, dg]
        if (wq_bf16)
          gemv_bf16(avg.data(), wq_bf16 + off, d, dg, out);
        else
          for (int c = 0; c < d; ++c)
            for (int o = 0; o < dg; ++o) out[o] += avg[size_t(c)] * W.linear_q[off + size_t(c) * dg + o];
      } else {
        std::copy_n(avg.data(), dg, out);  // Qavg: d == dg
      }
    }
    if (cfg.use_qk_norm) rmsnorm_vec(out, W.q_norm.data(), dg);
  }
  if (cfg.use_rope) {
    float* first = qg + size_t(h_begin) * dg;
    if (cos_t) {
      rope_apply(first, 1, h_end - h_begin, dg, cos_t, sin_t);
    } else {
      const RopeTables rope(inv_freq, rope_scale, &pos, 1);
      rope_apply(first, 1, h_end - h_begin, dg, rope.cos_t.data(), rope.sin_t.data());
    }
  }
}

}  // namespace

void decode_gate_query(const GateSet& g, int layer, const float* q_nope, int pos, float* qg) {
  float scale = 1.0f;
  const std::vector<float> inv = gate_inv_freq(g, &scale);
  decode_query(g, layer, q_nope, pos, inv, scale, qg);
}

void KCompressionCache::prefetch(int layer) const {
  auto to_l2 = [](const void* p, size_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 2);  // read, L2 (prefetcht1)
  };
  const GateSet& g = *gates_;
  if (layer < 0 || layer >= int(layers_.size())) return;
  const LayerState& st = layers_[size_t(layer)];
  if (opts_.bf16_scoring) {
    to_l2(linear_q_bf16_[size_t(layer)].data(), linear_q_bf16_[size_t(layer)].size() * sizeof(uint16_t));
    for (const auto& e : st.entries_bf16) to_l2(e.data(), e.size() * sizeof(uint16_t));
  } else {
    const auto& wq = g.layers[size_t(layer)].linear_q;
    to_l2(wq.data(), wq.size() * sizeof(float));
    for (const auto& e : st.entries) to_l2(e.data(), e.size() * sizeof(float));
  }
}

void KCompressionCache::rope_at(int pos, const float** cos_t, const float** sin_t) const {
  if (pos != rope_pos_) {
    rope_cos_.resize(inv_freq_.size());
    rope_sin_.resize(inv_freq_.size());
    rope_tables(inv_freq_, rope_scale_, &pos, 1, rope_cos_.data(), rope_sin_.data());
    rope_pos_ = pos;
  }
  *cos_t = rope_cos_.data();
  *sin_t = rope_sin_.data();
}

Status decode_gate_scores(const KCompressionCache& cache, int layer, const float* q_nope, int pos,
                          bool probabilities, DecodeGateScores* out, ThreadPool* pool) {
  const GateSet& g = cache.gates();
  if (layer < 0 || layer >= g.model.num_layers)
    return Status::error("decode gate: layer {} out of range (gates have {} layers)", layer,
                         g.model.num_layers);
  if (cache.length(layer) != pos + 1)
    return Status::error("decode gate: layer {} cache holds {} tokens, expected {} (pos {} + 1)",
                         layer, cache.length(layer), pos + 1, pos);
  const int Hkv = g.model.num_kv_heads, dg = g.config.hidden_size;
  const int nb = cache.num_blocks(layer);
  thread_local std::vector<float> qg_buf;  // [num_kv_heads, dg]
  qg_buf.resize(size_t(Hkv) * dg);
  float* qg = qg_buf.data();  // workers must use the caller's buffer, not their thread_local one
  const float* cos_t = nullptr;
  const float* sin_t = nullptr;
  if (g.config.use_rope) cache.rope_at(pos, &cos_t, &sin_t);
  out->num_kv_heads = Hkv;
  out->num_blocks = nb;
  out->scores.resize(size_t(Hkv) * nb);
  float* scores = out->scores.data();
  const float scale = 1.0f / std::sqrt(float(dg));
  // One KV head per item: its pooled query, then scores[h, :] = entries[h] [nb, dg] @ qg[h] / sqrt(dg).
  const uint16_t* wq_bf16 = cache.linear_q_bf16(layer);
  const bool bf16 = cache.options().bf16_scoring;
  auto head = [&](int64_t h, int) {
    decode_query(g, layer, q_nope, pos, cache.rope_inv_freq(), cache.rope_scale(), qg, cos_t, sin_t, int(h),
                 int(h) + 1, wq_bf16);
    if (bf16)
      scores_bf16(cache.entries_bf16(layer, int(h)), qg + size_t(h) * dg, nb, dg, scale, scores + size_t(h) * nb);
    else
      cblas_sgemv(CblasRowMajor, CblasNoTrans, nb, dg, scale, cache.entries(layer, int(h)), dg, qg + size_t(h) * dg,
                  1, 0.0f, scores + size_t(h) * nb, 1);
  };
  if (pool)
    pool->parallel_for(Hkv, head);
  else
    for (int h = 0; h < Hkv; ++h) head(h, 0);
  finish_scores(g.config, probabilities, out->scores.data(), Hkv, nb);
  return Status::ok();
}

}  // namespace seer
