// Attention policies (seer/policies.h): oracle scores against a naive float64 full attention matrix
// (SPEC §6.6), quest's upper bound against the true per-block maximum and its incremental metadata
// against a rebuild (SPEC §6.5), streaming's sink + recent selection, random's seed reproducibility,
// the factory's errors, and, through a real seer::Session on a tiny HF model: every policy at
// density 1 / a budget over the length reproduces dense logits, a lower density changes them, and
// the DensityStats equal a hand count.
#include <seer/engine.h>
#include <seer/model.h>
#include <seer/gates.h>
#include <seer/perplexity.h>
#include <seer/policies.h>

#include "core/thread_pool.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace seer {
namespace {

// A synthetic layer: random post-RoPE q for the new tokens and a random K cache.
struct Synthetic {
  int num_qo_heads, num_kv_heads, head_dim, kv_len, qo_len, max_context;
  std::vector<float> q;        // [qo_len, num_qo_heads, head_dim]
  std::vector<float> k_cache;  // [num_kv_heads, max_context, head_dim]
  std::vector<float> v_cache;  // [num_kv_heads, max_context, head_dim]

  Synthetic(int hq, int hkv, int d, int kv, int qo, uint64_t seed)
      : num_qo_heads(hq), num_kv_heads(hkv), head_dim(d), kv_len(kv), qo_len(qo), max_context(kv + 7) {
    // Scaled so that the softmax is peaked enough to make block maxima differ.
    q = test::random_vector(size_t(qo) * hq * d, seed, -2.0f, 2.0f);
    k_cache = test::random_vector(size_t(hkv) * max_context * d, seed + 1, -2.0f, 2.0f);
    v_cache = test::random_vector(size_t(hkv) * max_context * d, seed + 2);
  }
  AttentionContext ctx(int layer = 0) const {
    AttentionContext c =
        AttentionContext::shape(layer, qo_len, kv_len, num_qo_heads, num_kv_heads, head_dim, max_context);
    c.q = q.data();
    c.q_nope = q.data();
    c.k_cache = k_cache.data();
    c.v_cache = v_cache.data();
    return c;
  }
  const float* k(int h, int t) const { return k_cache.data() + (size_t(h) * max_context + t) * head_dim; }
  const float* qrow(int t, int h) const { return q.data() + (size_t(t) * num_qo_heads + h) * head_dim; }
};

// Naive float64: the full probability matrix row p (causal), then block maxima.
std::vector<double> naive_probs(const Synthetic& s, int t, int h) {
  const int p = s.kv_len - s.qo_len + t, d = s.head_dim, group = s.num_qo_heads / s.num_kv_heads;
  std::vector<double> logit(size_t(p) + 1);
  double m = -INFINITY;
  for (int j = 0; j <= p; ++j) {
    double acc = 0.0;
    for (int c = 0; c < d; ++c) acc += double(s.qrow(t, h)[c]) * double(s.k(h / group, j)[c]);
    logit[size_t(j)] = acc / std::sqrt(double(d));
    m = std::max(m, logit[size_t(j)]);
  }
  double sum = 0.0;
  for (double& l : logit) sum += std::exp(l - m);
  for (double& l : logit) l = std::exp(l - m) / sum;
  return logit;
}

// `oracle` ranks by each block's largest probability, `oracle-mass` by its mass; both then take the
// max over the query block's rows (prefill) or over the GQA group (decode).
TEST(Policies, OraclePrefillMatchesNaive) {
  for (BlockStat stat : {BlockStat::kMax, BlockStat::kMass})
    for (int bs : {16, 32, 64}) {
      Synthetic s(6, 2, 16, 150, 110, 100 + bs);  // starts at position 40, mid-block
      const int first = (s.kv_len - s.qo_len) / bs, nb = (s.kv_len + bs - 1) / bs, rows = nb - first;
      std::vector<float> got(size_t(s.num_qo_heads) * rows * nb), got_mt(got.size());
      test::poison(got);
      oracle_prefill_scores(s.ctx(), bs, got.data(), nullptr, stat);
      ThreadPool pool(2);
      oracle_prefill_scores(s.ctx(), bs, got_mt.data(), &pool, stat);
      EXPECT_EQ(got, got_mt);
      std::vector<double> want(got.size(), 0.0);
      for (int h = 0; h < s.num_qo_heads; ++h)
        for (int t = 0; t < s.qo_len; ++t) {
          const int p = s.kv_len - s.qo_len + t, r = p / bs - first;
          const std::vector<double> pr = naive_probs(s, t, h);
          std::vector<double> row(size_t(nb), 0.0);
          for (int j = 0; j <= p; ++j)
            row[size_t(j / bs)] = stat == BlockStat::kMass ? row[size_t(j / bs)] + pr[size_t(j)]
                                                           : std::max(row[size_t(j / bs)], pr[size_t(j)]);
          for (int b = 0; b < nb; ++b) {
            double& w = want[(size_t(h) * rows + r) * nb + b];
            w = std::max(w, row[size_t(b)]);
          }
        }
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << i;
        ASSERT_NEAR(got[i], want[i], 1e-6 + 1e-5 * want[i])
            << (stat == BlockStat::kMass ? "mass" : "max") << " bs " << bs << " index " << i;
      }
    }
}

TEST(Policies, OracleDecodeMatchesNaive) {
  for (GroupPool pooling : {GroupPool::kMax, GroupPool::kSum})
  for (BlockStat stat : {BlockStat::kMax, BlockStat::kMass})
    for (int group : {1, 3, 4}) {
      Synthetic s(2 * group, 2, 32, 333, 1, 7 + group);
      const int bs = 64, nb = (s.kv_len + bs - 1) / bs;
      std::vector<float> got(size_t(s.num_kv_heads) * nb), got_mt(got.size());
      test::poison(got);
      oracle_decode_scores(s.ctx(), bs, got.data(), nullptr, stat, pooling);
      ThreadPool pool(2);
      oracle_decode_scores(s.ctx(), bs, got_mt.data(), &pool, stat, pooling);
      EXPECT_EQ(got, got_mt);
      for (int hk = 0; hk < s.num_kv_heads; ++hk)
        for (int j = 0; j < nb; ++j) {
          double want = 0.0;  // max (or sum) over the group of the block's max (or mass), not renormalised
          for (int g = 0; g < group; ++g) {
            const std::vector<double> pr = naive_probs(s, 0, hk * group + g);
            double blk = 0.0;
            for (int t = j * bs; t < std::min(s.kv_len, (j + 1) * bs); ++t)
              blk = stat == BlockStat::kMass ? blk + pr[size_t(t)] : std::max(blk, pr[size_t(t)]);
            want = pooling == GroupPool::kSum ? want + blk : std::max(want, blk);
          }
          ASSERT_NEAR(got[size_t(hk) * nb + j], want, 1e-6 + 1e-5 * want)
              << (stat == BlockStat::kMass ? "mass" : "max") << (pooling == GroupPool::kSum ? " sum" : "")
              << " group " << group << " block " << j;
        }
    }
}

ModelConfig tiny_config(int layers = 2, int hq = 4, int hkv = 2, int d = 16) {
  ModelConfig c;
  c.num_layers = layers;
  c.num_qo_heads = hq;
  c.num_kv_heads = hkv;
  c.head_dim = d;
  return c;
}

// Randomly initialised prefill + decode gates (seer init-gates) for the `gate` policy.
GateBundle random_gates(const ModelConfig& c, int block_size) {
  GateBundle b;
  GateOptions go;
  go.block_size = block_size;
  for (GateKind k : {GateKind::kPrefill, GateKind::kDecode}) {
    auto g = init_gates(k, c, go, 17);
    EXPECT_TRUE(g.is_ok()) << g.status().message();
    if (!g.is_ok()) continue;
    (k == GateKind::kPrefill ? b.prefill : b.decode) = std::make_shared<const GateSet>(std::move(g).value());
  }
  return b;
}

std::shared_ptr<ScoredPolicy> must_make(const std::string& name, const PolicyOptions& o, const ModelConfig& c) {
  auto r = make_policy(name, o, c, name == "gate" ? random_gates(c, o.block_size) : GateBundle{});
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? r.value() : nullptr;
}

// A GPU session hands the oracle its block statistics (AttentionContext::block_scores, computed on the
// device): the oracle asks for them in a sparse phase only, with its statistic and group pool, and then
// ranks by exactly those numbers, with no q or K cache; given its own host scores it selects the same
// blocks as from q and the K cache.
TEST(Policies, OracleRanksByGivenBlockScores) {
  const ModelConfig cfg = tiny_config(1, 6, 2, 16);
  PolicyOptions o;
  o.block_size = 64;
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 0.3, false};
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 128};
  for (const char* name : {"oracle", "oracle-mass-sum"}) {
    const bool mass_sum = std::string(name) == "oracle-mass-sum";
    GroundTruthRequest req;
    const AttentionContext prefill = AttentionContext::shape(1, 100, 300, 6, 2, 16, 300);
    const AttentionContext decode = AttentionContext::shape(1, 1, 300, 6, 2, 16, 300);
    {
      PolicyOptions dense = o;
      dense.prefill = PrefillSparsity{};
      auto p = make_policy(name, dense, cfg);
      ASSERT_TRUE(p.is_ok());
      EXPECT_FALSE((*p)->scores_from_attention(prefill, &req)) << name << ": dense prefill needs no scores";
      EXPECT_TRUE((*p)->scores_from_attention(decode, &req)) << name;
      EXPECT_FALSE((*p)->needs_kv_cache()) << name << ": a GPU session gives it the scores, no K cache";
      PolicyOptions later = o;
      later.start_layer = 2;
      auto q = make_policy(name, later, cfg);
      ASSERT_TRUE(q.is_ok());
      EXPECT_FALSE((*q)->scores_from_attention(prefill, &req)) << name << ": layer 1 < start_layer stays dense";
    }
    auto made = make_policy(name, o, cfg);
    ASSERT_TRUE(made.is_ok());
    ScoredPolicy& p = **made;
    ASSERT_TRUE(p.scores_from_attention(prefill, &req));
    EXPECT_EQ(req.block_size, 64);
    EXPECT_EQ(req.stat, mass_sum ? BlockStat::kMass : BlockStat::kMax);
    EXPECT_EQ(req.group, mass_sum ? GroupPool::kSum : GroupPool::kMax);
    EXPECT_EQ(req.pool_2d, nullptr);
    for (int qo : {200, 1}) {
      const Synthetic s(6, 2, 16, 330, qo, 60 + qo);
      std::vector<float> host;
      bool probs = false;
      ASSERT_TRUE(p.compute_scores(s.ctx(), &host, &probs).is_ok());
      // Numbers no attention gives (a reversed ramp): the policy must return these, not recompute.
      std::vector<float> given(host.size());
      for (size_t i = 0; i < given.size(); ++i) given[i] = float(given.size() - i) / float(given.size());
      AttentionContext c = AttentionContext::shape(0, qo, s.kv_len, 6, 2, 16, s.max_context);
      c.block_scores = given.data();
      std::vector<float> got;
      ASSERT_TRUE(p.compute_scores(c, &got, &probs).is_ok());
      EXPECT_TRUE(probs);
      EXPECT_EQ(got, given) << name << " qo " << qo;
      // Its own host scores, handed over: the same selection as from q and the K cache.
      c.block_scores = host.data();
      BlockSelection from_q, from_scores;
      ASSERT_TRUE(p.select(s.ctx(), &from_q).is_ok());
      ASSERT_TRUE(p.select(c, &from_scores).is_ok());
      EXPECT_EQ(from_scores.offsets, from_q.offsets) << name << " qo " << qo;
      EXPECT_EQ(from_scores.indices, from_q.indices) << name << " qo " << qo;
      BlockSelection dense;
      if (qo == 1)
        dense.set_dense(2, true, (s.kv_len - 1) / 64, 1, 64);
      else
        dense.set_dense(6, false, (s.kv_len - qo) / 64, (s.kv_len - 1) / 64 - (s.kv_len - qo) / 64 + 1, 64);
      EXPECT_LT(from_q.indices.size(), dense.indices.size()) << name << " qo " << qo << ": sparse";
      // Neither: a clear error.
      c.block_scores = nullptr;
      BlockSelection none;
      const Status st = p.select(c, &none);
      ASSERT_FALSE(st.is_ok());
      EXPECT_NE(st.message().find("neither block scores nor q"), std::string::npos) << st.message();
    }
  }
}


// Quest: the bound is >= the true maximum logit in the block (decode: over the group too;
// prefill: for the block's mean query).
TEST(Policies, QuestUpperBound) {
  for (int trial = 0; trial < 20; ++trial) {
    const int group = 1 + trial % 4, bs = trial % 2 ? 16 : 64;
    Synthetic s(2 * group, 2, 24, 50 + 37 * trial, 1, 500 + trial);
    PolicyOptions o;
    o.block_size = bs;
    auto quest = must_make("quest", o, tiny_config(1, s.num_qo_heads, 2, 24));
    std::vector<float> scores;
    bool probs = true;
    ASSERT_TRUE(quest->compute_scores(s.ctx(), &scores, &probs).is_ok());
    EXPECT_FALSE(probs);
    const int nb = (s.kv_len + bs - 1) / bs;
    ASSERT_EQ(scores.size(), size_t(2) * nb);
    const double scale = 1.0 / std::sqrt(24.0);
    for (int hk = 0; hk < 2; ++hk)
      for (int j = 0; j < nb; ++j) {
        double truth = -INFINITY;
        for (int g = 0; g < group; ++g)
          for (int t = j * bs; t < std::min(s.kv_len, (j + 1) * bs); ++t) {
            double acc = 0.0;
            for (int c = 0; c < 24; ++c) acc += double(s.qrow(0, hk * group + g)[c]) * s.k(hk, t)[c];
            truth = std::max(truth, acc * scale);
          }
        EXPECT_GE(scores[size_t(hk) * nb + j], truth - 1e-5) << "trial " << trial << " block " << j;
      }
  }
  // Prefill: mean query of each query block.
  Synthetic s(4, 2, 16, 200, 130, 99);
  PolicyOptions o;
  o.block_size = 32;
  auto quest = must_make("quest", o, tiny_config(1, 4, 2, 16));
  std::vector<float> scores;
  bool probs = true;
  ASSERT_TRUE(quest->compute_scores(s.ctx(), &scores, &probs).is_ok());
  const int first = 70 / 32, nb = 7, rows = nb - first;
  for (int h = 0; h < 4; ++h)
    for (int r = 0; r < rows; ++r) {
      const int qb = first + r;
      std::vector<double> qm(16, 0.0);
      int n = 0;
      for (int p = std::max(70, qb * 32); p < std::min(200, (qb + 1) * 32); ++p, ++n)
        for (int c = 0; c < 16; ++c) qm[size_t(c)] += s.qrow(p - 70, h)[c];
      for (double& v : qm) v /= n;
      for (int j = 0; j <= qb; ++j) {
        double truth = -INFINITY;
        for (int t = j * 32; t < std::min(200, (j + 1) * 32); ++t) {
          double acc = 0.0;
          for (int c = 0; c < 16; ++c) acc += qm[size_t(c)] * s.k(h / 2, t)[c];
          truth = std::max(truth, acc / 4.0);
        }
        EXPECT_GE(scores[(size_t(h) * rows + r) * nb + j], truth - 1e-5);
      }
    }
}

// Incremental page metadata (prefill, then decode steps) equals a rebuild from the cache.
TEST(Policies, QuestIncrementalEqualsRebuild) {
  Synthetic s(4, 2, 16, 200, 1, 3);
  PolicyOptions o;
  o.block_size = 16;
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 48};
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 0.5, false};
  const ModelConfig cfg = tiny_config(1, 4, 2, 16);
  auto inc = must_make("quest", o, cfg);
  AttentionContext c = s.ctx();
  c.qo_len = 150;
  c.kv_len = 150;
  c.start_pos = 0;
  std::vector<float> big_q = test::random_vector(size_t(150) * 4 * 16, 5);
  c.q = big_q.data();
  inc->begin_forward(0, 150);
  BlockSelection sel;
  ASSERT_TRUE(inc->select(c, &sel).is_ok());
  for (int kv = 151; kv <= 200; ++kv) {
    AttentionContext d = s.ctx();
    d.kv_len = kv;
    d.start_pos = kv - 1;
    inc->begin_forward(kv - 1, 1);
    std::vector<float> a, b;
    bool pa, pb;
    ASSERT_TRUE(inc->compute_scores(d, &a, &pa).is_ok());
    auto fresh = must_make("quest", o, cfg);
    fresh->begin_forward(0, kv);
    ASSERT_TRUE(fresh->compute_scores(d, &b, &pb).is_ok());
    ASSERT_EQ(a, b) << "kv_len " << kv;
    ASSERT_TRUE(inc->select(d, &sel).is_ok());
  }
}

TEST(Policies, StreamingSinkAndRecent) {
  Synthetic s(4, 2, 16, 300, 300, 1);
  PolicyOptions o;
  o.block_size = 16;
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 0.3, false};
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 80};
  auto st = must_make("streaming", o, tiny_config(1, 4, 2, 16));
  BlockSelection sel;
  st->begin_forward(0, 300);
  ASSERT_TRUE(st->select(s.ctx(), &sel).is_ok());
  const int nb = 19, k = density_top_k(0.3, nb);
  ASSERT_EQ(sel.num_rows, nb);
  for (int h = 0; h < 4; ++h)
    for (int qb = 0; qb < nb; ++qb) {
      std::vector<int> want{0};
      for (int j = std::max(1, qb - k + 2); j <= qb; ++j) want.push_back(j);
      if (qb + 1 <= k) {
        want.clear();
        for (int j = 0; j <= qb; ++j) want.push_back(j);
      }
      const size_t row = size_t(h) * nb + qb;
      EXPECT_EQ(std::vector<int>(sel.indices.begin() + sel.offsets[row], sel.indices.begin() + sel.offsets[row + 1]),
                want)
          << "qb " << qb;
    }
  Synthetic dcase(4, 2, 16, 301, 1, 2);
  ASSERT_TRUE(st->select(dcase.ctx(), &sel).is_ok());
  // 301 tokens: 19 blocks; budget 80 / 16 = 5: the sink and the 4 most recent.
  for (int h = 0; h < 2; ++h)
    EXPECT_EQ(std::vector<int>(sel.indices.begin() + sel.offsets[size_t(h)], sel.indices.begin() + sel.offsets[size_t(h) + 1]),
              (std::vector<int>{0, 15, 16, 17, 18}));
}

TEST(Policies, RandomReproducibleBySeed) {
  Synthetic s(4, 2, 16, 500, 500, 1);
  PolicyOptions o;
  o.block_size = 16;
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 0.3, false};
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 128};
  const ModelConfig cfg = tiny_config(1, 4, 2, 16);
  auto run = [&](uint64_t seed, bool decode) {
    o.seed = seed;
    auto p = must_make("random", o, cfg);
    BlockSelection sel;
    Synthetic d(4, 2, 16, 500, 1, 1);
    EXPECT_TRUE(p->select(decode ? d.ctx() : s.ctx(), &sel).is_ok());
    return sel.indices;
  };
  for (bool decode : {false, true}) {
    EXPECT_EQ(run(42, decode), run(42, decode));
    EXPECT_NE(run(42, decode), run(43, decode));
  }
}

// budget:N split by shares (PolicyOptions::decode_budget_shares): head h keeps the Top-K of its own
// share_budget count, the row a uniform budget of that many blocks gives it, and the policy counts each
// head's blocks (DensityStats decode_heads). Bad shares are refused by the factory.
TEST(Policies, DecodeBudgetShares) {
  const ModelConfig cfg = tiny_config(1, 4, 2, 16);
  PolicyOptions o;
  o.block_size = 16;
  o.seed = 9;
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 128};  // 8 blocks a head on average
  o.decode_budget_shares = {1.0f, 3.0f};                          // share_budget: {4, 12}
  ASSERT_EQ(share_budget(o.decode_budget_shares, 8), (std::vector<int>{4, 12}));
  auto shared = must_make("random", o, cfg);
  Synthetic d(4, 2, 16, 500, 1, 1);
  BlockSelection sel;
  ASSERT_TRUE(shared->select(d.ctx(), &sel).is_ok());
  const int blocks[2] = {4, 12};
  for (int h = 0; h < 2; ++h) {
    PolicyOptions u = o;
    u.decode_budget_shares.clear();
    u.decode.value = blocks[h] * 16;
    auto uniform = must_make("random", u, cfg);
    BlockSelection want;
    ASSERT_TRUE(uniform->select(d.ctx(), &want).is_ok());
    const auto row = [&](const BlockSelection& s) {
      return std::vector<int>(s.indices.begin() + s.offsets[size_t(h)], s.indices.begin() + s.offsets[size_t(h) + 1]);
    };
    EXPECT_EQ(row(sel), row(want)) << "head " << h;
    const auto& heads = shared->stats().layers()[0].decode_heads;
    ASSERT_EQ(heads.size(), 2u);
    EXPECT_EQ(heads[size_t(h)].selected, int64_t(row(sel).size()));
    EXPECT_EQ(heads[size_t(h)].dense, 32);  // 500 tokens: 32 blocks
  }
  o.decode_budget_shares = {1.0f, 2.0f, 3.0f};
  auto bad = make_policy("random", o, cfg);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("3 decode budget shares for a model of 1 layers x 2 KV heads"),
            std::string::npos) << bad.status().message();
  o.decode_budget_shares = {1.0f, 0.0f};
  bad = make_policy("random", o, cfg);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("(layer 0, KV head 1) must be a positive number"), std::string::npos)
      << bad.status().message();

  // The gate policy takes its decode gate's shares for a budget, unless uniform_budget or another rule.
  auto dg = init_gates(GateKind::kDecode, cfg, {}, 1);
  ASSERT_TRUE(dg.is_ok());
  dg->budget_shares = {0.5f, 1.5f};
  GateBundle bundle;
  bundle.decode = std::make_shared<const GateSet>(*dg);
  PolicyOptions g;
  g.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 256};
  auto gp = make_policy("gate", g, cfg, bundle);
  ASSERT_TRUE(gp.is_ok()) << gp.status().message();
  EXPECT_EQ((*gp)->options().decode_budget_shares, dg->budget_shares);
  g.uniform_budget = true;
  EXPECT_TRUE(make_policy("gate", g, cfg, bundle).value()->options().decode_budget_shares.empty());
  g.uniform_budget = false;
  g.decode = DecodeSparsity{DecodeSparsity::Kind::kMass, 0.9};
  EXPECT_TRUE(make_policy("gate", g, cfg, bundle).value()->options().decode_budget_shares.empty());
}

// Prefill Top-K split over the query heads: each head's rows are those of a uniform policy with that head's k
// (prefill_budget_blocks for the forward's rows, which follow its block count); the gate policy takes its prefill
// gate's shares.
TEST(Policies, PrefillBudgetShares) {
  const ModelConfig cfg = tiny_config(2, 4, 2, 16);
  PolicyOptions o;
  o.block_size = 16;
  o.seed = 5;
  o.start_layer = 1;  // layer 0 dense: layer 1's four heads share what a uniform k would pick
  const double rho = 0.3;
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, rho};
  o.prefill_budget_shares = {9.0f, 9.0f, 9.0f, 9.0f, 1.0f, 1.0f, 2.0f, 4.0f};
  auto shared = must_make("random", o, cfg);
  for (const int kv : {500, 1000}) {  // 32 and 63 blocks: k 5 and 10
    Synthetic d(4, 2, 16, kv, kv, 3);
    const int nb = (kv + 15) / 16, k = density_top_k(rho, nb);
    const std::vector<int> all_k = prefill_budget_blocks(o.prefill_budget_shares, 4, 1, k, 0, nb);
    const std::vector<int> want_k(all_k.begin() + 4, all_k.end());
    EXPECT_EQ(std::vector<int>(all_k.begin(), all_k.begin() + 4), std::vector<int>(4, k));  // layer 0: dense
    BlockSelection sel;
    ASSERT_TRUE(shared->select(d.ctx(1), &sel).is_ok());
    for (int h = 0; h < 4; ++h) {
      PolicyOptions u = o;
      u.prefill_budget_shares.clear();
      const int kh = want_k[size_t(h)];
      u.prefill.value = test::density_for_top_k(kh, nb);
      ASSERT_EQ(density_top_k(u.prefill.value, nb), kh);
      auto uniform = must_make("random", u, cfg);
      BlockSelection want;
      ASSERT_TRUE(uniform->select(d.ctx(1), &want).is_ok());
      const size_t a = size_t(h) * sel.num_rows, b = a + size_t(sel.num_rows);
      EXPECT_EQ(std::vector<int>(sel.indices.begin() + sel.offsets[a], sel.indices.begin() + sel.offsets[b]),
                std::vector<int>(want.indices.begin() + want.offsets[a], want.indices.begin() + want.offsets[b]))
          << "kv " << kv << " head " << h << " k " << kh;
    }
  }
  const auto& heads = shared->stats().layers()[1].prefill_heads;
  ASSERT_EQ(heads.size(), 4u);
  EXPECT_LT(heads[0].selected, heads[3].selected);  // share 1 against 4
  EXPECT_NE(shared->stats().to_json().find("\"prefill_heads\""), std::string::npos);
  o.prefill_budget_shares.pop_back();
  auto bad = make_policy("random", o, cfg);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("7 prefill budget shares for a model of 2 layers x 4 query heads"),
            std::string::npos) << bad.status().message();
  o.prefill_budget_shares = {1, 1, 1, 1, 1, 1, -1, 1};
  bad = make_policy("random", o, cfg);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("(layer 1, query head 2) must be a positive number"), std::string::npos)
      << bad.status().message();

  // The gate policy takes its prefill gate's shares for density:RHO, unless uniform_budget or another rule.
  auto pg = init_gates(GateKind::kPrefill, cfg, {}, 1);
  ASSERT_TRUE(pg.is_ok());
  pg->budget_shares = {1, 1, 1, 1, 0.5f, 1.5f, 1, 1};
  GateBundle bundle;
  bundle.prefill = std::make_shared<const GateSet>(*pg);
  PolicyOptions g;
  g.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 0.2};
  auto gp = make_policy("gate", g, cfg, bundle);
  ASSERT_TRUE(gp.is_ok()) << gp.status().message();
  EXPECT_EQ((*gp)->options().prefill_budget_shares, pg->budget_shares);
  g.uniform_budget = true;
  EXPECT_TRUE(make_policy("gate", g, cfg, bundle).value()->options().prefill_budget_shares.empty());
  g.uniform_budget = false;
  g.prefill = PrefillSparsity{PrefillSparsity::Kind::kMass, 0.9};
  EXPECT_TRUE(make_policy("gate", g, cfg, bundle).value()->options().prefill_budget_shares.empty());
}

TEST(Policies, FactoryErrors) {
  const ModelConfig cfg = tiny_config();
  auto r = make_policy("bogus", {}, cfg);
  ASSERT_FALSE(r.is_ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("'bogus'"), std::string::npos) << m;
  for (const std::string& n : policy_names()) EXPECT_NE(m.find(n), std::string::npos) << m;
  PolicyOptions o;
  o.block_size = 0;
  EXPECT_NE(make_policy("oracle", o, cfg).status().message().find("block size 0"), std::string::npos);
  o.block_size = 64;
  o.start_layer = -1;
  EXPECT_FALSE(make_policy("oracle", o, cfg).is_ok());
  o.start_layer = 0;
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kThreshold, 1e-3};
  auto st = make_policy("streaming", o, cfg);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.status().message().find("threshold:0.001"), std::string::npos) << st.status().message();
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kMass, 0.9};
  st = make_policy("streaming", o, cfg);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.status().message().find("mass:0.9"), std::string::npos) << st.status().message();
  o.decode = DecodeSparsity{};
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 1.5, false};
  EXPECT_NE(make_policy("quest", o, cfg).status().message().find("density must be in (0, 1]"), std::string::npos);
  o.prefill = PrefillSparsity{};
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 0};
  EXPECT_NE(make_policy("quest", o, cfg).status().message().find("budget must be"), std::string::npos);
  EXPECT_NE(make_policy("gate", {}, cfg).status().message().find("needs trained gates"), std::string::npos);
  for (const std::string& n : policy_names()) {
    if (n == "gate") continue;  // needs gates (checked above and through must_make below)
    auto p = make_policy(n, {}, cfg);
    ASSERT_TRUE(p.is_ok()) << n;
    EXPECT_EQ((*p)->name(), n);
  }
}

// ---------------------------------------------------------------------------------------------
// Through a real Session on a tiny HF model (Llama, 2 layers, 4 qo / 2 kv heads, head_dim 16).

const std::string kTinyModel = std::string(SEER_SOURCE_DIR) + "/tests/data/tiny_hf/llama_f32";

struct RunOut {
  std::vector<float> prefill;  // [n_prompt, vocab]
  std::vector<float> decode;   // [n_decode, vocab]
};

RunOut run_model(const Model& model, std::shared_ptr<AttentionPolicy> policy, int n_prompt, int n_decode) {
  RunOut out;
  SessionOptions so;
  so.max_context = 512;
  so.num_threads = 2;
  so.policy = std::move(policy);
  auto s = Session::create(model, so);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  if (!s.is_ok()) return out;
  std::mt19937 rng(1234);
  std::vector<int> prompt(static_cast<size_t>(n_prompt));
  for (int& t : prompt) t = int(rng() % uint32_t(model.config.vocab_size));
  auto l = (*s)->forward(prompt, Logits::kAll);
  EXPECT_TRUE(l.is_ok()) << l.status().message();
  if (!l.is_ok()) return out;
  out.prefill.assign(l->begin(), l->end());
  for (int i = 0; i < n_decode; ++i) {
    const int tok = int(rng() % uint32_t(model.config.vocab_size));
    auto d = (*s)->forward(std::span<const int>(&tok, 1), Logits::kLast);
    EXPECT_TRUE(d.is_ok()) << d.status().message();
    if (!d.is_ok()) return out;
    out.decode.insert(out.decode.end(), d->begin(), d->end());
  }
  return out;
}

// Session::forward_nll (perplexity's path): the rows it scores, against token_nll on the logits of
// the same forwards, and its argument checks.
TEST(Policies, SessionForwardNllMatchesLogits) {
  auto m = load_hf_model(kTinyModel);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  const RunOut ref = run_model(*m, nullptr, 70, 0);  // the prompt run_model draws
  ASSERT_FALSE(ref.prefill.empty());
  const int V = m->config.vocab_size;
  std::mt19937 rng(1234);
  std::vector<int> prompt(70);
  for (int& t : prompt) t = int(rng() % uint32_t(V));
  SessionOptions so;
  so.max_context = 512;
  so.num_threads = 2;
  auto s = Session::create(*m, so);
  ASSERT_TRUE(s.is_ok());
  const std::span<const int> all(prompt);
  for (auto [first, k] : {std::pair{0, 69}, std::pair{5, 20}, std::pair{69, 1}, std::pair{30, 0}}) {
    (*s)->reset();
    auto got = (*s)->forward_nll(all, first, all.subspan(size_t(first) + 1 == all.size() ? 0 : size_t(first) + 1, size_t(k)));
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    double want = 0.0;
    for (int i = 0; i < k; ++i) {
      const size_t target = size_t(first) + 1 == all.size() ? size_t(i) : size_t(first + 1 + i);
      want += token_nll(ref.prefill.data() + size_t(first + i) * size_t(V), V, prompt[target]);
    }
    // (the last row alone comes from a one-row output GEMM: float rounding differs slightly)
    EXPECT_NEAR(*got, want, 1e-6 * std::max(1.0, std::fabs(want))) << "first " << first << " k " << k;
    EXPECT_EQ((*s)->pos(), 70);
  }
  (*s)->reset();
  EXPECT_FALSE((*s)->forward_nll(all.first(10), 5, all.first(6)).is_ok());  // rows past the tokens
  EXPECT_FALSE((*s)->forward_nll(all.first(10), -1, all.first(1)).is_ok());
  const int bad = V;
  EXPECT_FALSE((*s)->forward_nll(all.first(10), 0, std::span<const int>(&bad, 1)).is_ok());
  EXPECT_EQ((*s)->pos(), 0);  // refused before the forward
}

TEST(Policies, SessionDensityOneIsDense) {
  auto m = load_hf_model(kTinyModel);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  const RunOut dense = run_model(*m, nullptr, 300, 12);
  ASSERT_FALSE(dense.decode.empty());
  for (const std::string& name : policy_names())
    for (int bs : {16, 64}) {
      if (name == "gate" && bs != 64) continue;  // gates support blocks of 64 and 128
      SCOPED_TRACE(name + " block " + std::to_string(bs));
      PolicyOptions o;
      o.block_size = bs;
      o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 1.0, false};
      o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 512};
      auto p = must_make(name, o, m->config);
      const RunOut got = run_model(*m, p, 300, 12);
      ASSERT_EQ(got.prefill.size(), dense.prefill.size());
      ASSERT_EQ(got.decode.size(), dense.decode.size());
      EXPECT_LT(test::max_abs_diff(got.prefill.data(), dense.prefill.data(), got.prefill.size()), 1e-5);
      EXPECT_LT(test::max_abs_diff(got.decode.data(), dense.decode.data(), got.decode.size()), 1e-5);
      EXPECT_DOUBLE_EQ(p->stats().prefill_total().density(), 1.0);
      EXPECT_DOUBLE_EQ(p->stats().decode_total().density(), 1.0);
    }
}

TEST(Policies, SessionLowDensityActs) {
  auto m = load_hf_model(kTinyModel);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  const RunOut dense = run_model(*m, nullptr, 300, 12);
  for (const std::string& name : policy_names()) {
    if (name == "dense") continue;
    SCOPED_TRACE(name);
    PolicyOptions o;
    o.block_size = name == "gate" ? 64 : 16;  // gates support blocks of 64 and 128
    o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 0.2, false};
    o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 64};
    auto p = must_make(name, o, m->config);
    const RunOut got = run_model(*m, p, 300, 12);
    ASSERT_EQ(got.prefill.size(), dense.prefill.size());
    EXPECT_GT(test::max_abs_diff(got.prefill.data(), dense.prefill.data(), got.prefill.size()), 1e-3);
    EXPECT_GT(test::max_abs_diff(got.decode.data(), dense.decode.data(), got.decode.size()), 1e-3);
    EXPECT_LT(p->stats().prefill_total().density(), 0.5);
    EXPECT_LT(p->stats().decode_total().density(), 0.5);
    // A second sequence on a fresh session: the policy's state resets, the result repeats.
    const RunOut again = run_model(*m, p, 300, 12);
    EXPECT_EQ(again.prefill, got.prefill);
    EXPECT_EQ(again.decode, got.decode);
  }
}

// Hand count: streaming, block 16, prompt 100 tokens (7 query blocks), density 0.5 -> k = 2 per row
// (min(k, qb + 1) blocks); start_layer 1 makes layer 0 dense; one decode step at kv_len 101 with
// budget 48 -> 3 blocks {0, 5, 6} per KV head, none forced.
TEST(Policies, SessionDensityHandCount) {
  auto m = load_hf_model(kTinyModel);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  ASSERT_EQ(m->config.num_layers, 2);
  PolicyOptions o;
  o.block_size = 16;
  o.start_layer = 1;
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, 0.5, false};
  o.decode = DecodeSparsity{DecodeSparsity::Kind::kBudget, 48};
  auto p = must_make("streaming", o, m->config);
  ASSERT_EQ(density_top_k(0.5, 7), 2);
  run_model(*m, p, 100, 1);
  const auto& L = p->stats().layers();
  ASSERT_EQ(L.size(), 2u);
  const int64_t causal = 4 * (1 + 2 + 3 + 4 + 5 + 6 + 7);  // 4 qo heads
  EXPECT_EQ(L[0].prefill.selected, causal);
  EXPECT_EQ(L[0].prefill.dense, causal);
  EXPECT_EQ(L[1].prefill.selected, 4 * (1 + 2 * 6));
  EXPECT_EQ(L[1].prefill.dense, causal);
  EXPECT_EQ(L[1].prefill.forced, 0);
  EXPECT_EQ(L[0].decode.selected, 2 * 7);
  EXPECT_EQ(L[1].decode.selected, 2 * 3);
  EXPECT_EQ(L[1].decode.dense, 2 * 7);
  EXPECT_EQ(L[1].decode.forced, 0);
  EXPECT_EQ(p->stats().prefill_total().selected, causal + 4 * 13);
  EXPECT_EQ(p->stats().decode_total(1).selected, 6);
  p->reset_stats();
  EXPECT_EQ(p->stats().prefill_total().selected, 0);
}

// The CPU session asks a policy to prefetch each layer's state before the layer's Q/K/V products: once per
// layer and forward, with the forward's token count, before that layer's select() (the gate policy brings its
// decode scoring's data into L2 there).
TEST(Policies, SessionPrefetchesEachLayerBeforeSelect) {
  struct Recorder : AttentionPolicy {
    mutable std::vector<std::string> log;
    const char* name() const override { return "recorder"; }
    Status select(const AttentionContext& ctx, BlockSelection*) override {
      log.push_back("select " + std::to_string(ctx.layer) + " " + std::to_string(ctx.qo_len));
      return Status::ok();
    }
    void prefetch(int layer, int qo_len) const override {
      log.push_back("prefetch " + std::to_string(layer) + " " + std::to_string(qo_len));
    }
  };
  auto m = load_hf_model(kTinyModel);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  auto rec = std::make_shared<Recorder>();
  run_model(*m, rec, 70, 2);
  std::vector<std::string> want;
  for (int n : {70, 1, 1})
    for (int l = 0; l < 2; ++l) {
      want.push_back("prefetch " + std::to_string(l) + " " + std::to_string(n));
      want.push_back("select " + std::to_string(l) + " " + std::to_string(n));
    }
  EXPECT_EQ(rec->log, want);
}

}  // namespace
}  // namespace seer
