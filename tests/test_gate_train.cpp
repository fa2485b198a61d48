// Gate training math (seer/gate_train.h, SPEC §4): block pooling equals the inference gate's;
// training logits equal PrefillGate / decode_gate_scores on the same tokens; the analytic
// gradients of every gate variant equal central finite differences on every weight element; the
// loss is a KL (>= 0, ~0 at the model's own softmax) and gradient descent lowers it.
#include <seer/gate_train.h>
#include <seer/gates.h>

#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace seer {
namespace {

using test::random_vector;

constexpr int kHq = 6, kHkv = 2, kD = 8;

ModelConfig small_model(int Hq = kHq, int Hkv = kHkv, int d = kD) {
  ModelConfig m;
  m.num_layers = 2;
  m.num_qo_heads = Hq;
  m.num_kv_heads = Hkv;
  m.head_dim = d;
  m.hidden_size = Hq * d;
  m.rope_theta = 10000.0f;
  return m;
}

// Fresh gates with weights large enough for a far-from-uniform softmax and norm weights away
// from 1 (a dropped norm-weight term would show). init_gates only accepts block sizes 64 / 128;
// the math takes any, so smaller ones are set afterwards.
GateSet make_gates(GateKind kind, GateOptions o, uint64_t seed, int block_size,
                   const ModelConfig& model = small_model()) {
  auto r = init_gates(kind, model, o, seed);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  GateSet gs = std::move(r).value();
  gs.config.block_size = block_size;
  std::mt19937_64 rng(seed + 1000);
  const float a = 0.6f * std::sqrt(8.0f / float(model.head_dim));  // logits of order 1 for any head_dim
  std::uniform_real_distribution<float> lin(-a, a), nrm(0.5f, 1.5f);
  for (auto& l : gs.layers) {
    for (auto& x : l.linear_q) x = lin(rng);
    for (auto& x : l.linear_k) x = lin(rng);
    for (auto& x : l.q_norm) x = nrm(rng);
    for (auto& x : l.k_norm) x = nrm(rng);
  }
  return gs;
}

GateOptions prefill_options(const std::string& type, int hidden_size = 0) {
  GateOptions o;
  o.gate_type = type;
  o.hidden_size = hidden_size;
  return o;
}

GateOptions decode_options(QHeadPooling qp, bool qk_norm, bool rope = true) {
  GateOptions o;
  o.q_head_pooling = qp;
  o.use_qk_norm = qk_norm;
  o.use_rope = rope;
  return o;
}

// A ground-truth row over `nv` valid blocks of `nb`: random, about a third zero, sums to 1.
void random_gt_row(std::mt19937_64& rng, int nv, int nb, float* row) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::fill_n(row, nb, 0.0f);
  double s = 0.0;
  for (int j = 0; j < nv; ++j) {
    row[j] = u(rng) < 0.35f ? 0.0f : u(rng);
    s += row[j];
  }
  if (nv > 0 && s == 0.0) row[nv - 1] = 1.0f, s = 1.0;
  for (int j = 0; j < nv; ++j) row[j] = float(row[j] / s);
}

// Raw tokens of one sequence plus the example built from them.
struct PrefillCase {
  int T = 0;
  std::vector<float> q, k;  // [T, Hq, d], [T, Hkv, d]
  PrefillGateExample ex;
};

PrefillCase make_prefill_case(const GateSet& gs, int T, uint64_t seed) {
  const GateConfig& c = gs.config;
  const int Hq = gs.model.num_qo_heads, Hkv = gs.model.num_kv_heads, d = gs.model.head_dim;
  const int bs = c.block_size;
  PrefillCase pc;
  pc.T = T;
  pc.q = random_vector(size_t(T) * Hq * d, seed, -1.5f, 1.5f);
  pc.k = random_vector(size_t(T) * Hkv * d, seed + 1, -1.5f, 1.5f);
  PrefillGateExample& ex = pc.ex;
  ex.num_blocks = (T + bs - 1) / bs;
  ex.q_pooled = pool_block_features(c.q_pools, pc.q.data(), T, Hq, d, bs);
  ex.k_pooled = pool_block_features(c.k_pools, pc.k.data(), T, Hkv, d, bs);
  ex.first_row = ex.num_blocks / 4;
  const int nb = ex.num_blocks, kept = nb - ex.first_row;
  ex.gt.resize(size_t(Hq) * kept * nb);
  std::mt19937_64 rng(seed + 2);
  for (int h = 0; h < Hq; ++h)
    for (int r = 0; r < kept; ++r) random_gt_row(rng, ex.first_row + r + 1, nb, ex.gt.data() + (size_t(h) * kept + r) * nb);
  return pc;
}

struct DecodeCase {
  int T = 0;
  std::vector<float> q_all, k;  // [T, Hq, d], [T, Hkv, d]
  DecodeGateExample ex;
};

// Scored tokens at `positions` (ascending); rows with no valid block keep an all-zero ground
// truth, and one row with valid blocks is all zero too.
DecodeCase make_decode_case(const GateSet& gs, int T, const std::vector<int>& positions, uint64_t seed) {
  const GateConfig& c = gs.config;
  const int Hq = gs.model.num_qo_heads, Hkv = gs.model.num_kv_heads, d = gs.model.head_dim;
  const int bs = c.block_size;
  DecodeCase dc;
  dc.T = T;
  dc.q_all = random_vector(size_t(T) * Hq * d, seed, -1.5f, 1.5f);
  dc.k = random_vector(size_t(T) * Hkv * d, seed + 1, -1.5f, 1.5f);
  DecodeGateExample& ex = dc.ex;
  ex.num_blocks = (T + bs - 1) / bs;
  ex.k_pooled = pool_block_features(c.k_pools, dc.k.data(), T, Hkv, d, bs);
  ex.pos = positions;
  const int n = int(positions.size()), nb = ex.num_blocks;
  for (int p : positions) ex.q.insert(ex.q.end(), dc.q_all.begin() + size_t(p) * Hq * d, dc.q_all.begin() + size_t(p + 1) * Hq * d);
  ex.gt.assign(size_t(n) * Hkv * nb, 0.0f);
  std::mt19937_64 rng(seed + 2);
  bool zero_row_left = true;
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < Hkv; ++h) {
      const int nv = positions[size_t(t)] / bs;
      if (nv > 0 && zero_row_left) {
        zero_row_left = false;
        continue;
      }
      random_gt_row(rng, nv, nb, ex.gt.data() + (size_t(t) * Hkv + h) * nb);
    }
  return dc;
}

// Every weight tensor of the layer, with its name for messages.
std::vector<std::pair<std::string, std::vector<float>*>> tensors(GateLayerWeights& w) {
  std::vector<std::pair<std::string, std::vector<float>*>> out;
  if (!w.linear_q.empty()) out.push_back({"linear_q", &w.linear_q});
  if (!w.linear_k.empty()) out.push_back({"linear_k", &w.linear_k});
  if (!w.q_norm.empty()) out.push_back({"q_norm", &w.q_norm});
  if (!w.k_norm.empty()) out.push_back({"k_norm", &w.k_norm});
  return out;
}

GateLayerWeights zero_grad(const GateSet& gs, int layer) {
  GateLayerWeights g;
  for (const GateTensorSpec& s : gate_tensor_specs(gs.config, gs.model, layer)) g.get(s.role).assign(size_t(s.numel()), 0.0f);
  return g;
}

// Central differences on every weight element against the analytic gradient. The perturbed
// weight is a float, so the step actually taken is (float(w + eps) - float(w - eps)).
template <typename LossFn>
void check_gradient(GateSet gs, int layer, LossFn&& loss, const std::string& what) {
  SCOPED_TRACE(what);
  GateLayerWeights grad = zero_grad(gs, layer);
  const double l0 = loss(gs, &grad);
  ASSERT_TRUE(std::isfinite(l0));
  ASSERT_GT(l0, 0.0);
  GateLayerWeights& w = gs.layers[size_t(layer)];
  auto wt = tensors(w);
  auto gt = tensors(grad);
  ASSERT_EQ(wt.size(), gt.size());
  double max_grad = 0.0;
  for (auto& [name, g] : gt)
    for (float x : *g) {
      ASSERT_TRUE(std::isfinite(x)) << name;
      max_grad = std::max(max_grad, double(std::fabs(x)));
    }
  ASSERT_GT(max_grad, 0.0);
  constexpr double kEps = 1e-4;
  double worst = 0.0;
  std::string worst_at;
  size_t checked = 0;
  for (size_t t = 0; t < wt.size(); ++t) {
    std::vector<float>& v = *wt[t].second;
    const std::vector<float>& g = *gt[t].second;
    ASSERT_EQ(v.size(), g.size()) << wt[t].first;
    for (size_t i = 0; i < v.size(); ++i) {
      const float w0 = v[i];
      const float wp = float(double(w0) + kEps), wm = float(double(w0) - kEps);
      v[i] = wp;
      const double lp = loss(gs, nullptr);
      v[i] = wm;
      const double lm = loss(gs, nullptr);
      v[i] = w0;
      const double fd = (lp - lm) / (double(wp) - double(wm));
      const double err = std::fabs(fd - double(g[i])) / max_grad;
      if (err > worst) worst = err, worst_at = wt[t].first + "[" + std::to_string(i) + "]";
      ++checked;
    }
  }
  EXPECT_LE(worst, 1e-6) << "worst at " << worst_at << " over " << checked << " elements, max |grad| " << max_grad;
}

// The layer under test is 1 (not 0) so that a layer-index mix-up shows.
constexpr int kLayer = 1;

TEST(GateTrain, PoolBlockFeaturesMatchPrefillGate) {
  for (int T : {1, 37, 64, 150}) {
    GateSet gs = make_gates(GateKind::kPrefill, prefill_options("Qmaxminavg_Kmaxminavg"), 3, 16);
    const int bs = 16, Hq = kHq, Hkv = kHkv, d = kD, nb = (T + bs - 1) / bs;
    auto q = random_vector(size_t(T) * Hq * d, 10 + T), k = random_vector(size_t(T) * Hkv * d, 20 + T);
    PrefillGate gate(gs);
    PrefillGateScores out;
    ASSERT_TRUE(gate.forward(kLayer, q.data(), k.data(), T, 0, false, &out).is_ok());
    const std::vector<float> feat = pool_block_features(gs.config.k_pools, k.data(), T, Hkv, d, bs);
    EXPECT_EQ(feat, gate.pooled_k(kLayer)) << "T " << T;
    // Directly: [max | min | avg] per head and block, the partial last block over its own tokens.
    ASSERT_EQ(feat.size(), size_t(Hkv) * nb * 3 * d);
    for (int h = 0; h < Hkv; ++h)
      for (int b = 0; b < nb; ++b)
        for (int c = 0; c < d; ++c) {
          double mx = -1e30, mn = 1e30, sum = 0.0;
          const int t0 = b * bs, t1 = std::min(T, t0 + bs);
          for (int t = t0; t < t1; ++t) {
            const double x = k[(size_t(t) * Hkv + h) * d + c];
            mx = std::max(mx, x), mn = std::min(mn, x), sum += x;
          }
          const float* f = feat.data() + (size_t(h) * nb + b) * 3 * d;
          EXPECT_EQ(f[c], float(mx));
          EXPECT_EQ(f[d + c], float(mn));
          EXPECT_NEAR(f[2 * d + c], sum / (t1 - t0), 1e-6);
        }
    // Q in a pool order with avg only (the K-only prefill gate's Q feature).
    const std::vector<float> qa = pool_block_features({PoolType::kAvg}, q.data(), T, Hq, d, bs);
    ASSERT_EQ(qa.size(), size_t(Hq) * nb * d);
    EXPECT_NEAR(qa[(size_t(Hq - 1) * nb + nb - 1) * d + 3],
                [&] {
                  double s = 0.0;
                  const int t0 = (nb - 1) * bs;
                  for (int t = t0; t < T; ++t) s += q[(size_t(t) * Hq + Hq - 1) * d + 3];
                  return s / (T - t0);
                }(),
                1e-6);
  }
}

// Tiny dims, and SmolLM2-135M's attention dims (9 query heads, 3 KV heads, head_dim 64).
std::vector<ModelConfig> logit_models() { return {small_model(), small_model(9, 3, 64)}; }

TEST(GateTrain, PrefillLogitsMatchInferenceGate) {
  struct Case {
    std::string type;
    int hidden;
  };
  for (const ModelConfig& m : logit_models())
    for (const Case& c : {Case{"Qavg_Kmaxminavg", 0}, Case{"Qmaxavg_Kmaxmin", 0}, Case{"Qavg_Kmaxminavg", 12}}) {
      const int Hq = m.num_qo_heads;
      GateSet gs = make_gates(GateKind::kPrefill, prefill_options(c.type, c.hidden), 5, 64, m);
      ASSERT_EQ(gs.config.prefill_two_linear(m.head_dim), c.type != "Qavg_Kmaxminavg" || c.hidden != 0);
      const int T = m.head_dim == kD ? 455 : 1000;  // 8 or 16 blocks, the last partial
      PrefillCase pc = make_prefill_case(gs, T, 7);
      const std::vector<double> got = prefill_gate_logits(gs, kLayer, pc.ex);
      PrefillGate gate(gs);
      PrefillGateScores want;
      ASSERT_TRUE(gate.forward(kLayer, pc.q.data(), pc.k.data(), T, 0, false, &want).is_ok());
      const int nb = pc.ex.num_blocks;
      ASSERT_EQ(want.num_rows, nb);
      ASSERT_EQ(want.num_key_blocks, nb);
      ASSERT_EQ(got.size(), size_t(Hq) * nb * nb);
      double worst = 0.0, max_abs = 0.0;
      for (int h = 0; h < Hq; ++h)
        for (int i = 0; i < nb; ++i)
          for (int j = 0; j < nb; ++j) {
            const size_t o = (size_t(h) * nb + i) * nb + j;
            if (j > i) {
              EXPECT_TRUE(std::isinf(got[o]) && got[o] < 0) << c.type << " " << h << " " << i << " " << j;
              continue;
            }
            ASSERT_TRUE(std::isfinite(got[o]));
            max_abs = std::max(max_abs, std::fabs(got[o]));
            worst = std::max(worst, std::fabs(got[o] - want.scores[o]) / std::max(1.0, std::fabs(got[o])));
          }
      EXPECT_LE(worst, 2e-5) << c.type << " d " << m.head_dim << " dg " << gs.config.hidden_size;
      EXPECT_GT(max_abs, 0.3) << "logits too small to test anything";
    }
}

TEST(GateTrain, DecodeLogitsMatchInferenceGate) {
  for (const ModelConfig& m : logit_models())
    for (QHeadPooling qp : {QHeadPooling::kQproj, QHeadPooling::kQavgproj, QHeadPooling::kQavg})
      for (bool norm : {false, true}) {
        const int Hq = m.num_qo_heads, Hkv = m.num_kv_heads, d = m.head_dim;
        GateSet gs = make_gates(GateKind::kDecode, decode_options(qp, norm), 9, 64, m);
        const int T = 420;
        const std::vector<int> positions = {10, 63, 64, 127, 128, 200, 301, 383, 384, 419};
        DecodeCase dc = make_decode_case(gs, T, positions, 13);
        const std::vector<double> got = decode_gate_logits(gs, kLayer, dc.ex);
        const int nb = dc.ex.num_blocks, n = int(positions.size());
        ASSERT_EQ(got.size(), size_t(n) * Hkv * nb);
        // The cache must hold exactly pos + 1 tokens when a token is scored: grow it to each pos.
        KCompressionCache cache(gs);
        double worst = 0.0, max_abs = 0.0;
        for (int t = 0; t < n; ++t) {
          const int pos = positions[size_t(t)], len = cache.length(kLayer);
          ASSERT_TRUE(cache.update(kLayer, dc.k.data() + size_t(len) * Hkv * d, pos + 1 - len, len).is_ok());
          DecodeGateScores want;
          ASSERT_TRUE(decode_gate_scores(cache, kLayer, dc.ex.q.data() + size_t(t) * Hq * d, pos, false, &want).is_ok());
          for (int h = 0; h < Hkv; ++h)
            for (int j = 0; j < nb; ++j) {
              const double x = got[(size_t(t) * Hkv + h) * nb + j];
              if (j >= pos / 64) {
                EXPECT_TRUE(std::isinf(x) && x < 0) << "pos " << pos << " block " << j;
                continue;
              }
              const double y = want.scores[size_t(h) * want.num_blocks + j];
              max_abs = std::max(max_abs, std::fabs(x));
              worst = std::max(worst, std::fabs(x - y) / std::max(1.0, std::fabs(x)));
            }
        }
        EXPECT_LE(worst, 2e-5) << q_head_pooling_name(qp) << " norm " << norm << " d " << d;
        EXPECT_GT(max_abs, 0.3);
      }
}

// The cases of the finite-difference checks: T = 37 with block size 4 (a partial last block),
// first_row = nb / 4.
constexpr int kT = 37, kBs = 4;

TEST(GateTrain, PrefillGradientMatchesFiniteDifferences) {
  struct Case {
    std::string type;
    int hidden, T;
    bool sink_excluded = false;
  };
  // T = 201: 51 blocks, 38 kept rows, more than one tile of query rows.
  for (const Case& c : {Case{"Qavg_Kmaxminavg", 0, kT}, Case{"Qmaxavg_Kmaxmin", 0, kT}, Case{"Qavg_Kmaxminavg", 12, kT},
                        Case{"Qmaxavg_Kmaxmin", 0, 201}, Case{"Qavg_Kmaxminavg", 0, kT, true},
                        Case{"Qavg_Kmaxminavg", 12, kT, true}}) {
    GateSet gs = make_gates(GateKind::kPrefill, prefill_options(c.type, c.hidden), 21, kBs);
    gs.config.sink_excluded = c.sink_excluded;
    PrefillCase pc = make_prefill_case(gs, c.T, 31);
    ASSERT_EQ(pc.ex.num_blocks, (c.T + kBs - 1) / kBs);
    ASSERT_EQ(pc.ex.first_row, pc.ex.num_blocks / 4);
    check_gradient(
        gs, kLayer, [&](const GateSet& g, GateLayerWeights* grad) { return prefill_gate_loss(g, kLayer, pc.ex, grad); },
        c.type + " dg " + std::to_string(gs.config.hidden_size) + " T " + std::to_string(c.T) +
            (gs.config.prefill_two_linear(kD) ? " two-linear" : " K-only") + (c.sink_excluded ? " sink excluded" : ""));
  }
}

TEST(GateTrain, DecodeGradientMatchesFiniteDifferences) {
  struct Case {
    QHeadPooling qp;
    bool norm, rope;
    int T = kT;
    bool sink_excluded = false;
  };
  std::vector<Case> cases;
  for (QHeadPooling qp : {QHeadPooling::kQproj, QHeadPooling::kQavgproj, QHeadPooling::kQavg})
    for (bool norm : {false, true}) cases.push_back({qp, norm, true});
  cases.push_back({QHeadPooling::kQproj, true, false});
  cases.push_back({QHeadPooling::kQavgproj, false, false});
  cases.push_back({QHeadPooling::kQproj, true, true, 201});  // 51 blocks, 50 tokens: several row tiles
  cases.push_back({QHeadPooling::kQproj, true, true, kT, true});
  cases.push_back({QHeadPooling::kQavgproj, false, true, kT, true});
  for (const Case& c : cases) {
    GateSet gs = make_gates(GateKind::kDecode, decode_options(c.qp, c.norm, c.rope), 41, kBs);
    gs.config.sink_excluded = c.sink_excluded;
    std::vector<int> positions = {1, 3, 4, 9, 14, 18, 19, 22, 27, 30, 33, 36};
    if (c.T > kT) {
      positions.clear();
      for (int p = 2; p < c.T; p += 4) positions.push_back(p + p % 3);
    }
    DecodeCase dc = make_decode_case(gs, c.T, positions, 51);
    check_gradient(
        gs, kLayer, [&](const GateSet& g, GateLayerWeights* grad) { return decode_gate_loss(g, kLayer, dc.ex, grad); },
        std::string(q_head_pooling_name(c.qp)) + (c.norm ? " qk-norm" : "") + (c.rope ? " rope" : " no-rope") +
            " n " + std::to_string(positions.size()) + (c.sink_excluded ? " sink excluded" : ""));
  }
}

// Gradients are added, times grad_scale, to what the buffer holds.
TEST(GateTrain, GradientIsScaledAndAdded) {
  GateSet pg = make_gates(GateKind::kPrefill, prefill_options("Qmaxavg_Kmaxmin"), 61, kBs);
  GateSet dg = make_gates(GateKind::kDecode, decode_options(QHeadPooling::kQproj, true), 62, kBs);
  PrefillCase pc = make_prefill_case(pg, kT, 63);
  DecodeCase dc = make_decode_case(dg, kT, {5, 17, 30, 36}, 64);
  for (bool prefill : {true, false}) {
    const GateSet& gs = prefill ? pg : dg;
    auto run = [&](GateLayerWeights* g, double s) {
      return prefill ? prefill_gate_loss(gs, kLayer, pc.ex, g, s) : decode_gate_loss(gs, kLayer, dc.ex, g, s);
    };
    GateLayerWeights base = zero_grad(gs, kLayer), acc = zero_grad(gs, kLayer);
    const double l1 = run(&base, 1.0);
    EXPECT_EQ(run(nullptr, 1.0), l1);
    uint64_t seed = 70;
    for (auto& [name, v] : tensors(acc)) *v = random_vector(v->size(), seed++);
    GateLayerWeights before = acc;
    EXPECT_EQ(run(&acc, 2.5), l1);  // the loss itself is unscaled
    auto a = tensors(acc), b = tensors(base), o = tensors(before);
    for (size_t t = 0; t < a.size(); ++t)
      for (size_t i = 0; i < a[t].second->size(); ++i)
        EXPECT_NEAR((*a[t].second)[i], (*o[t].second)[i] + 2.5f * (*b[t].second)[i], 1e-6)
            << (prefill ? "prefill " : "decode ") << a[t].first << "[" << i << "]";
  }
}

// The loss is a KL: >= 0, ~0 when the ground truth is the gate's own softmax; descent lowers it.
// --exclude-sink: the loss is the mean KL over blocks 1.. of each row, the target renormalised
// there; block 0's target does not enter it, and it differs from SPEC's loss on the same example.
TEST(GateTrain, SinkExcludedLossIsKlOverLaterBlocks) {
  for (bool prefill : {true, false}) {
    SCOPED_TRACE(prefill ? "prefill" : "decode");
    GateSet gs = prefill ? make_gates(GateKind::kPrefill, prefill_options("Qavg_Kmaxminavg"), 85, kBs)
                         : make_gates(GateKind::kDecode, decode_options(QHeadPooling::kQproj, true), 86, kBs);
    const std::vector<int> positions = {4, 9, 13, 20, 25, 28, 31, 36};
    PrefillCase pc = prefill ? make_prefill_case(gs, kT, 87) : PrefillCase{};
    DecodeCase dc = prefill ? DecodeCase{} : make_decode_case(gs, kT, positions, 88);
    auto loss = [&](const GateSet& g) {
      return prefill ? prefill_gate_loss(g, kLayer, pc.ex, nullptr) : decode_gate_loss(g, kLayer, dc.ex, nullptr);
    };
    const double l_spec = loss(gs);
    gs.config.sink_excluded = true;
    const double l = loss(gs);

    const int nb = prefill ? pc.ex.num_blocks : dc.ex.num_blocks;
    const std::vector<double> logits = prefill ? prefill_gate_logits(gs, kLayer, pc.ex) : decode_gate_logits(gs, kLayer, dc.ex);
    std::vector<float>& gt = prefill ? pc.ex.gt : dc.ex.gt;
    const int rows = int(gt.size()) / nb, kept = nb - pc.ex.first_row;
    double naive = 0.0;
    for (int r = 0; r < rows; ++r) {
      const size_t lrow = prefill ? size_t(r / kept) * nb + pc.ex.first_row + r % kept : size_t(r);
      const double* lg = logits.data() + lrow * nb;
      const float* t = gt.data() + size_t(r) * nb;
      int v = 0;
      while (v < nb && !std::isinf(lg[v])) ++v;
      if (v < 2) continue;
      double m = -std::numeric_limits<double>::infinity(), z = 0.0, tsum = 0.0;
      for (int j = 1; j < v; ++j) m = std::max(m, lg[j]), tsum += t[j];
      for (int j = 1; j < v; ++j) z += std::exp(lg[j] - m);
      for (int j = 1; j < v; ++j)
        if (t[j] > 0) naive += t[j] / tsum * (std::log(t[j] / tsum) - (lg[j] - m - std::log(z)));
    }
    const int heads = prefill ? gs.model.num_qo_heads : gs.model.num_kv_heads;
    naive /= double(heads) * (prefill ? kept : int(positions.size())) * nb;  // the upstream reduction
    EXPECT_NEAR(l, naive, 1e-6 * std::fabs(naive));  // the renormalised target is rounded to float
    EXPECT_GT(std::fabs(l - l_spec), 1e-3 * l_spec);
    for (int r = 0; r < rows; ++r) gt[size_t(r) * nb] *= 7.0f;  // block 0's target: no effect
    EXPECT_DOUBLE_EQ(loss(gs), l);
  }
}

TEST(GateTrain, LossIsKlAndDescends) {
  for (bool prefill : {true, false}) {
    SCOPED_TRACE(prefill ? "prefill" : "decode");
    GateSet gs = prefill ? make_gates(GateKind::kPrefill, prefill_options("Qavg_Kmaxminavg"), 81, kBs)
                         : make_gates(GateKind::kDecode, decode_options(QHeadPooling::kQproj, true), 82, kBs);
    const std::vector<int> positions = {4, 9, 13, 20, 25, 28, 31, 36};
    PrefillCase pc = prefill ? make_prefill_case(gs, kT, 83) : PrefillCase{};
    DecodeCase dc = prefill ? DecodeCase{} : make_decode_case(gs, kT, positions, 84);
    auto loss = [&](GateLayerWeights* g) {
      return prefill ? prefill_gate_loss(gs, kLayer, pc.ex, g) : decode_gate_loss(gs, kLayer, dc.ex, g);
    };
    const double l0 = loss(nullptr);
    EXPECT_GT(l0, 0.0);

    // Ground truth := softmax of the gate's own logits over the valid blocks.
    const int nb = prefill ? pc.ex.num_blocks : dc.ex.num_blocks;
    const std::vector<double> logits = prefill ? prefill_gate_logits(gs, kLayer, pc.ex) : decode_gate_logits(gs, kLayer, dc.ex);
    std::vector<float>& gt = prefill ? pc.ex.gt : dc.ex.gt;
    const std::vector<float> gt_random = gt;
    const int rows = int(gt.size()) / nb;
    for (int r = 0; r < rows; ++r) {
      // prefill rows are [Hq, kept]: logits row (h, first_row + r); decode rows [n, Hkv] map 1:1.
      const int kept = nb - pc.ex.first_row;
      const size_t lrow = prefill ? size_t(r / kept) * nb + pc.ex.first_row + r % kept : size_t(r);
      const double* l = logits.data() + lrow * nb;
      double m = -std::numeric_limits<double>::infinity(), z = 0.0;
      for (int j = 0; j < nb; ++j) m = std::max(m, l[j]);
      for (int j = 0; j < nb; ++j) z += std::isinf(l[j]) ? 0.0 : std::exp(l[j] - m);
      for (int j = 0; j < nb; ++j) gt[size_t(r) * nb + j] = std::isinf(m) || std::isinf(l[j]) ? 0.0f : float(std::exp(l[j] - m) / z);
    }
    const double l_self = loss(nullptr);
    EXPECT_GE(l_self, -1e-9);
    EXPECT_LT(l_self, 1e-7);
    EXPECT_GT(l0, 100 * std::max(l_self, 1e-9));  // the random ground truth is far from it
    gt = gt_random;

    // Plain gradient descent on every tensor.
    double prev = l0;
    for (int step = 0; step < 5; ++step) {
      GateLayerWeights g = zero_grad(gs, kLayer);
      const double l = loss(&g);
      EXPECT_NEAR(l, prev, 1e-12);
      auto w = tensors(gs.layers[size_t(kLayer)]);
      auto gr = tensors(g);
      double gmax = 0.0;
      for (auto& [name, v] : gr)
        for (float x : *v) gmax = std::max(gmax, double(std::fabs(x)));
      for (size_t t = 0; t < w.size(); ++t)
        for (size_t i = 0; i < w[t].second->size(); ++i) (*w[t].second)[i] -= float(0.02 / gmax * (*gr[t].second)[i]);
      prev = loss(nullptr);
      EXPECT_LT(prev, l) << "step " << step;
    }
    EXPECT_LT(prev, 0.95 * l0);
  }
}

}  // namespace
}  // namespace seer
