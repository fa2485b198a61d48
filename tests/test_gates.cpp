// AttnGate tests: prefill gate logits, decode gate + K-compression cache against numpy goldens
// (tests/golden/gates.bin from scripts/golden/make_gate_golden.py, SPEC §1, §2); incremental vs
// from-scratch cache; chunked vs one-shot prefill; checkpoint round trip and load errors; init stats.
#include <seer/gates.h>

#include "core/thread_pool.h"
#include "test_util.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

#include <unistd.h>

namespace seer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr float kTol = 2e-4f;  // f32 gate math vs float64 numpy (relative to max(1, |x|))

struct Arr {
  std::vector<uint32_t> dims;
  std::vector<float> f;
  std::vector<int32_t> i;
  size_t numel() const {
    size_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

const std::map<std::string, Arr>& golden() {
  static const std::map<std::string, Arr> recs = [] {
    std::map<std::string, Arr> m;
    std::ifstream f(test::source_path("tests/golden/gates.bin"), std::ios::binary);
    EXPECT_TRUE(f.good());
    char magic[8];
    uint32_t hdr[2];
    f.read(magic, 8);
    f.read(reinterpret_cast<char*>(hdr), 8);
    EXPECT_EQ(std::memcmp(magic, "SEERGATE", 8), 0);
    EXPECT_EQ(hdr[0], 1u);
    for (uint32_t r = 0; r < hdr[1] && f.good(); ++r) {
      uint32_t len, dtype, ndim;
      f.read(reinterpret_cast<char*>(&len), 4);
      std::string name(len, '\0');
      f.read(name.data(), len);
      f.read(reinterpret_cast<char*>(&dtype), 4);
      f.read(reinterpret_cast<char*>(&ndim), 4);
      Arr a;
      a.dims.resize(ndim);
      f.read(reinterpret_cast<char*>(a.dims.data()), 4 * ndim);
      if (dtype == 0) {
        a.f.resize(a.numel());
        f.read(reinterpret_cast<char*>(a.f.data()), std::streamsize(4 * a.numel()));
      } else {
        a.i.resize(a.numel());
        f.read(reinterpret_cast<char*>(a.i.data()), std::streamsize(4 * a.numel()));
      }
      m.emplace(name, std::move(a));
    }
    EXPECT_TRUE(f.good());
    return m;
  }();
  return recs;
}

const Arr& rec(const std::string& name) {
  auto it = golden().find(name);
  if (it == golden().end()) {
    ADD_FAILURE() << "golden record missing: " << name;
    static const Arr empty;
    return empty;
  }
  return it->second;
}
bool has_rec(const std::string& name) { return golden().count(name) > 0; }

std::vector<PoolType> pools_from_mask(int m) {
  std::vector<PoolType> p;
  for (int b = 0; b < 3; ++b)
    if (m & (1 << b)) p.push_back(PoolType(b));
  return p;
}

ModelConfig small_model(int layers, int Hq, int Hkv, int d, float theta = 10000.0f) {
  ModelConfig m;
  m.num_layers = layers;
  m.num_qo_heads = Hq;
  m.num_kv_heads = Hkv;
  m.head_dim = d;
  m.hidden_size = Hq * d;
  m.rope_theta = theta;
  return m;
}

// Compares with NaN/Inf check; -inf must match -inf exactly (masked logits).
void expect_close(const float* got, const std::vector<float>& want, const std::string& what,
                  float tol = kTol) {
  double worst = 0.0;
  size_t worst_i = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i])) {
      ASSERT_TRUE(std::isinf(got[i]) && got[i] < 0) << what << " index " << i << " should be -inf, got " << got[i];
      continue;
    }
    ASSERT_TRUE(std::isfinite(got[i])) << what << " index " << i << " is " << got[i];
    const double e = std::fabs(double(got[i]) - want[i]) / std::max(1.0, std::fabs(double(want[i])));
    if (e > worst) worst = e, worst_i = i;
  }
  EXPECT_LE(worst, tol) << what << ": worst at index " << worst_i << " got " << got[worst_i]
                        << " want " << want[worst_i];
}

// ---------------------------------------------------------------------------------------------
// Goldens

TEST(GateGolden, Prefill) {
  int cases = 0;
  for (int c = 0; has_rec("p" + std::to_string(c) + ".meta"); ++c, ++cases) {
    const std::string p = "p" + std::to_string(c) + ".";
    const auto& m = rec(p + "meta").i;
    const int T = m[0], start = m[1], Hq = m[2], Hkv = m[3], d = m[4], dg = m[5], bs = m[6];
    SCOPED_TRACE(fmt::format("case {}: T {} start {} Hq {} Hkv {} d {} dg {} bs {} two {}", c, T,
                             start, Hq, Hkv, d, dg, bs, m[7]));
    GateSet gs;
    gs.model = small_model(1, Hq, Hkv, d, float(m[10]));
    gs.config.kind = GateKind::kPrefill;
    gs.config.block_size = bs;
    gs.config.hidden_size = dg;
    gs.config.q_pools = pools_from_mask(m[8]);
    gs.config.k_pools = pools_from_mask(m[9]);
    gs.config.force_double = m[7] && gs.config.q_pools.size() == 1 && dg == d;
    ASSERT_EQ(gs.config.prefill_two_linear(d), bool(m[7]));
    gs.layers.resize(1);
    gs.layers[0].linear_k = rec(p + "wk").f;
    if (m[7]) gs.layers[0].linear_q = rec(p + "wq").f;
    ASSERT_TRUE(validate_gates(gs, gs.model).is_ok()) << validate_gates(gs, gs.model).message();

    const auto& k = rec(p + "k").f;  // [T, Hkv, d]
    const auto& q = rec(p + "q").f;  // [T - start, Hq, d]
    PrefillGate gate(gs);
    PrefillGateScores out;
    if (start > 0) {  // earlier chunk: its queries do not matter for the rows checked
      auto q0 = test::random_vector(size_t(start) * Hq * d, 7);
      ASSERT_TRUE(gate.forward(0, q0.data(), k.data(), start, 0, false, &out).is_ok());
    }
    ThreadPool pool(2);
    for (bool probs : {false, true}) {
      if (probs) {  // second pass: recompute from the same state by replaying the chunk
        gate.reset();
        if (start > 0) {
          auto q0 = test::random_vector(size_t(start) * Hq * d, 7);
          ASSERT_TRUE(gate.forward(0, q0.data(), k.data(), start, 0, false, &out).is_ok());
        }
      }
      out.scores.assign(out.scores.size(), std::nanf(""));
      Status s = gate.forward(0, q.data(), k.data() + size_t(start) * Hkv * d, T - start, start, probs,
                              &out, probs ? &pool : nullptr);
      ASSERT_TRUE(s.is_ok()) << s.message();
      const auto& want = rec(p + (probs ? "probs" : "logits"));
      ASSERT_EQ(out.num_qo_heads, int(want.dims[0]));
      ASSERT_EQ(out.num_rows, int(want.dims[1]));
      ASSERT_EQ(out.num_key_blocks, int(want.dims[2]));
      ASSERT_EQ(out.first_q_block, start / bs);
      expect_close(out.scores.data(), want.f, probs ? "probs" : "logits");
    }
    expect_close(gate.pooled_k(0).data(), rec(p + "pooled_k").f, "pooled_k", 1e-5f);
  }
  EXPECT_GE(cases, 20);
}

TEST(GateGolden, Decode) {
  int cases = 0;
  for (int c = 0; has_rec("d" + std::to_string(c) + ".meta"); ++c, ++cases) {
    const std::string p = "d" + std::to_string(c) + ".";
    const auto& m = rec(p + "meta").i;
    const int T = m[0], T0 = m[1], Hq = m[2], Hkv = m[3], d = m[4], dg = m[5], bs = m[6];
    SCOPED_TRACE(fmt::format("case {}: T {} T0 {} Hq {} Hkv {} d {} dg {} bs {} qhead {} qknorm {} rope {}",
                             c, T, T0, Hq, Hkv, d, dg, bs, m[7], m[8], m[9]));
    GateSet gs;
    gs.model = small_model(1, Hq, Hkv, d, float(m[11]));
    gs.config.kind = GateKind::kDecode;
    gs.config.block_size = bs;
    gs.config.hidden_size = dg;
    gs.config.q_pools.clear();
    gs.config.k_pools = pools_from_mask(m[10]);
    gs.config.q_head_pooling = QHeadPooling(m[7]);
    gs.config.use_qk_norm = m[8] != 0;
    gs.config.use_rope = m[9] != 0;
    gs.layers.resize(1);
    gs.layers[0].linear_k = rec(p + "wk").f;
    if (m[7] != 2) gs.layers[0].linear_q = rec(p + "wq").f;
    if (m[8]) {
      gs.layers[0].q_norm = rec(p + "qnorm").f;
      gs.layers[0].k_norm = rec(p + "knorm").f;
    }
    ASSERT_TRUE(validate_gates(gs, gs.model).is_ok()) << validate_gates(gs, gs.model).message();
    const auto& k = rec(p + "k").f;  // [T, Hkv, d]
    const auto& q = rec(p + "q").f;  // [Hq, d]

    KCacheOptions opts;
    opts.upstream_decode_rope_position = T0 > 0;
    auto fill = [&](KCompressionCache& c) {  // the whole sequence, or T0 tokens then one at a time
      if (T0 == 0) {
        ASSERT_TRUE(c.update(0, k.data(), T, 0).is_ok());
      } else {
        ASSERT_TRUE(c.update(0, k.data(), T0, 0).is_ok());
        for (int t = T0; t < T; ++t) ASSERT_TRUE(c.update(0, k.data() + size_t(t) * Hkv * d, 1, t).is_ok());
      }
    };
    KCompressionCache cache(gs, opts);
    fill(cache);
    const int nb = (T + bs - 1) / bs;
    ASSERT_EQ(cache.num_blocks(0), nb);
    std::vector<float> entries;  // [Hkv, nb, dg]
    for (int h = 0; h < Hkv; ++h) entries.insert(entries.end(), cache.entries(0, h), cache.entries(0, h) + size_t(nb) * dg);
    expect_close(entries.data(), rec(p + "entries").f, "entries");

    std::vector<float> qg(size_t(Hkv) * dg, std::nanf(""));
    decode_gate_query(gs, 0, q.data(), T - 1, qg.data());
    expect_close(qg.data(), rec(p + "qg").f, "qg");
    for (bool probs : {false, true}) {
      DecodeGateScores out;
      Status s = decode_gate_scores(cache, 0, q.data(), T - 1, probs, &out);
      ASSERT_TRUE(s.is_ok()) << s.message();
      ASSERT_EQ(out.num_blocks, nb);
      expect_close(out.scores.data(), rec(p + (probs ? "probs" : "logits")).f, probs ? "probs" : "logits");
    }
    // The bf16 scoring path (the gate policy's): entries are the fp32 ones rounded, and the logits
    // stay within bf16 rounding (weights and entries, ~2^-8 relative each) of the exact ones.
    KCacheOptions bopts = opts;
    bopts.bf16_scoring = true;
    KCompressionCache bcache(gs, bopts);
    fill(bcache);
    for (int h = 0; h < Hkv; ++h)
      for (int j = 0; j < nb; ++j)
        for (int o = 0; o < dg; ++o) {
          constexpr int kT = KCompressionCache::kScoreTile;
          ASSERT_EQ(bcache.entries_bf16(0, h)[size_t(j / kT) * dg * kT + size_t(o) * kT + j % kT],
                    fp32_to_bf16(cache.entries(0, h)[size_t(j) * dg + o]))
              << "head " << h << " entry " << j << " feature " << o;
        }
    DecodeGateScores bout;
    ASSERT_TRUE(decode_gate_scores(bcache, 0, q.data(), T - 1, false, &bout).is_ok());
    const auto& want = rec(p + "logits").f;
    double scale = 0.0;
    for (float x : want) scale = std::max(scale, double(std::fabs(x)));
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(bout.scores[i], want[i], 0.03 * scale + 1e-6) << "bf16 logit " << i;
    // int8 entries (the GPU's gate_cache_int8): each value the multiple of its entry's step
    // s = max |v| / 127 nearest to the exact value, the largest one +-127 steps.
    KCacheOptions iopts = opts;
    iopts.int8_entries = true;
    KCompressionCache icache(gs, iopts);
    fill(icache);
    for (int h = 0; h < Hkv; ++h)
      for (int j = 0; j < nb; ++j) {
        const float* ef = cache.entries(0, h) + size_t(j) * dg;
        const float* ei = icache.entries(0, h) + size_t(j) * dg;
        float amax = 0.0f, imax = 0.0f;
        for (int o = 0; o < dg; ++o) {
          amax = std::max(amax, std::fabs(ef[o]));
          imax = std::max(imax, std::fabs(ei[o]));
        }
        ASSERT_NEAR(imax, amax, 1e-6f * amax) << "head " << h << " entry " << j;
        const float step = amax / 127.0f;
        for (int o = 0; o < dg; ++o) {
          if (amax == 0.0f) {  // a partial block's zero entry stays zero
            ASSERT_EQ(ei[o], 0.0f);
            continue;
          }
          ASSERT_LE(std::fabs(ei[o] - ef[o]), 0.5f * step * (1.0f + 1e-4f)) << "head " << h << " entry " << j;
          ASSERT_NEAR(ei[o] / step, std::nearbyint(ei[o] / step), 1e-3f) << "head " << h << " entry " << j;
        }
      }
  }
  EXPECT_GE(cases, 30);
}

// ---------------------------------------------------------------------------------------------
// Consistency

// A gate trained without block 0 (seer_gate_sink_excluded) scores it +inf; its other scores are the
// same gate's logits, and its probabilities their softmax over blocks 1.. of the row.
void expect_sink_excluded_row(const float* raw, const float* logits, const float* probs, int valid, int n,
                              const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(logits[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(probs[0], std::numeric_limits<float>::infinity());
  double m = -std::numeric_limits<double>::infinity(), z = 0.0;
  for (int j = 1; j < valid; ++j) m = std::max(m, double(raw[j]));
  for (int j = 1; j < valid; ++j) z += std::exp(double(raw[j]) - m);
  for (int j = 1; j < n; ++j) {
    if (j < valid) {
      EXPECT_EQ(logits[j], raw[j]) << "block " << j;
      EXPECT_NEAR(probs[j], std::exp(double(raw[j]) - m) / z, 1e-6) << "block " << j;
    } else {
      EXPECT_EQ(probs[j], 0.0f) << "block " << j;
    }
  }
}

GateSet random_decode_gates(int layers, int Hq, int Hkv, int d, QHeadPooling qp, uint64_t seed) {
  GateOptions o;
  o.q_head_pooling = qp;
  o.use_qk_norm = true;
  auto r = init_gates(GateKind::kDecode, small_model(layers, Hq, Hkv, d), o, seed);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  GateSet gs = std::move(r).value();
  // Norm weights != 1 so that a missing norm would show.
  for (auto& l : gs.layers)
    for (auto* v : {&l.q_norm, &l.k_norm})
      for (size_t i = 0; i < v->size(); ++i) (*v)[i] = 0.5f + 0.01f * float(i % 50);
  return gs;
}

// Token by token, in random chunks and from scratch, the cache holds the same entries bit for bit, at
// every length up to 300, in every layer: for each query pooling, with and without q/k norm, blocks of
// 64 and 128, fp32 and int8 entries.
void check_incremental_equals_from_scratch(QHeadPooling qp, bool qk_norm, int block_size, bool int8) {
  SCOPED_TRACE(testing::Message() << "pooling " << int(qp) << " qk_norm " << qk_norm << " block " << block_size
                                  << " int8 " << int8);
  const int L = 3, Hq = 6, Hkv = 2, d = 16, kMax = 300;
  GateOptions o;
  o.q_head_pooling = qp;
  o.use_qk_norm = qk_norm;
  o.block_size = block_size;
  auto made = init_gates(GateKind::kDecode, small_model(L, Hq, Hkv, d), o, 11);
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  GateSet gs = std::move(made).value();
  for (auto& l : gs.layers)  // norm weights != 1, so that a missing norm would show
    for (auto* v : {&l.q_norm, &l.k_norm})
      for (size_t i = 0; i < v->size(); ++i) (*v)[i] = 0.5f + 0.01f * float(i % 50);
  const int dg = gs.config.hidden_size;
  KCacheOptions co;
  co.int8_entries = int8;
  std::vector<std::vector<float>> k(L);  // per layer [kMax, Hkv, d]
  for (int l = 0; l < L; ++l) k[size_t(l)] = test::random_vector(size_t(kMax) * Hkv * d, 100 + l);
  KCompressionCache inc(gs, co), chunked(gs, co);
  std::mt19937 rng(5);
  int chunk_end = 0;
  for (int len = 1; len <= kMax; ++len) {
    for (int l = 0; l < L; ++l)
      ASSERT_TRUE(inc.update(l, k[size_t(l)].data() + size_t(len - 1) * Hkv * d, 1, len - 1).is_ok());
    if (len > chunk_end) {  // random chunks (1..150 tokens) up to at least len
      const int n = std::min(kMax, chunk_end + 1 + int(rng() % 150)) - chunk_end;
      for (int l = 0; l < L; ++l)
        ASSERT_TRUE(chunked.update(l, k[size_t(l)].data() + size_t(chunk_end) * Hkv * d, n, chunk_end).is_ok());
      chunk_end += n;
    }
    KCompressionCache scratch(gs, co);
    for (int l = 0; l < L; ++l) {
      ASSERT_TRUE(scratch.update(l, k[size_t(l)].data(), len, 0).is_ok());
      ASSERT_EQ(inc.num_blocks(l), scratch.num_blocks(l));
      const int nb = scratch.num_blocks(l);
      ASSERT_EQ(nb, (len + block_size - 1) / block_size);
      for (int h = 0; h < Hkv; ++h) {
        ASSERT_EQ(std::memcmp(inc.entries(l, h), scratch.entries(l, h), sizeof(float) * nb * dg), 0)
            << "len " << len << " layer " << l << " head " << h;
        if (len % block_size) {  // the partial block's placeholder is zero
          for (int e = 0; e < dg; ++e) ASSERT_EQ(scratch.entries(l, h)[(nb - 1) * dg + e], 0.0f);
        }
      }
      if (chunk_end == len) {
        for (int h = 0; h < Hkv; ++h)
          ASSERT_EQ(std::memcmp(chunked.entries(l, h), scratch.entries(l, h), sizeof(float) * nb * dg), 0)
              << "chunked, len " << len << " layer " << l;
      }
    }
  }
  // A new sequence (start_pos 0) resets; a gap is an error.
  EXPECT_TRUE(inc.update(0, k[0].data(), 5, 0).is_ok());
  EXPECT_EQ(inc.length(0), 5);
  Status gap = inc.update(0, k[0].data(), 1, 7);
  EXPECT_FALSE(gap.is_ok());
  EXPECT_NE(gap.message().find("holds 5 tokens"), std::string::npos) << gap.message();
}

TEST(KCompressionCache, IncrementalEqualsFromScratch) {
  for (QHeadPooling qp : {QHeadPooling::kQproj, QHeadPooling::kQavgproj, QHeadPooling::kQavg})
    for (bool qk_norm : {true, false})
      for (int bs : {64, 128})
        for (bool int8 : {false, true}) {
          check_incremental_equals_from_scratch(qp, qk_norm, bs, int8);
          if (testing::Test::HasFatalFailure()) return;
        }
}

// bf16 scoring over many 16-entry tiles (the golden test's short sequences fit in one): every
// score agrees with the exact fp32 path to bf16 rounding, for gate widths that use the vector
// path (64) and the remainder loop (40), with a partial last tile.
TEST(KCompressionCache, SinkExcludedScoresKeepBlockZero) {
  const int Hq = 6, Hkv = 2, d = 16, T = 300;
  GateSet gs = random_decode_gates(1, Hq, Hkv, d, QHeadPooling::kQproj, 13);
  GateSet ex = gs;
  ex.config.sink_excluded = true;
  auto k = test::random_vector(size_t(T) * Hkv * d, 3), q = test::random_vector(size_t(T) * Hq * d, 4);
  KCompressionCache a(gs), b(ex);
  ASSERT_TRUE(a.update(0, k.data(), T, 0).is_ok());
  ASSERT_TRUE(b.update(0, k.data(), T, 0).is_ok());
  DecodeGateScores raw, logits, probs;
  ASSERT_TRUE(decode_gate_scores(a, 0, q.data(), T - 1, false, &raw).is_ok());
  ASSERT_TRUE(decode_gate_scores(b, 0, q.data(), T - 1, false, &logits).is_ok());
  ASSERT_TRUE(decode_gate_scores(b, 0, q.data(), T - 1, true, &probs).is_ok());
  const int n = raw.num_blocks;
  for (int h = 0; h < Hkv; ++h)
    expect_sink_excluded_row(raw.scores.data() + size_t(h) * n, logits.scores.data() + size_t(h) * n,
                             probs.scores.data() + size_t(h) * n, n, n, "kv head " + std::to_string(h));
}

TEST(KCompressionCache, Bf16ScoresMatchFp32AcrossTiles) {
  const int Hq = 9, Hkv = 3, d = 64;
  for (int dg : {64, 40}) {
    GateSet gs = random_decode_gates(1, Hq, Hkv, d, QHeadPooling::kQproj, 21);
    if (dg != d) {
      GateOptions o;
      o.hidden_size = dg;
      auto r = init_gates(GateKind::kDecode, small_model(1, Hq, Hkv, d), o, 21);
      ASSERT_TRUE(r.is_ok()) << r.status().message();
      gs = std::move(r).value();
    }
    const int T = 64 * 37 + 5;  // 38 blocks: tiles of 16, 16 and 6
    const auto k = test::random_vector(size_t(T) * Hkv * d, 7);
    const auto q = test::random_vector(size_t(Hq) * d, 8);
    KCacheOptions bo;
    bo.bf16_scoring = true;
    KCompressionCache exact(gs), bf16(gs, bo);
    ASSERT_TRUE(exact.update(0, k.data(), T - 1, 0).is_ok());
    ASSERT_TRUE(bf16.update(0, k.data(), T - 1, 0).is_ok());
    ASSERT_TRUE(exact.update(0, k.data() + size_t(T - 1) * Hkv * d, 1, T - 1).is_ok());
    ASSERT_TRUE(bf16.update(0, k.data() + size_t(T - 1) * Hkv * d, 1, T - 1).is_ok());
    DecodeGateScores want, got;
    ASSERT_TRUE(decode_gate_scores(exact, 0, q.data(), T - 1, false, &want).is_ok());
    ASSERT_TRUE(decode_gate_scores(bf16, 0, q.data(), T - 1, false, &got).is_ok());
    ASSERT_EQ(got.scores.size(), size_t(Hkv) * 38);
    double scale = 0.0;
    for (float x : want.scores) scale = std::max(scale, double(std::fabs(x)));
    ASSERT_GT(scale, 0.0);
    for (size_t i = 0; i < want.scores.size(); ++i)
      EXPECT_NEAR(got.scores[i], want.scores[i], 0.03 * scale) << "dg " << dg << " head " << i / 38 << " block " << i % 38;
    EXPECT_EQ(got.scores[37], 0.0f);  // the partial block's placeholder
  }
}

// decode_gate_scores with the KV heads on the pool (2 and 3 threads) gives the scores of the serial call bit
// for bit, and they are the direct dot products of decode_gate_query's query with the entries (151 blocks, the
// last one partial; Qproj, Qavgproj and Qavg; a head_dim of 40 and 96).
TEST(KCompressionCache, ScoresOnThePoolMatchTheQuery) {
  struct Case { int Hq, Hkv, d; QHeadPooling qp; };
  for (const Case c : {Case{9, 3, 40, QHeadPooling::kQproj}, Case{8, 2, 64, QHeadPooling::kQproj},
                       Case{6, 2, 96, QHeadPooling::kQavgproj}, Case{4, 2, 64, QHeadPooling::kQavg}}) {
    SCOPED_TRACE("Hq " + std::to_string(c.Hq) + " d " + std::to_string(c.d) + " pooling " + std::to_string(int(c.qp)));
    const GateSet gs = random_decode_gates(1, c.Hq, c.Hkv, c.d, c.qp, 31);
    const int dg = gs.config.hidden_size, T = 64 * 150 + 5;  // 151 blocks
    const auto k = test::random_vector(size_t(T) * c.Hkv * c.d, 32);
    const auto q = test::random_vector(size_t(c.Hq) * c.d, 33);
    for (bool bf16 : {false, true}) {
      KCacheOptions o;
      o.bf16_scoring = bf16;
      KCompressionCache cache(gs, o);
      ASSERT_TRUE(cache.update(0, k.data(), T, 0).is_ok());
      DecodeGateScores one;
      ASSERT_TRUE(decode_gate_scores(cache, 0, q.data(), T - 1, false, &one).is_ok());
      ASSERT_EQ(one.num_blocks, 151);
      for (int threads : {2, 3}) {
        ThreadPool pool(threads);
        DecodeGateScores split;
        ASSERT_TRUE(decode_gate_scores(cache, 0, q.data(), T - 1, false, &split, &pool).is_ok());
        ASSERT_EQ(split.scores.size(), one.scores.size());
        EXPECT_EQ(std::memcmp(split.scores.data(), one.scores.data(), one.scores.size() * sizeof(float)), 0)
            << threads << " threads, bf16 " << bf16;
      }
      if (bf16) continue;  // the bf16 path against the exact one: Bf16ScoresMatchFp32AcrossTiles
      std::vector<float> qg(size_t(c.Hkv) * dg);
      decode_gate_query(gs, 0, q.data(), T - 1, qg.data());
      for (int h = 0; h < c.Hkv; ++h)
        for (int j = 0; j < 151; ++j) {
          double dot = 0.0, mag = 0.0;
          for (int o2 = 0; o2 < dg; ++o2) {
            const double p = double(qg[size_t(h) * dg + o2]) * cache.entries(0, h)[size_t(j) * dg + o2];
            dot += p;
            mag += std::fabs(p);
          }
          const double want = dot / std::sqrt(double(dg));
          EXPECT_NEAR(one.scores[size_t(h) * 151 + j], want, 1e-5 * mag + 1e-6) << "head " << h << " block " << j;
        }
    }
  }
}

// KCompressionCache::prefetch is a hint: at any cache length (empty, a partial block, whole blocks), for the
// bf16 and the fp32 scoring data and for a layer out of range, the scores after it are those before it.
TEST(KCompressionCache, PrefetchChangesNoScore) {
  const int Hq = 6, Hkv = 2, d = 32;
  const GateSet gs = random_decode_gates(2, Hq, Hkv, d, QHeadPooling::kQproj, 41);
  const auto k = test::random_vector(size_t(200) * Hkv * d, 42);
  const auto q = test::random_vector(size_t(Hq) * d, 43);
  for (bool bf16 : {false, true}) {
    KCacheOptions o;
    o.bf16_scoring = bf16;
    KCompressionCache cache(gs, o);
    for (int l : {-1, 0, 1, 2}) cache.prefetch(l);  // empty cache, and layers out of range
    for (int T : {1, 37, 64, 200}) {
      for (int l = 0; l < 2; ++l) ASSERT_TRUE(cache.update(l, k.data(), T, 0).is_ok());
      DecodeGateScores before, after;
      ASSERT_TRUE(decode_gate_scores(cache, 1, q.data(), T - 1, false, &before).is_ok());
      for (int l : {-1, 0, 1, 2}) cache.prefetch(l);
      ASSERT_TRUE(decode_gate_scores(cache, 1, q.data(), T - 1, false, &after).is_ok());
      ASSERT_EQ(before.scores.size(), after.scores.size());
      EXPECT_EQ(0, std::memcmp(before.scores.data(), after.scores.data(), before.scores.size() * sizeof(float)))
          << "T " << T << " bf16 " << bf16;
    }
  }
}

TEST(PrefillGate, ChunkedEqualsOneShotOnSharedRows) {
  for (bool two : {false, true})
    for (int bs : {64, 128}) {
      const int Hq = 8, Hkv = 2, d = 16, L = 2, T = 520;
      GateOptions o;
      o.block_size = bs;
      o.hidden_size = two ? 24 : 0;
      auto r = init_gates(GateKind::kPrefill, small_model(L, Hq, Hkv, d), o, 3);
      ASSERT_TRUE(r.is_ok()) << r.status().message();
      const GateSet& gs = *r;
      ASSERT_EQ(gs.config.prefill_two_linear(d), two);
      auto q = test::random_vector(size_t(T) * Hq * d, 21);
      auto k = test::random_vector(size_t(T) * Hkv * d, 22);
      PrefillGate chunked(gs);
      int s = 0;
      for (int n : {1, 100, 28, 64, 200, 127}) {
        const int e = s + n;
        for (int l = 0; l < L; ++l) {
          PrefillGateScores a, b;
          ASSERT_TRUE(chunked.forward(l, q.data() + size_t(s) * Hq * d, k.data() + size_t(s) * Hkv * d, n,
                                      s, false, &a).is_ok());
          PrefillGate one(gs);
          ASSERT_TRUE(one.forward(l, q.data(), k.data(), e, 0, false, &b).is_ok());
          ASSERT_EQ(a.num_key_blocks, b.num_key_blocks);
          for (int row = 0; row < a.num_rows; ++row) {
            const int qb = a.first_q_block + row;
            if (qb * bs < s) continue;  // partially-new first block pools only its new tokens
            for (int h = 0; h < Hq; ++h)
              for (int j = 0; j < a.num_key_blocks; ++j) {
                const float x = a.scores[(size_t(h) * a.num_rows + row) * a.num_key_blocks + j];
                const float y = b.scores[(size_t(h) * b.num_rows + qb) * b.num_key_blocks + j];
                if (std::isinf(y)) {
                  ASSERT_TRUE(std::isinf(x));
                } else {
                  ASSERT_NEAR(x, y, 1e-5f * std::max(1.0f, std::fabs(y)))
                      << "two " << two << " bs " << bs << " chunk [" << s << "," << e << ") row " << qb;
                }
              }
          }
          EXPECT_EQ(chunked.pooled_k(l), one.pooled_k(l));
        }
        s = e;
      }
    }
}

// Decode steps only queue their K rows; a later chunk (or pooled_k) pools them first, so the store
// equals one that pooled everything at once.
TEST(PrefillGate, QueuedDecodeRowsArePooledBeforeTheNextChunk) {
  const int Hq = 4, Hkv = 2, d = 16, T = 300;
  auto r = init_gates(GateKind::kPrefill, small_model(1, Hq, Hkv, d), {}, 4);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  auto q = test::random_vector(size_t(T) * Hq * d, 31);
  auto k = test::random_vector(size_t(T) * Hkv * d, 32);
  PrefillGate mixed(*r);
  PrefillGateScores a, b;
  ASSERT_TRUE(mixed.forward(0, q.data(), k.data(), 70, 0, false, &a).is_ok());
  for (int t = 70; t < 200; ++t) ASSERT_TRUE(mixed.absorb(0, k.data() + size_t(t) * Hkv * d, 1, t).is_ok());
  EXPECT_EQ(mixed.length(0), 200);
  PrefillGate upto200(*r);
  ASSERT_TRUE(upto200.forward(0, q.data(), k.data(), 200, 0, false, &b).is_ok());
  EXPECT_EQ(mixed.pooled_k(0), upto200.pooled_k(0));
  for (int t = 200; t < 230; ++t) ASSERT_TRUE(mixed.absorb(0, k.data() + size_t(t) * Hkv * d, 1, t).is_ok());
  ASSERT_TRUE(mixed.forward(0, q.data() + size_t(230) * Hq * d, k.data() + size_t(230) * Hkv * d, T - 230, 230,
                            false, &a).is_ok());
  PrefillGate one(*r);
  ASSERT_TRUE(one.forward(0, q.data(), k.data(), T, 0, false, &b).is_ok());
  EXPECT_EQ(mixed.pooled_k(0), one.pooled_k(0));
  // The pooled statistics are equal bit for bit (above); the scores come from GEMMs of different
  // shapes (one chunk against the whole sequence), whose BLAS blocking may round differently.
  const int last_row = a.num_rows - 1, qb = a.first_q_block + last_row;
  for (int h = 0; h < Hq; ++h)
    for (int j = 0; j < a.num_key_blocks; ++j) {
      const float y = b.scores[(size_t(h) * b.num_rows + qb) * b.num_key_blocks + j];
      EXPECT_NEAR(a.scores[(size_t(h) * a.num_rows + last_row) * a.num_key_blocks + j], y, 1e-5f * std::fabs(y) + 1e-9f)
          << "head " << h << " block " << j;
    }
}

TEST(PrefillGate, ProbabilitiesAreCausalSoftmax) {
  auto r = init_gates(GateKind::kPrefill, small_model(1, 3, 1, 16), {}, 9);
  ASSERT_TRUE(r.is_ok());
  PrefillGate gate(*r);
  const int T = 300;
  auto q = test::random_vector(size_t(T) * 3 * 16, 1), k = test::random_vector(size_t(T) * 16, 2);
  PrefillGateScores out;
  ASSERT_TRUE(gate.forward(0, q.data(), k.data(), T, 0, true, &out).is_ok());
  for (int h = 0; h < 3; ++h)
    for (int rrow = 0; rrow < out.num_rows; ++rrow) {
      double s = 0.0;
      for (int j = 0; j < out.num_key_blocks; ++j) {
        const float p = out.scores[(size_t(h) * out.num_rows + rrow) * out.num_key_blocks + j];
        if (j > rrow) {
          EXPECT_EQ(p, 0.0f);
        }
        s += p;
      }
      EXPECT_NEAR(s, 1.0, 1e-5);
    }
}

TEST(PrefillGate, SinkExcludedScoresKeepBlockZero) {
  auto r = init_gates(GateKind::kPrefill, small_model(1, 3, 1, 16), {}, 9);
  ASSERT_TRUE(r.is_ok());
  GateSet ex = *r;
  ex.config.sink_excluded = true;
  PrefillGate spec(*r), gate(ex);
  const int T = 300;
  auto q = test::random_vector(size_t(T) * 3 * 16, 1), k = test::random_vector(size_t(T) * 16, 2);
  PrefillGateScores raw, logits, probs;
  ASSERT_TRUE(spec.forward(0, q.data(), k.data(), T, 0, false, &raw).is_ok());
  ASSERT_TRUE(gate.forward(0, q.data(), k.data(), T, 0, false, &logits).is_ok());
  ASSERT_TRUE(gate.forward(0, q.data(), k.data(), T, 0, true, &probs).is_ok());
  const int n = raw.num_key_blocks;
  for (int h = 0; h < 3; ++h)
    for (int row = 0; row < raw.num_rows; ++row) {
      const size_t at = (size_t(h) * raw.num_rows + row) * n;
      expect_sink_excluded_row(raw.scores.data() + at, logits.scores.data() + at, probs.scores.data() + at, row + 1,
                               n, "head " + std::to_string(h) + " row " + std::to_string(row));
    }
}

TEST(GateErrors, WrongKindAndLayer) {
  auto r = init_gates(GateKind::kPrefill, small_model(2, 4, 2, 16), {}, 1);
  ASSERT_TRUE(r.is_ok());
  KCompressionCache cache(*r);
  auto k = test::random_vector(64, 1);
  EXPECT_FALSE(cache.update(0, k.data(), 1, 0).is_ok());
  PrefillGate gate(*r);
  PrefillGateScores out;
  Status s = gate.forward(5, k.data(), k.data(), 1, 0, false, &out);
  EXPECT_NE(s.message().find("layer 5 out of range"), std::string::npos) << s.message();
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / fmt::format("seer_gates_{}_{}", ::getpid(), n++);
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

json read_json(const std::string& p) {
  std::ifstream in(p);
  return json::parse(in);
}
void write_json(const std::string& p, const json& j) { std::ofstream(p) << j.dump(2); }

void expect_same_weights(const GateSet& a, const GateSet& b, float tol) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l)
    for (auto role : {GateTensorRole::kLinearQ, GateTensorRole::kLinearK, GateTensorRole::kQNorm,
                      GateTensorRole::kKNorm}) {
      const auto& x = a.layers[l].get(role);
      const auto& y = b.layers[l].get(role);
      ASSERT_EQ(x.size(), y.size());
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], tol * std::fabs(x[i]) + 1e-30);
    }
}

TEST(GateCheckpoint, RoundTrip) {
  const ModelConfig m = small_model(3, 6, 2, 16);
  for (GateKind kind : {GateKind::kPrefill, GateKind::kDecode})
    for (QHeadPooling qp : {QHeadPooling::kQproj, QHeadPooling::kQavgproj, QHeadPooling::kQavg})
      for (DType dt : {DType::kF32, DType::kBF16}) {
        if (kind == GateKind::kPrefill && qp != QHeadPooling::kQproj) continue;
        GateOptions o;
        o.q_head_pooling = qp;
        o.base_model = "HuggingFaceTB/SmolLM2-135M-Instruct";
        o.gate_type = "Qmaxavg_Kmaxmin";
        auto g = init_gates(kind, m, o, 42);
        ASSERT_TRUE(g.is_ok()) << g.status().message();
        g->config.threshold = 2e-3;
        g->config.token_budget = 2048;
        g->config.sink_excluded = dt == DType::kBF16;  // both values round-trip
        TempDir dir;
        Status s = save_gates(dir.str(), *g, m, dt);
        ASSERT_TRUE(s.is_ok()) << s.message();
        EXPECT_FALSE(fs::exists(dir.path / "gates.safetensors.tmp"));
        auto back = load_gates(dir.str(), m);
        ASSERT_TRUE(back.is_ok()) << back.status().message();
        const GateConfig &a = g->config, &b = back->config;
        EXPECT_EQ(a.kind, b.kind);
        EXPECT_EQ(a.q_pools, b.q_pools);
        EXPECT_EQ(a.k_pools, b.k_pools);
        EXPECT_EQ(a.block_size, b.block_size);
        EXPECT_EQ(a.hidden_size, b.hidden_size);
        EXPECT_EQ(a.sink_excluded, b.sink_excluded);
        EXPECT_EQ(a.q_head_pooling, b.q_head_pooling);
        EXPECT_EQ(a.use_qk_norm, b.use_qk_norm);
        EXPECT_EQ(a.threshold, b.threshold);
        EXPECT_EQ(a.token_budget, b.token_budget);
        EXPECT_EQ(a.base_model, b.base_model);
        expect_same_weights(*g, *back, dt == DType::kF32 ? 0.0f : 1.0f / 128);
        const json cfg = read_json((dir.path / "config.json").string());
        EXPECT_EQ(cfg["num_hidden_layers"], 3);
        EXPECT_EQ(cfg["base_model"], "HuggingFaceTB/SmolLM2-135M-Instruct");
      }
}

// Saves fresh gates for `m`, lets `edit` change config.json, and loads with `load_model`.
Status load_after(GateKind kind, const ModelConfig& m, const ModelConfig& load_model,
                  const std::function<void(json&)>& edit, GateOptions o = {}) {
  auto g = init_gates(kind, m, o, 1);
  EXPECT_TRUE(g.is_ok());
  TempDir dir;
  EXPECT_TRUE(save_gates(dir.str(), *g, m).is_ok());
  const std::string cp = (dir.path / "config.json").string();
  json j = read_json(cp);
  edit(j);
  write_json(cp, j);
  auto r = load_gates(dir.str(), load_model);
  EXPECT_FALSE(r.is_ok());
  return r.is_ok() ? Status::ok() : r.status();
}

void expect_msg(const Status& s, std::initializer_list<const char*> parts) {
  ASSERT_FALSE(s.is_ok());
  for (const char* p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s.message();
}

TEST(GateCheckpoint, LoadErrors) {
  const ModelConfig m = small_model(3, 6, 2, 16);
  auto none = [](json&) {};
  // A missing hidden size is SPEC §7's default 128, which these dg-16 tensors then contradict; a missing
  // gate type means no gate config.
  expect_msg(load_after(GateKind::kPrefill, m, m, [](json& j) { j.erase("seerattn_gate_hidden_size"); }),
             {"missing tensor", "[6, 16, 128]", "two linears"});  // dg 128 != head_dim 16 needs a Q linear
  expect_msg(load_after(GateKind::kPrefill, m, m, [](json& j) { j.erase("seerattn_gate_type"); }),
             {"config.json", "seerattn_gate_type", "seerattn_q_head_pooling_type"});
  // Unknown gate type and pooling names.
  expect_msg(load_after(GateKind::kPrefill, m, m, [](json& j) { j["seerattn_gate_type"] = "Qavg_Kminmax"; }),
             {"config.json", "seerattn_gate_type", "unknown gate type 'Qavg_Kminmax'"});
  expect_msg(load_after(GateKind::kDecode, m, m, [](json& j) { j["seerattn_q_head_pooling_type"] = "Qorig"; }),
             {"seerattn_q_head_pooling_type", "'Qorig'"});
  expect_msg(load_after(GateKind::kPrefill, m, m, [](json& j) { j["seerattn_gate_block_size"] = 32; }),
             {"seerattn_gate_block_size", "64 or 128", "32"});
  // Wrong tensor shape: config says dg 32, the weights have 16.
  expect_msg(load_after(GateKind::kDecode, m, m, [](json& j) { j["seerattn_gate_hidden_size"] = 32; }),
             {"gates.safetensors", "attngate_linear_q.weight", "shape [2, 3, 16, 16] but expected [2, 3, 16, 32]"});
  // Wrong model: more query heads (config dims removed, so the tensors are what disagrees).
  expect_msg(load_after(GateKind::kPrefill, m, small_model(3, 8, 2, 16),
                        [](json& j) { j.erase("num_attention_heads"); }),
             {"mask_linear_k.weight", "shape [6, 48, 16] but expected [8, 48, 16]"});
  // Missing tensor: config now asks for qk-norm weights.
  GateOptions no_norm;
  no_norm.use_qk_norm = false;
  expect_msg(load_after(GateKind::kDecode, m, m, [](json& j) { j["seerattn_use_qk_norm"] = true; }, no_norm),
             {"missing tensor 'model.layers.0.self_attn.attn_gate.attngate_qnorm.weight'", "[16]"});
  // Unexpected tensor: config says no qk-norm but the weights have it.
  expect_msg(load_after(GateKind::kDecode, m, m, [](json& j) { j["seerattn_use_qk_norm"] = false; }),
             {"unexpected tensor", "attngate_"});
  // Layer count mismatch: config key, and tensors beyond the model's layers.
  const ModelConfig m2 = small_model(2, 6, 2, 16);
  expect_msg(load_after(GateKind::kPrefill, m, m2, none), {"num_hidden_layers", "is 3", "has 2 layers"});
  expect_msg(load_after(GateKind::kPrefill, m, m2, [](json& j) { j.erase("num_hidden_layers"); }),
             {"layer 2", "model has 2 layers", "layer count mismatch"});
  const ModelConfig m4 = small_model(4, 6, 2, 16);
  expect_msg(load_after(GateKind::kPrefill, m, m4, [](json& j) { j.erase("num_hidden_layers"); }),
             {"missing tensor 'model.layers.3.self_attn.attn_gate.mask_linear_k.weight'"});
  // No directory / no weights.
  auto r = load_gates("/nonexistent/gates", m);
  expect_msg(r.status(), {"/nonexistent/gates/config.json", "cannot open"});
  TempDir empty;
  fs::create_directories(empty.path);
  write_json((empty.path / "config.json").string(),
             json{{"seerattn_gate_type", "Qavg_Kmaxminavg"}, {"seerattn_gate_block_size", 64},
                  {"seerattn_gate_hidden_size", 16}});
  expect_msg(load_gates(empty.str(), m).status(), {"no *.safetensors"});
  // A weight that is not finite (fuzzing: such gates loaded and selected silently wrong blocks).
  auto g = init_gates(GateKind::kPrefill, m, {}, 1);
  ASSERT_TRUE(g.is_ok());
  g->layers[1].linear_k[5] = std::numeric_limits<float>::infinity();
  TempDir bad;
  ASSERT_TRUE(save_gates(bad.str(), *g, m).is_ok());
  expect_msg(load_gates(bad.str(), m).status(),
             {"gates.safetensors", "model.layers.1.self_attn.attn_gate.mask_linear_k.weight", "element 5 is inf"});
}

// budget_shares.json beside a decode gate: saved and loaded with the gates (scaled to mean 1, the
// calibration kept), removed when gates without shares are saved over them, and refused with the file,
// key, layer and head named when it does not fit the model or the gate.
TEST(GateCheckpoint, BudgetShares) {
  const ModelConfig m = small_model(3, 6, 2, 16);
  auto g = init_gates(GateKind::kDecode, m, {}, 1);
  ASSERT_TRUE(g.is_ok());
  TempDir dir;
  ASSERT_TRUE(save_gates(dir.str(), *g, m).is_ok());
  EXPECT_FALSE(fs::exists(dir.path / kBudgetSharesFile));
  EXPECT_TRUE(load_gates(dir.str(), m)->budget_shares.empty());
  const std::vector<float> shares = {1, 2, 3, 4, 5, 9};  // mean 4: read back as 0.25 .. 2.25
  const std::vector<double> kept = {0.05, 0.1, 0.15, 0.2, 0.25, 0.45};
  ASSERT_TRUE(
      save_budget_shares(dir.str(), GateKind::kDecode, shares, kept, m, R"({"rule": "mass:0.75", "windows": 4})").is_ok());
  auto back = load_gates(dir.str(), m);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  ASSERT_EQ(back->budget_shares.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(back->budget_shares[i], shares[i] / 4.0f, 1e-6) << i;
  EXPECT_EQ(json::parse(back->budget_calibration).at("rule"), "mass:0.75");
  const json file = read_json((dir.path / kBudgetSharesFile).string());
  EXPECT_EQ(file.at("shares").size(), 3u);
  EXPECT_NEAR(file.at("kept")[2][1].get<double>(), 0.45, 1e-9);
  // Saved with the gates: the same shares and calibration come back.
  TempDir copy;
  ASSERT_TRUE(save_gates(copy.str(), *back, m).is_ok());
  auto again = load_gates(copy.str(), m);
  ASSERT_TRUE(again.is_ok());
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(again->budget_shares[i], back->budget_shares[i], 1e-6);
  EXPECT_EQ(json::parse(again->budget_calibration), json::parse(back->budget_calibration));
  // New weights saved over them (a training run's --out): the old shares go.
  ASSERT_TRUE(save_gates(copy.str(), *g, m).is_ok());
  EXPECT_FALSE(fs::exists(copy.path / kBudgetSharesFile));
  EXPECT_TRUE(load_gates(copy.str(), m)->budget_shares.empty());

  auto refused = [&](const std::function<void(json&)>& edit, std::initializer_list<const char*> parts) {
    json j = read_json((dir.path / kBudgetSharesFile).string());
    edit(j);
    TempDir d;
    ASSERT_TRUE(save_gates(d.str(), *g, m).is_ok());
    write_json((d.path / kBudgetSharesFile).string(), j);
    expect_msg(load_gates(d.str(), m).status(), parts);
  };
  refused([](json& j) { j["shares"][1][0] = -1.0; }, {kBudgetSharesFile, "'shares'", "layer 1, KV head 0", "-1"});
  refused([](json& j) { j["shares"][2][1] = "x"; }, {"layer 2, KV head 1", "a number in [1e-6, 1e6]"});
  // Past a float's range a share would become inf or 0 and break every head's count.
  refused([](json& j) { j["shares"][0][1] = 1e300; }, {"layer 0, KV head 1", "1e+300"});
  refused([](json& j) { j["shares"][0][0] = 1e-300; }, {"layer 0, KV head 0", "1e-300"});
  refused([](json& j) { j["shares"].erase(2); }, {"'shares'", "3 rows (layers) of 2"});
  refused([](json& j) { j["shares"][0].push_back(1.0); }, {"row 0", "2 numbers"});
  refused([](json& j) { j.erase("shares"); }, {"missing key 'shares'"});
  refused([](json& j) { j["num_key_value_heads"] = 4; }, {"num_key_value_heads", "is 4", "has 2 KV heads"});
  refused([](json& j) { j.erase("num_key_value_heads"); }, {"'num_key_value_heads' is missing", "KV heads", "decode gate"});
  // A prefill gate's shares split over its 6 query heads: a decode gate's file is refused there.
  auto pg = init_gates(GateKind::kPrefill, m, {}, 1);
  TempDir pd;
  ASSERT_TRUE(save_gates(pd.str(), *pg, m).is_ok());
  std::filesystem::copy_file(dir.path / kBudgetSharesFile, pd.path / kBudgetSharesFile);
  expect_msg(load_gates(pd.str(), m).status(), {kBudgetSharesFile, "'num_attention_heads' is missing", "prefill gate"});
  std::vector<float> pshares(18);
  for (size_t i = 0; i < pshares.size(); ++i) pshares[i] = 0.5f + float(i % 7);
  EXPECT_FALSE(save_budget_shares(pd.str(), GateKind::kPrefill, shares, {}, m, "").is_ok());  // 6 for 3 x 6
  ASSERT_TRUE(save_budget_shares(pd.str(), GateKind::kPrefill, pshares, {}, m, R"({"kind": "prefill"})").is_ok());
  EXPECT_EQ(read_json((pd.path / kBudgetSharesFile).string()).at("num_attention_heads"), 6);
  auto pback = load_gates(pd.str(), m);
  ASSERT_TRUE(pback.is_ok()) << pback.status().message();
  double mean = 0.0;
  for (float v : pshares) mean += v / 18.0;
  ASSERT_EQ(pback->budget_shares.size(), 18u);
  for (size_t i = 0; i < 18; ++i) EXPECT_NEAR(pback->budget_shares[i], pshares[i] / mean, 1e-5) << i;
  json pj = read_json((pd.path / kBudgetSharesFile).string());
  pj["shares"][1].erase(5);
  write_json((pd.path / kBudgetSharesFile).string(), pj);
  expect_msg(load_gates(pd.str(), m).status(), {"row 1", "6 numbers (query heads)"});
}

TEST(GateCheckpoint, InitStatistics) {
  const ModelConfig m = small_model(4, 8, 2, 32);
  GateOptions o;
  auto g = init_gates(GateKind::kDecode, m, o, 123);
  ASSERT_TRUE(g.is_ok());
  double s = 0, ss = 0;
  size_t n = 0;
  for (const auto& l : g->layers) {
    for (const auto* v : {&l.linear_q, &l.linear_k})
      for (float x : *v) s += x, ss += double(x) * x, ++n;
    for (const auto* v : {&l.q_norm, &l.k_norm}) {
      ASSERT_EQ(v->size(), 32u);
      for (float x : *v) ASSERT_EQ(x, 1.0f);
    }
  }
  const double mean = s / n, sd = std::sqrt(ss / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.001);
  EXPECT_NEAR(sd, 0.02, 0.0005);
  EXPECT_EQ(g->layers[0].linear_q.size(), size_t(2 * 4 * 32 * 32));
  EXPECT_EQ(g->layers[0].linear_k.size(), size_t(2 * 96 * 32));
  auto g2 = init_gates(GateKind::kDecode, m, o, 123);
  EXPECT_EQ(g->layers[3].linear_k, g2->layers[3].linear_k);  // deterministic in the seed
  auto p = init_gates(GateKind::kPrefill, m, o, 5);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->layers[0].linear_k.size(), size_t(8 * 96 * 32));  // K-only, per query head
  EXPECT_TRUE(p->layers[0].linear_q.empty());
  o.gate_type = "Qfoo_Kmax";
  EXPECT_FALSE(init_gates(GateKind::kPrefill, m, o, 5).is_ok());
}

// scripts/convert_upstream_gates.py without torch: its --self-test writes a fake decode release
// through the same numpy -> safetensors path a real conversion takes.
TEST(GateCheckpoint, ConverterSelfTest) {
  if (std::system("python3 -c 'import numpy' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  const std::string cmd = "python3 " + test::source_path("scripts/convert_upstream_gates.py") +
                          " --self-test " + dir.str() + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ModelConfig m = small_model(2, 4, 2, 16, 1e6f);
  auto g = load_gates(dir.str(), m);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(g->config.kind, GateKind::kDecode);
  EXPECT_EQ(g->config.q_head_pooling, QHeadPooling::kQproj);
  EXPECT_TRUE(g->config.use_qk_norm);
  EXPECT_EQ(g->config.sparsity_method, "token_budget");
  EXPECT_EQ(g->config.token_budget, 2048);
  EXPECT_EQ(g->config.base_model, "Qwen/Qwen3-4B");
  for (const auto& l : g->layers)
    for (const auto* v : {&l.linear_q, &l.linear_k, &l.q_norm, &l.k_norm}) {
      ASSERT_FALSE(v->empty());
      for (size_t i = 0; i < v->size(); ++i) ASSERT_EQ((*v)[i], float(i % 97) / 64.0f - 0.75f);
    }
}

TEST(GateConfig, ParseGateTypes) {
  std::vector<PoolType> q, k;
  ASSERT_TRUE(parse_gate_type("Qavg_Kmaxminavg", &q, &k).is_ok());
  EXPECT_EQ(q, std::vector<PoolType>{PoolType::kAvg});
  EXPECT_EQ(k, (std::vector<PoolType>{PoolType::kMax, PoolType::kMin, PoolType::kAvg}));
  ASSERT_TRUE(parse_gate_type("Qmaxmin_Kmin", &q, &k).is_ok());
  EXPECT_EQ(pool_list_name(q, 'Q'), "Qmaxmin");
  for (const char* bad : {"Qavg", "Qavg_K", "Q_Kmax", "Qavgavg_Kmax", "Qminmax_Kmax", "Kavg_Qmax", "Qavg_Kmaxx"})
    EXPECT_FALSE(parse_gate_type(bad, &q, &k).is_ok()) << bad;
}

// ---------------------------------------------------------------------------------------------
// Speed: the gate at 8k tokens with SmolLM2 shapes (30 layers, 9/3 heads, d 64, block 64).

TEST(GateSpeed, SmolLM2Shapes8k) {
  const ModelConfig m = small_model(30, 9, 3, 64, 100000.0f);
  const int T = 8192, kSteps = 64;
  auto pg = init_gates(GateKind::kPrefill, m, {}, 1);
  auto dg = init_gates(GateKind::kDecode, m, {}, 2);
  ASSERT_TRUE(pg.is_ok() && dg.is_ok());
  auto q = test::random_vector(size_t(T) * 9 * 64, 3), k = test::random_vector(size_t(T) * 3 * 64, 4);
  PrefillGate gate(*pg);
  KCompressionCache cache(*dg);
  PrefillGateScores out;
  DecodeGateScores dout;
  auto k2 = test::random_vector(size_t(kSteps) * 3 * 64, 5);
  auto t0 = std::chrono::steady_clock::now();
  for (int l = 0; l < 30; ++l) ASSERT_TRUE(gate.forward(l, q.data(), k.data(), T, 0, true, &out).is_ok());
  auto t1 = std::chrono::steady_clock::now();
  for (int l = 0; l < 30; ++l) ASSERT_TRUE(cache.update(l, k.data(), T, 0).is_ok());
  auto t2 = std::chrono::steady_clock::now();
  for (int s = 0; s < kSteps; ++s)  // decode steps T..T+63: one of them completes a block
    for (int l = 0; l < 30; ++l) {
      ASSERT_TRUE(cache.update(l, k2.data() + size_t(s) * 3 * 64, 1, T + s).is_ok());
      ASSERT_TRUE(decode_gate_scores(cache, l, q.data(), T + s, true, &dout).is_ok());
    }
  auto t3 = std::chrono::steady_clock::now();
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::printf("gate @8k, 30 layers, 1 thread: prefill gate %.1f ms, decode cache build %.1f ms, "
              "decode step (cache update + scores) %.1f us per layer\n",
              ms(t0, t1), ms(t1, t2), 1000.0 * ms(t2, t3) / (kSteps * 30));
  EXPECT_LT(ms(t0, t1), 5000.0);  // loose: only catches a pathological slowdown
}

}  // namespace
}  // namespace seer
