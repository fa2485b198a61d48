// Gate training math (SPEC §4): one layer's gate loss against its ground truth and the analytic
// gradient with respect to the gate weights. See seer/gate_train.h for the example layouts.
//
// Forward, per key head:    kg[j] = RoPE_{bs*j}(knorm(kfeat[j] @ Wk))
//          per query row:   qg    = RoPE_pos(qnorm(x @ Wq))     (x: pooled Q block or decode query)
//          scores:          s[j]  = qg . kg[j] / sqrt(dg) over the row's valid blocks
// The KL row loss sum_j gt[j] (log gt[j] - log p[j]), p = softmax(s), has dL/ds[j] = p[j] sum(gt) -
// gt[j]. The backward runs the chain transposed: RoPE^T (rotation by the negative angle, same
// attention factor), the RMSNorm Jacobian (and its weight), x^T @ dy for the linears.
//
// Matches the inference gates (gates.cpp): the prefill gate always applies RoPE (it has no
// use_rope switch, upstream neither) and has no norms; the decode gate honours use_qk_norm and
// use_rope. Everything runs in double, single-threaded (the trainer parallelises over layers).
// The products are one small register-tiled loop nest (gemm_acc); query rows go kRowTile at a
// time, each tile scored only up to its widest row (causal / previous-block masks).
#include <seer/gate_train.h>

#include "seer/gate_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace seer {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr int kRowTile = 32;  // query rows scored together (one [kRowTile, nb] score buffer)

// C[m, n] += A[m, k] @ B[k, n]. A[i, p] = a[i * a_rs + p * a_cs] with any strides (A^T costs
// nothing); B and C are row-major. Each kMr-row panel of A is first copied, as double and
// column-major, into a per-thread buffer; a kMr x kNr block of C then stays in registers over the
// k loop (the fixed-size inner loops unroll and vectorise). Without the copy, row-major double A
// ran 3x slower (its kMr broadcast loads hit the same offset of kMr different lines).
template <typename TA>
void gemm_acc(int m, int n, int k, const TA* a, int64_t a_rs, int64_t a_cs, const double* b, int64_t ldb,
              double* c, int64_t ldc) {
  constexpr int kMr = 4, kNr = 8;
  thread_local std::vector<double> panel_buf;  // [k, kMr]
  if (panel_buf.size() < size_t(k) * kMr) panel_buf.resize(size_t(k) * kMr);
  double* __restrict panel = panel_buf.data();
  auto edge = [&](int i0, int i1, int j0) {  // rows [i0, i1), columns [j0, n)
    for (int i = i0; i < i1; ++i)
      for (int p = 0; p < k; ++p) {
        const double av = double(a[i * a_rs + p * a_cs]);
        const double* __restrict bp = b + p * ldb;
        double* __restrict ci = c + i * ldc;
        for (int j = j0; j < n; ++j) ci[j] += av * bp[j];
      }
  };
  int i = 0;
  for (; i + kMr <= m; i += kMr) {
    for (int p = 0; p < k; ++p)
      for (int ii = 0; ii < kMr; ++ii) panel[p * kMr + ii] = double(a[(i + ii) * a_rs + p * a_cs]);
    int j = 0;
    for (; j + kNr <= n; j += kNr) {
      double acc[kMr][kNr];
      for (int ii = 0; ii < kMr; ++ii)
        for (int jj = 0; jj < kNr; ++jj) acc[ii][jj] = c[(i + ii) * ldc + j + jj];
      for (int p = 0; p < k; ++p) {
        const double* __restrict bp = b + p * ldb + j;
        for (int ii = 0; ii < kMr; ++ii) {
          const double av = panel[p * kMr + ii];
          for (int jj = 0; jj < kNr; ++jj) acc[ii][jj] += av * bp[jj];
        }
      }
      for (int ii = 0; ii < kMr; ++ii)
        for (int jj = 0; jj < kNr; ++jj) c[(i + ii) * ldc + j + jj] = acc[ii][jj];
    }
    if (j < n) edge(i, i + kMr, j);
  }
  edge(i, m, 0);
}

// Gate RoPE tables of `n` positions, [n, dg/2] each: cos and sin times the attention factor. The
// angle is rounded as rope_tables() does (position * inv_freq in float), so logits match inference.
struct RopeTable {
  int half = 0;
  std::vector<double> cos_t, sin_t;  // [n, dg/2]
  RopeTable(const GateSet& g, const int* positions, int n) {
    float scale = 1.0f;
    const std::vector<float> inv = gate_detail::gate_inv_freq(g, &scale);
    half = int(inv.size());
    cos_t.resize(size_t(n) * half);
    sin_t.resize(cos_t.size());
    for (int r = 0; r < n; ++r)
      for (int i = 0; i < half; ++i) {
        const float angle = float(positions[r]) * inv[size_t(i)];
        cos_t[size_t(r) * half + i] = std::cos(double(angle)) * double(scale);
        sin_t[size_t(r) * half + i] = std::sin(double(angle)) * double(scale);
      }
  }
  // x <- R_r x, rotate_half pairs (i, i + dg/2).
  void apply(int r, double* x /*[dg]*/) const {
    const double* __restrict c = cos_t.data() + size_t(r) * half;
    const double* __restrict s = sin_t.data() + size_t(r) * half;
    double* __restrict lo = x;
    double* __restrict hi = x + half;
    for (int i = 0; i < half; ++i) {
      const double a = lo[i], b = hi[i];
      lo[i] = a * c[i] - b * s[i];
      hi[i] = b * c[i] + a * s[i];
    }
  }
  // g <- R_r^T g: the gradient through apply().
  void apply_transpose(int r, double* gx /*[dg]*/) const {
    const double* __restrict c = cos_t.data() + size_t(r) * half;
    const double* __restrict s = sin_t.data() + size_t(r) * half;
    double* __restrict lo = gx;
    double* __restrict hi = gx + half;
    for (int i = 0; i < half; ++i) {
      const double a = lo[i], b = hi[i];
      lo[i] = a * c[i] + b * s[i];
      hi[i] = b * c[i] - a * s[i];
    }
  }
};

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// y = u * r * w with r = 1/sqrt(mean(u^2) + eps) (rmsnorm_vec in gates.cpp); returns r.
double rmsnorm_forward(const double* u, const double* w, int dg, double* __restrict y) {
  double ss = 0.0;
  for (int o = 0; o < dg; ++o) ss += u[o] * u[o];
  const double r = 1.0 / std::sqrt(ss / dg + double(gate_detail::kNormEps));
  for (int o = 0; o < dg; ++o) y[o] = u[o] * r * w[o];
  return r;
}

// Gradient through rmsnorm_forward: dy -> du in place, dw += dy * u * r.
// y_o = w_o u_o r and dr/du_k = -r^3 u_k / dg, so du_k = r w_k dy_k - u_k r^3 / dg * sum_o w_o dy_o u_o.
void rmsnorm_backward(const double* u, double r, const double* w, int dg, double* __restrict dy,
                      double* __restrict dw) {
  double dot = 0.0;
  for (int o = 0; o < dg; ++o) dot += w[o] * dy[o] * u[o];
  const double k = r * r * r * dot / dg;
  for (int o = 0; o < dg; ++o) {
    dw[o] += dy[o] * u[o] * r;
    dy[o] = r * w[o] * dy[o] - k * u[o];
  }
}

// KL(gt || softmax(s)) over j < nv; entries with gt == 0 add 0. With `grad`, overwrites s with
// coef * dKL/ds = coef * (p[j] * sum(gt) - gt[j]).
double row_kl(double* s, const float* gt, int nv, bool grad, double coef) {
  double m = kNegInf;
  for (int j = 0; j < nv; ++j) m = std::max(m, s[j]);
  double z = 0.0, sum_gt = 0.0, acc = 0.0;  // acc = sum gt (log gt - (s - m))
  for (int j = 0; j < nv; ++j) {
    const double t = double(gt[j]);
    if (t > 0.0) acc += t * (std::log(t) - (s[j] - m));
    sum_gt += t;
    s[j] = std::exp(s[j] - m);
    z += s[j];
  }
  if (grad) {
    const double a = coef * sum_gt / z;
    for (int j = 0; j < nv; ++j) s[j] = a * s[j] - coef * double(gt[j]);
  }
  return acc + sum_gt * std::log(z);
}

// The row loss of a gate: row_kl over the v causal blocks, or, for a gate trained without block 0
// (GateConfig::sink_excluded), over blocks 1.. with the target renormalised there and no gradient
// on block 0's score. `tmp` is scratch.
double gate_row_kl(double* s, const float* gt, int v, bool sink_excluded, bool grad, double coef,
                   std::vector<float>& tmp) {
  if (!sink_excluded) return v > 0 ? row_kl(s, gt, v, grad, coef) : 0.0;
  if (v < 2) {  // nothing but block 0
    if (v == 1) s[0] = 0.0;
    return 0.0;
  }
  tmp.assign(gt + 1, gt + v);
  double sum = 0.0;
  for (float x : tmp) sum += x;
  if (sum > 0.0)
    for (float& x : tmp) x = float(x / sum);
  const double loss = row_kl(s + 1, tmp.data(), v - 1, grad, coef);
  s[0] = 0.0;
  return loss;
}

// One key head's keys as the scores use them.
struct Keys {
  int nb = 0, dg = 0;
  std::vector<double> kg;   // [nb, dg]
  std::vector<double> kgT;  // [dg, nb], kg transposed and scaled by 1/sqrt(dg)
  Keys(int nb_, int dg_) : nb(nb_), dg(dg_), kg(size_t(nb_) * dg_), kgT(kg.size()) {}
  void finish() {  // kgT from kg
    const double inv_sqrt = 1.0 / std::sqrt(double(dg));
    for (int j = 0; j < nb; ++j)
      for (int o = 0; o < dg; ++o) kgT[size_t(o) * nb + j] = kg[size_t(j) * dg + o] * inv_sqrt;
  }
};

// Scores of the query rows qg [rows, dg] against `keys`, kRowTile rows at a time:
// s[j] = qg[r] . kg[j] / sqrt(dg) for the row's nv(r) valid blocks, handed to on_row(r, s, nv).
// With dq/dk, on_row must leave dL/ds / sqrt(dg) in s[0, nv), and the rows' gradients are added:
// dq [rows, dg] += ds @ kg, dk [nb, dg] += ds^T @ qg. s_buf: [kRowTile, nb].
template <typename NvFn, typename RowFn>
void score_rows(const double* qg, int rows, const Keys& keys, NvFn&& nv, RowFn&& on_row, double* s_buf,
                double* dq, double* dk) {
  const int nb = keys.nb, dg = keys.dg;
  for (int r0 = 0; r0 < rows; r0 += kRowTile) {
    const int tr = std::min(kRowTile, rows - r0);
    int lim = 0;  // the tile's widest row
    for (int r = r0; r < r0 + tr; ++r) lim = std::max(lim, nv(r));
    std::fill_n(s_buf, size_t(tr) * nb, 0.0);
    gemm_acc(tr, lim, dg, qg + size_t(r0) * dg, dg, 1, keys.kgT.data(), nb, s_buf, nb);
    for (int r = 0; r < tr; ++r) {
      double* s = s_buf + size_t(r) * nb;
      const int v = nv(r0 + r);
      on_row(r0 + r, s, v);
      std::fill(s + v, s + lim, 0.0);  // masked blocks carry no gradient
    }
    if (!dq) continue;
    gemm_acc(tr, dg, lim, s_buf, nb, 1, keys.kg.data(), dg, dq + size_t(r0) * dg, dg);
    gemm_acc(lim, dg, tr, s_buf, 1, nb, qg + size_t(r0) * dg, dg, dk, dg);
  }
}

// grad += scale * g
void add_scaled(const std::vector<double>& g, double scale, std::vector<float>& grad) {
  SEER_ASSERT(grad.size() == g.size());
  for (size_t i = 0; i < g.size(); ++i) grad[i] += float(scale * g[i]);
}

// Prefill (SPEC §1.3-1.5, §4.1). With `logits` ([Hq, nb, nb]) every row is scored and nothing
// else is done; otherwise returns the loss of the kept rows and fills `grad` when given.
double prefill_pass(const GateSet& g, int layer, const PrefillGateExample& ex, double* logits,
                    GateLayerWeights* grad, double grad_scale) {
  const GateConfig& cfg = g.config;
  const int Hq = g.model.num_qo_heads, Hkv = g.model.num_kv_heads, d = g.model.head_dim;
  const int group_size = Hq / Hkv, bs = cfg.block_size, dg = cfg.hidden_size, nb = ex.num_blocks;
  const int qin = int(cfg.q_pools.size()) * d, kin = int(cfg.k_pools.size()) * d;
  const bool two = cfg.prefill_two_linear(d);
  const int first_row = logits ? 0 : std::max(0, ex.first_row);
  const int kept = nb - first_row;
  SEER_ASSERT(cfg.kind == GateKind::kPrefill);
  SEER_ASSERT(ex.q_pooled.size() == size_t(Hq) * nb * qin);
  SEER_ASSERT(ex.k_pooled.size() == size_t(Hkv) * nb * kin);
  SEER_ASSERT(two || qin == dg);
  if (nb <= 0 || kept <= 0) return 0.0;
  SEER_ASSERT(logits || ex.gt.size() == size_t(Hq) * kept * nb);
  const GateLayerWeights& W = g.layers[size_t(layer)];
  const bool want_grad = grad != nullptr && logits == nullptr;
  const double coef = 1.0 / (double(Hq) * kept * nb);
  const double coef_ds = coef / std::sqrt(double(dg));  // dL/ds already divided by sqrt(dg)

  std::vector<int> bpos(static_cast<size_t>(nb));
  for (int j = 0; j < nb; ++j) bpos[size_t(j)] = j * bs;
  const RopeTable rope(g, bpos.data(), nb);  // block j at bs*j, for query and key blocks alike
  const std::vector<double> wk = to_double(W.linear_k);                                   // [kheads, kin, dg]
  const std::vector<double> wq = two ? to_double(W.linear_q) : std::vector<double>{};  // [Hq, qin, dg]
  std::vector<double> dwk(want_grad ? wk.size() : 0), dwq(want_grad ? wq.size() : 0);

  Keys keys(nb, dg);
  std::vector<double> dk(want_grad ? size_t(nb) * dg : 0);            // [nb, dg]
  std::vector<double> qg(size_t(kept) * dg), dq(want_grad ? qg.size() : 0);  // [kept, dg]
  std::vector<double> s_buf(size_t(kRowTile) * nb);
  std::vector<float> renorm;  // gate_row_kl scratch
  double loss = 0.0;
  // Key heads: KV heads (two-linear) or query heads (K-only: W_k per query head, K head h/g).
  const int kheads = two ? Hkv : Hq;
  for (int kh = 0; kh < kheads; ++kh) {
    const float* kfeat = ex.k_pooled.data() + size_t(two ? kh : kh / group_size) * nb * kin;  // [nb, kin]
    std::fill(keys.kg.begin(), keys.kg.end(), 0.0);
    gemm_acc(nb, dg, kin, kfeat, kin, 1, wk.data() + size_t(kh) * kin * dg, dg, keys.kg.data(), dg);
    for (int j = 0; j < nb; ++j) rope.apply(j, keys.kg.data() + size_t(j) * dg);
    keys.finish();
    std::fill(dk.begin(), dk.end(), 0.0);
    const int h0 = two ? kh * group_size : kh, h1 = two ? h0 + group_size : kh + 1;
    for (int h = h0; h < h1; ++h) {
      // Query rows first_row.. : pooled Q (@ W_q[h]), RoPE at the block start.
      const float* qfeat = ex.q_pooled.data() + (size_t(h) * nb + first_row) * qin;  // [kept, qin]
      if (two) {
        std::fill(qg.begin(), qg.end(), 0.0);
        gemm_acc(kept, dg, qin, qfeat, qin, 1, wq.data() + size_t(h) * qin * dg, dg, qg.data(), dg);
      } else {
        std::copy_n(qfeat, qg.size(), qg.begin());
      }
      for (int r = 0; r < kept; ++r) rope.apply(first_row + r, qg.data() + size_t(r) * dg);
      std::fill(dq.begin(), dq.end(), 0.0);
      auto nv = [&](int r) { return first_row + r + 1; };  // causal, diagonal included
      if (logits) {
        score_rows(qg.data(), kept, keys, nv, [&](int r, const double* s, int v) {
          double* out = logits + (size_t(h) * nb + first_row + r) * nb;
          std::copy_n(s, v, out);
          std::fill(out + v, out + nb, kNegInf);
        }, s_buf.data(), nullptr, nullptr);
        continue;
      }
      score_rows(qg.data(), kept, keys, nv, [&](int r, double* s, int v) {
        loss += gate_row_kl(s, ex.gt.data() + (size_t(h) * kept + r) * nb, v, cfg.sink_excluded, want_grad,
                            coef_ds, renorm);
      }, s_buf.data(), want_grad ? dq.data() : nullptr, want_grad ? dk.data() : nullptr);
      if (want_grad && two) {
        for (int r = 0; r < kept; ++r) rope.apply_transpose(first_row + r, dq.data() + size_t(r) * dg);
        gemm_acc(qin, dg, kept, qfeat, 1, qin, dq.data(), dg, dwq.data() + size_t(h) * qin * dg, dg);
      }
    }
    if (want_grad) {
      for (int j = 0; j < nb; ++j) rope.apply_transpose(j, dk.data() + size_t(j) * dg);
      gemm_acc(kin, dg, nb, kfeat, 1, kin, dk.data(), dg, dwk.data() + size_t(kh) * kin * dg, dg);
    }
  }
  if (want_grad) {
    add_scaled(dwk, grad_scale, grad->linear_k);
    if (two) add_scaled(dwq, grad_scale, grad->linear_q);
  }
  return loss * coef;
}

// Decode (SPEC §2.1, §4.2). With `logits` ([n, Hkv, nb]) only scores; otherwise the loss and,
// when `grad` is given, its gradient.
double decode_pass(const GateSet& g, int layer, const DecodeGateExample& ex, double* logits,
                   GateLayerWeights* grad, double grad_scale) {
  const GateConfig& cfg = g.config;
  const int Hq = g.model.num_qo_heads, Hkv = g.model.num_kv_heads, d = g.model.head_dim;
  const int group_size = Hq / Hkv, bs = cfg.block_size, dg = cfg.hidden_size, nb = ex.num_blocks;
  const int kin = int(cfg.k_pools.size()) * d;
  const int n = int(ex.pos.size());
  SEER_ASSERT(cfg.kind == GateKind::kDecode);
  SEER_ASSERT(ex.k_pooled.size() == size_t(Hkv) * nb * kin);
  SEER_ASSERT(ex.q.size() == size_t(n) * Hq * d);
  SEER_ASSERT(logits || ex.gt.size() == size_t(n) * Hkv * nb);
  if (nb <= 0 || n <= 0) return 0.0;
  const QHeadPooling qp = cfg.q_head_pooling;
  SEER_ASSERT(qp != QHeadPooling::kQavg || d == dg);
  const bool norm = cfg.use_qk_norm, use_rope = cfg.use_rope;
  const GateLayerWeights& W = g.layers[size_t(layer)];
  const bool want_grad = grad != nullptr && logits == nullptr;
  const double coef = 1.0 / (double(Hkv) * n * nb);
  const double coef_ds = coef / std::sqrt(double(dg));  // dL/ds already divided by sqrt(dg)

  std::vector<int> bpos(static_cast<size_t>(nb));
  for (int j = 0; j < nb; ++j) bpos[size_t(j)] = j * bs;
  const RopeTable krope(g, bpos.data(), nb);   // block j at bs*j (SPEC §2.3, training)
  const RopeTable qrope(g, ex.pos.data(), n);  // a query at its token position
  const std::vector<double> wk = to_double(W.linear_k);  // [Hkv, kin, dg]
  const std::vector<double> wq = to_double(W.linear_q);  // Qproj [Hkv, g*d, dg] | Qavgproj [Hkv, d, dg] | none
  const std::vector<double> qnw = norm ? to_double(W.q_norm) : std::vector<double>{};  // [dg]
  const std::vector<double> knw = norm ? to_double(W.k_norm) : std::vector<double>{};  // [dg]
  std::vector<double> dwk(want_grad ? wk.size() : 0), dwq(want_grad ? wq.size() : 0);
  std::vector<double> dqn(want_grad && norm ? size_t(dg) : 0), dkn(dqn.size());  // [dg]

  const int qin = qp == QHeadPooling::kQproj ? group_size * d : d;  // query linear input
  Keys keys(nb, dg);
  std::vector<double> ku(size_t(nb) * dg), dk(want_grad ? ku.size() : 0);  // [nb, dg] pre-norm keys, grad
  std::vector<double> kr(static_cast<size_t>(nb));                        // 1/rms per block
  std::vector<double> qavg(qp == QHeadPooling::kQproj ? 0 : size_t(n) * d);  // [n, d]
  std::vector<double> qu(size_t(n) * dg), qg(qu.size()), dq(want_grad ? qu.size() : 0);  // [n, dg]
  std::vector<double> qr(static_cast<size_t>(n));                         // 1/rms per token
  std::vector<double> s_buf(size_t(kRowTile) * nb);
  std::vector<float> renorm;  // gate_row_kl scratch
  auto nv = [&](int t) { return std::min(nb, ex.pos[size_t(t)] / bs); };  // strictly previous blocks
  double loss = 0.0;
  for (int h = 0; h < Hkv; ++h) {
    // Keys: ku = kfeat @ Wk[h], kg = RoPE(knorm(ku)).
    const float* kfeat = ex.k_pooled.data() + size_t(h) * nb * kin;  // [nb, kin]
    std::fill(ku.begin(), ku.end(), 0.0);
    gemm_acc(nb, dg, kin, kfeat, kin, 1, wk.data() + size_t(h) * kin * dg, dg, ku.data(), dg);
    for (int j = 0; j < nb; ++j) {
      double* k = keys.kg.data() + size_t(j) * dg;
      if (norm)
        kr[size_t(j)] = rmsnorm_forward(ku.data() + size_t(j) * dg, knw.data(), dg, k);
      else
        std::copy_n(ku.data() + size_t(j) * dg, dg, k);
      if (use_rope) krope.apply(j, k);
    }
    keys.finish();

    // Queries: qu = head-pooled q (@ Wq[h]), qg = RoPE(qnorm(qu)).
    const float* qh = ex.q.data() + size_t(h) * group_size * d;  // row t at t*Hq*d: the group's g*d values
    const int64_t ldq = int64_t(Hq) * d;
    if (qp != QHeadPooling::kQproj) {
      for (int t = 0; t < n; ++t) {
        double* a = qavg.data() + size_t(t) * d;
        std::fill_n(a, d, 0.0);
        for (int i = 0; i < group_size; ++i) {
          const float* q = qh + t * ldq + size_t(i) * d;
          for (int c = 0; c < d; ++c) a[c] += double(q[c]);
        }
        for (int c = 0; c < d; ++c) a[c] /= group_size;
      }
    }
    const double* wqh = wq.empty() ? nullptr : wq.data() + size_t(h) * qin * dg;  // [qin, dg]
    switch (qp) {
      case QHeadPooling::kQproj:
        std::fill(qu.begin(), qu.end(), 0.0);
        gemm_acc(n, dg, qin, qh, ldq, 1, wqh, dg, qu.data(), dg);
        break;
      case QHeadPooling::kQavgproj:
        std::fill(qu.begin(), qu.end(), 0.0);
        gemm_acc(n, dg, qin, qavg.data(), d, 1, wqh, dg, qu.data(), dg);
        break;
      case QHeadPooling::kQavg: std::copy(qavg.begin(), qavg.end(), qu.begin()); break;
    }
    for (int t = 0; t < n; ++t) {
      double* q = qg.data() + size_t(t) * dg;
      const double* u = qu.data() + size_t(t) * dg;
      if (norm)
        qr[size_t(t)] = rmsnorm_forward(u, qnw.data(), dg, q);
      else
        std::copy_n(u, dg, q);
      if (use_rope) qrope.apply(t, q);
    }

    if (logits) {
      score_rows(qg.data(), n, keys, nv, [&](int t, const double* s, int v) {
        double* out = logits + (size_t(t) * Hkv + h) * nb;
        std::copy_n(s, v, out);
        std::fill(out + v, out + nb, kNegInf);
      }, s_buf.data(), nullptr, nullptr);
      continue;
    }
    std::fill(dk.begin(), dk.end(), 0.0);
    std::fill(dq.begin(), dq.end(), 0.0);
    score_rows(qg.data(), n, keys, nv, [&](int t, double* s, int v) {
      loss += gate_row_kl(s, ex.gt.data() + (size_t(t) * Hkv + h) * nb, v, cfg.sink_excluded, want_grad, coef_ds,
                          renorm);
    }, s_buf.data(), want_grad ? dq.data() : nullptr, want_grad ? dk.data() : nullptr);
    if (!want_grad) continue;

    // Back through RoPE, qnorm and the query linear.
    for (int t = 0; t < n; ++t) {
      double* dqt = dq.data() + size_t(t) * dg;
      if (use_rope) qrope.apply_transpose(t, dqt);
      if (norm) rmsnorm_backward(qu.data() + size_t(t) * dg, qr[size_t(t)], qnw.data(), dg, dqt, dqn.data());
    }
    double* dwqh = dwq.empty() ? nullptr : dwq.data() + size_t(h) * qin * dg;
    switch (qp) {
      case QHeadPooling::kQproj: gemm_acc(qin, dg, n, qh, 1, ldq, dq.data(), dg, dwqh, dg); break;
      case QHeadPooling::kQavgproj: gemm_acc(qin, dg, n, qavg.data(), 1, d, dq.data(), dg, dwqh, dg); break;
      case QHeadPooling::kQavg: break;
    }
    // Back through RoPE, knorm and the key linear.
    for (int j = 0; j < nb; ++j) {
      double* dkj = dk.data() + size_t(j) * dg;
      if (use_rope) krope.apply_transpose(j, dkj);
      if (norm) rmsnorm_backward(ku.data() + size_t(j) * dg, kr[size_t(j)], knw.data(), dg, dkj, dkn.data());
    }
    gemm_acc(kin, dg, nb, kfeat, 1, kin, dk.data(), dg, dwk.data() + size_t(h) * kin * dg, dg);
  }
  if (want_grad) {
    add_scaled(dwk, grad_scale, grad->linear_k);
    if (!dwq.empty()) add_scaled(dwq, grad_scale, grad->linear_q);
    if (norm) {
      add_scaled(dqn, grad_scale, grad->q_norm);
      add_scaled(dkn, grad_scale, grad->k_norm);
    }
  }
  return loss * coef;
}

}  // namespace

std::vector<float> pool_block_features(const std::vector<PoolType>& pools, const float* x, int T,
                                       int heads, int d, int bs) {
  const int nb = (T + bs - 1) / bs;
  const int P = int(pools.size());
  const int64_t row = int64_t(heads) * d;
  std::vector<float> out(size_t(heads) * nb * P * d);  // [heads, nb, P*d]
  std::vector<float> mx(static_cast<size_t>(row)), mn(mx.size()), sum(mx.size());  // [heads, d]
  for (int b = 0; b < nb; ++b) {
    const int count = std::min(bs, T - b * bs);
    // All heads at once (token rows are contiguous), then one feature per head.
    gate_detail::pool_stats(pools, x + size_t(b) * bs * row, count, row, row, mx.data(), mn.data(), sum.data());
    for (int h = 0; h < heads; ++h) {
      const size_t o = size_t(h) * d;
      gate_detail::write_features(pools, mx.data() + o, mn.data() + o, sum.data() + o, count, d,
                                  out.data() + (size_t(h) * nb + b) * P * d);
    }
  }
  return out;
}

std::vector<double> prefill_gate_logits(const GateSet& gates, int layer, const PrefillGateExample& ex) {
  const int nb = ex.num_blocks;
  std::vector<double> out(size_t(gates.model.num_qo_heads) * nb * nb);  // [Hq, nb, nb]
  prefill_pass(gates, layer, ex, out.data(), nullptr, 0.0);
  return out;
}

std::vector<double> decode_gate_logits(const GateSet& gates, int layer, const DecodeGateExample& ex) {
  std::vector<double> out(ex.pos.size() * size_t(gates.model.num_kv_heads) * ex.num_blocks);  // [n, Hkv, nb]
  decode_pass(gates, layer, ex, out.data(), nullptr, 0.0);
  return out;
}

double prefill_gate_loss(const GateSet& gates, int layer, const PrefillGateExample& ex,
                         GateLayerWeights* grad, double grad_scale) {
  return prefill_pass(gates, layer, ex, nullptr, grad, grad_scale);
}

double decode_gate_loss(const GateSet& gates, int layer, const DecodeGateExample& ex,
                        GateLayerWeights* grad, double grad_scale) {
  return decode_pass(gates, layer, ex, nullptr, grad, grad_scale);
}

}  // namespace seer
