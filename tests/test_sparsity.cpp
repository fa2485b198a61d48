// Sparsity selection (SPEC §3) against goldens from an independent numpy implementation
// (scripts/golden/make_sparsity_golden.py -> tests/golden/sparsity.json): prefill threshold / density
// (the k formula at several nb, odd ones included) / mass:P / last_block_dense / chunks / ties, each also with
// the sink rule (keep_sink), decode budget /
// threshold / forced sink and current blocks, with the block counts. Also: flag parsing and its
// errors, the no-empty-row rule over random scores and densities 0.01..1, DensityStats sums.
#include <seer/sparsity.h>

#include "test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <random>

namespace seer {
namespace {

using json = nlohmann::json;

json load_golden() {
  const std::string path = test::source_path("tests/golden/sparsity.json");
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << path;
  EXPECT_EQ(j.value("magic", ""), "SEERSPARSITY") << path;
  EXPECT_EQ(j.value("version", 0), 1) << path << ": golden version";
  return j;
}

std::vector<std::vector<int>> rows_of(const BlockSelection& sel) {
  std::vector<std::vector<int>> rows;
  for (int i = 0; i < sel.num_heads * sel.num_rows; ++i)
    rows.emplace_back(sel.indices.begin() + sel.offsets[size_t(i)], sel.indices.begin() + sel.offsets[size_t(i) + 1]);
  return rows;
}

TEST(Sparsity, Golden) {
  const json g = load_golden();
  int n_prefill = 0, n_decode = 0, n_sink = 0, n_mass = 0;
  for (const json& c : g.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    std::vector<float> scores;
    for (double v : c.at("scores")) scores.push_back(float(v));
    const std::string kind = c.at("kind");
    BlockSelection sel;
    BlockCounts counts;
    if (c.at("phase") == "prefill") {
      ++n_prefill;
      PrefillSparsity sp;
      sp.kind = kind == "density" ? PrefillSparsity::Kind::kDensity
                : kind == "mass"  ? PrefillSparsity::Kind::kMass
                                  : PrefillSparsity::Kind::kThreshold;
      n_mass += kind == "mass" ? 1 : 0;
      sp.value = c.at("value");
      sp.last_block_dense = c.at("last_block_dense");
      sp.keep_sink = c.value("keep_sink", false);  // upstream's rule unless the case says otherwise
      n_sink += sp.keep_sink ? 1 : 0;
      PrefillSelectArgs a;
      a.num_heads = c.at("num_heads");
      a.first_q_block = c.at("first_q_block");
      a.num_rows = c.at("num_rows");
      a.num_blocks = c.at("num_blocks");
      a.block_size = c.at("block_size");
      a.scores_are_probs = c.at("are_probs");
      ASSERT_EQ(scores.size(), size_t(a.num_heads) * a.num_rows * a.num_blocks);
      ASSERT_TRUE(select_prefill(sp, a, scores.data(), &sel, &counts).is_ok());
      EXPECT_FALSE(sel.per_kv_head);
      EXPECT_EQ(sel.first_q_block, a.first_q_block);
      EXPECT_EQ(sel.num_rows, a.num_rows);
    } else {
      ++n_decode;
      DecodeSparsity sp;
      sp.kind = kind == "budget" ? DecodeSparsity::Kind::kBudget : DecodeSparsity::Kind::kThreshold;
      sp.value = c.at("value");
      DecodeSelectArgs a;
      a.num_heads = c.at("num_heads");
      a.num_blocks = c.at("num_blocks");
      a.block_size = c.at("block_size");
      a.scores_are_probs = c.at("are_probs");
      ASSERT_TRUE(select_decode(sp, a, scores.data(), &sel, &counts).is_ok());
      EXPECT_TRUE(sel.per_kv_head);
      EXPECT_EQ(sel.num_rows, 1);
      EXPECT_EQ(sel.first_q_block, a.num_blocks - 1);
    }
    EXPECT_EQ(rows_of(sel), c.at("rows").get<std::vector<std::vector<int>>>());
    EXPECT_EQ(counts.selected, c.at("counts").at("selected").get<int64_t>());
    EXPECT_EQ(counts.dense, c.at("counts").at("dense").get<int64_t>());
    EXPECT_EQ(counts.forced, c.at("counts").at("forced").get<int64_t>());
  }
  EXPECT_GT(n_prefill, 50);
  EXPECT_GT(n_decode, 30);
  EXPECT_GT(n_sink, 40);
  EXPECT_GT(n_mass, 60);
}

TEST(Sparsity, DensityTopK) {
  EXPECT_EQ(density_top_k(1.0, 17), 17);
  EXPECT_EQ(density_top_k(0.01, 17), 1);
  EXPECT_EQ(density_top_k(0.5, 100), int((1 - std::sqrt(0.5)) * 100));  // 29
  EXPECT_EQ(density_top_k(0.75, 7), 3);                                 // t = 0.5
  EXPECT_EQ(density_top_k(0.5, 1), 1);
}

TEST(Sparsity, ParsePrefill) {
  auto d = PrefillSparsity::parse("dense");
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->kind, PrefillSparsity::Kind::kDense);
  auto t = PrefillSparsity::parse("threshold:5e-4");
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->kind, PrefillSparsity::Kind::kThreshold);
  EXPECT_DOUBLE_EQ(t->value, 5e-4);
  auto r = PrefillSparsity::parse("density:0.25");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->kind, PrefillSparsity::Kind::kDensity);
  EXPECT_DOUBLE_EQ(r->value, 0.25);
  EXPECT_EQ(r->to_string(), "density:0.25");
  EXPECT_EQ(PrefillSparsity::parse(r->to_string())->value, 0.25);
  EXPECT_TRUE(PrefillSparsity::parse("density:1").is_ok());
  auto m = PrefillSparsity::parse("mass:0.9,nosink");
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_EQ(m->kind, PrefillSparsity::Kind::kMass);
  EXPECT_DOUBLE_EQ(m->value, 0.9);
  EXPECT_FALSE(m->keep_sink);
  EXPECT_EQ(m->to_string(), "mass:0.9,nosink");
  EXPECT_TRUE(PrefillSparsity::parse("mass:1").is_ok());
  // The sink rule is on unless ",nosink" says otherwise, and to_string keeps it.
  EXPECT_TRUE(r->keep_sink && t->keep_sink);
  auto ns = PrefillSparsity::parse("threshold:0.01,nosink");
  ASSERT_TRUE(ns.is_ok()) << ns.status().message();
  EXPECT_EQ(ns->kind, PrefillSparsity::Kind::kThreshold);
  EXPECT_DOUBLE_EQ(ns->value, 0.01);
  EXPECT_FALSE(ns->keep_sink);
  EXPECT_EQ(ns->to_string(), "threshold:0.01,nosink");
  EXPECT_FALSE(PrefillSparsity::parse(ns->to_string())->keep_sink);
  // ",lastdense" (SPEC §3.1's last_block_dense), alone or with ",nosink" in either order, and back.
  for (const char* t : {"density:0.2,lastdense", "density:0.2,nosink,lastdense", "density:0.2,lastdense,nosink"}) {
    auto ld = PrefillSparsity::parse(t);
    ASSERT_TRUE(ld.is_ok()) << t << ": " << ld.status().message();
    EXPECT_TRUE(ld->last_block_dense) << t;
    EXPECT_EQ(ld->keep_sink, std::string(t).find("nosink") == std::string::npos) << t;
    auto back = PrefillSparsity::parse(ld->to_string());
    ASSERT_TRUE(back.is_ok());
    EXPECT_TRUE(back->last_block_dense && back->keep_sink == ld->keep_sink) << ld->to_string();
  }
  EXPECT_FALSE(PrefillSparsity::parse("density:0.2")->last_block_dense);

  struct Bad {
    const char* text;
    const char* needle;
  };
  for (const Bad& b : {Bad{"density:1.5", "density must be in (0, 1]"}, Bad{"density:0", "density must be in (0, 1]"},
                       Bad{"density:-0.1", "density must be in (0, 1]"}, Bad{"density", "needs a number"},
                       Bad{"density:abc", "needs a number"}, Bad{"density:0.5x", "needs a number"},
                       Bad{"density:nan", "needs a number"}, Bad{"threshold:1", "threshold must be in [0, 1)"},
                       Bad{"threshold:-1e-3", "threshold must be in [0, 1)"}, Bad{"topk:3", "unknown method 'topk'"},
                       Bad{"", "unknown method"}, Bad{"dense:1", "takes no value"},
                       Bad{"dense,nosink", "are for threshold, density and mass"}, Bad{"density:0.2,sink", "unknown suffix ',sink'"},
                       Bad{"density:0.2,nosink,nosink", "unknown suffix ',nosink'"},
                       Bad{",nosink", "unknown method"}, Bad{"dense,lastdense", "',lastdense' are for"},
                       Bad{"density:0.2,lastdense,lastdense", "unknown suffix ',lastdense'"},
                       Bad{"budget:64", "unknown method 'budget'"}, Bad{"mass:0", "mass must be in (0, 1]"},
                       Bad{"mass:1.01", "mass must be in (0, 1]"}, Bad{"mass", "needs a number"}}) {
    auto p = PrefillSparsity::parse(b.text);
    ASSERT_FALSE(p.is_ok()) << b.text;
    const std::string& m = p.status().message();
    EXPECT_NE(m.find(std::string("--prefill-sparsity '") + b.text + "'"), std::string::npos) << m;
    EXPECT_NE(m.find(b.needle), std::string::npos) << m;
  }
}

TEST(Sparsity, ParseDecode) {
  auto b = DecodeSparsity::parse("budget:4096");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->kind, DecodeSparsity::Kind::kBudget);
  EXPECT_EQ(b->value, 4096);
  EXPECT_EQ(b->to_string(), "budget:4096");
  auto t = DecodeSparsity::parse("threshold:4e-3");
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->kind, DecodeSparsity::Kind::kThreshold);
  EXPECT_DOUBLE_EQ(t->value, 4e-3);
  EXPECT_EQ(DecodeSparsity::parse("dense")->kind, DecodeSparsity::Kind::kDense);
  auto m = DecodeSparsity::parse("mass:0.85");
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_EQ(m->kind, DecodeSparsity::Kind::kMass);
  EXPECT_DOUBLE_EQ(m->value, 0.85);
  EXPECT_EQ(m->to_string(), "mass:0.85");
  EXPECT_TRUE(m->reads_softmax() && t->reads_softmax() && !b->reads_softmax());
  EXPECT_TRUE(DecodeSparsity::parse("mass:1").is_ok());
  for (const char* bad : {"mass:0", "mass:1.5", "mass:-0.2"})
    EXPECT_NE(DecodeSparsity::parse(bad).status().message().find("mass must be in (0, 1]"), std::string::npos) << bad;
  for (const char* bad : {"budget:64,nosink", "mass:0.9,nosink"})  // the sink is a prefill option
    EXPECT_NE(DecodeSparsity::parse(bad).status().message().find("',nosink' is a prefill option"), std::string::npos)
        << bad;
  for (const char* bad : {"budget:0", "budget:-5", "budget:1.5", "budget:", "budget", "budget:4k",
                          "threshold:2", "density:0.5", "sparse", "mass", "mass:x", "mass:0", "mass:1.01"}) {
    auto p = DecodeSparsity::parse(bad);
    ASSERT_FALSE(p.is_ok()) << bad;
    EXPECT_NE(p.status().message().find(std::string("--decode-sparsity '") + bad + "'"), std::string::npos)
        << p.status().message();
  }
  for (const char* bad : {"budget:0", "budget:-5"})  // whole numbers out of range say so
    EXPECT_NE(DecodeSparsity::parse(bad).status().message().find("budget must be in [1, 2^30]"), std::string::npos) << bad;
}

// Property: no prefill row is ever empty, every index is causal and ascending, whatever the scores
// and the density (0.01..1) or threshold; density 1 is dense.
TEST(Sparsity, NoEmptyRowProperty) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int nb = 1 + int(rng() % 40);
    const int first = int(rng() % uint64_t(nb));
    const int rows = nb - first, heads = 1 + int(rng() % 3);
    std::vector<float> s = test::random_vector(size_t(heads) * rows * nb, rng(), -8.0f, 8.0f);
    PrefillSparsity sp;
    const bool dens = trial % 2 == 0;
    sp.kind = dens ? PrefillSparsity::Kind::kDensity : PrefillSparsity::Kind::kThreshold;
    sp.value = dens ? std::exp(std::log(0.01) * std::uniform_real_distribution<double>(0, 1)(rng))
                    : std::uniform_real_distribution<double>(0.0, 0.99)(rng);
    if (trial % 50 == 0) sp.value = dens ? 1.0 : 0.999;
    sp.last_block_dense = trial % 3 == 0;
    PrefillSelectArgs a{heads, first, rows, nb, 64, trial % 5 == 0};
    BlockSelection sel;
    BlockCounts c;
    ASSERT_TRUE(select_prefill(sp, a, s.data(), &sel, &c).is_ok());
    ASSERT_EQ(sel.offsets.size(), size_t(heads) * rows + 1);
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r) {
        const size_t row = size_t(h) * rows + r;
        ASSERT_GT(sel.offsets[row + 1], sel.offsets[row]) << "empty row, trial " << trial;
        for (int32_t i = sel.offsets[row]; i < sel.offsets[row + 1]; ++i) {
          ASSERT_LE(sel.indices[size_t(i)], first + r);
          if (i > sel.offsets[row]) {
            ASSERT_LT(sel.indices[size_t(i) - 1], sel.indices[size_t(i)]);
          }
        }
      }
    EXPECT_EQ(c.selected, sel.num_selected());
    if (dens && sp.value == 1.0) {
      EXPECT_EQ(c.selected, c.dense);
    }
  }
}

// Decode: forced sink and current block, budget between N/bs and N/bs + 2 blocks.
TEST(Sparsity, DecodeBudgetBounds) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int nb = 1 + int(rng() % 60), bs = trial % 2 ? 64 : 16, heads = 1 + int(rng() % 4);
    const int budget = 1 + int(rng() % 3000);
    std::vector<float> s = test::random_vector(size_t(heads) * nb, rng());
    DecodeSparsity sp{DecodeSparsity::Kind::kBudget, double(budget)};
    BlockSelection sel;
    ASSERT_TRUE(select_decode(sp, {heads, nb, bs, false}, s.data(), &sel).is_ok());
    const int k = std::min(nb, budget / bs);
    for (int h = 0; h < heads; ++h) {
      const int n = sel.offsets[size_t(h) + 1] - sel.offsets[size_t(h)];
      EXPECT_GE(n, std::max(k, std::min(nb, 2)));
      EXPECT_LE(n, std::min(nb, k + 2));
      EXPECT_EQ(sel.indices[size_t(sel.offsets[size_t(h)])], 0);
      EXPECT_EQ(sel.indices[size_t(sel.offsets[size_t(h) + 1]) - 1], nb - 1);
    }
  }
}

// share_budget against a plain reference (floors, then one block at a time to the entry furthest below its exact
// share, ties to the lower index; then every entry below 1 raised, taken from the first largest): the same counts,
// adding up to the uniform budget's total, each within one block of its exact share where none was raised.
TEST(Sparsity, ShareBudgetMatchesReference) {
  auto reference = [](const std::vector<float>& s, int64_t k) {
    double sum = 0.0;
    for (float x : s) sum += double(x);
    const int64_t total = k * int64_t(s.size());
    std::vector<double> exact(s.size());
    std::vector<int> r(s.size());
    int64_t given = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      exact[i] = double(total) * double(s[i]) / sum;
      r[i] = int(std::floor(exact[i]));
      given += r[i];
    }
    for (; given < total; ++given) {
      size_t best = 0;
      for (size_t i = 1; i < s.size(); ++i)
        if (exact[i] - r[i] > exact[best] - r[best]) best = i;
      r[best] += 1;
    }
    for (size_t i = 0; i < s.size(); ++i)
      if (r[i] < 1) {
        size_t big = 0;
        for (size_t j = 1; j < s.size(); ++j)
          if (r[j] > r[big]) big = j;
        r[big] -= 1;
        r[i] = 1;
      }
    return r;
  };
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 1 + rng() % 100;
    const int64_t k = 1 + int64_t(rng() % 64);
    std::vector<float> s(n);
    const double spread = trial % 3 == 0 ? 50.0 : 5.0;  // some rows with shares far below 1 / k
    for (float& x : s) x = float(0.01 + spread * double(rng() % 100000) / 100000.0);
    const std::vector<int> got = share_budget(s, k);
    ASSERT_EQ(got, reference(s, k)) << "trial " << trial;
    int64_t sum = 0;
    for (int v : got) {
      EXPECT_GE(v, 1);
      sum += v;
    }
    EXPECT_EQ(sum, k * int64_t(n)) << "trial " << trial;
  }
  EXPECT_EQ(share_budget(std::vector<float>(7, 2.5f), 16), std::vector<int>(7, 16));  // equal shares: uniform
  EXPECT_EQ(share_budget({1.0f, 3.0f}, 4), (std::vector<int>{2, 6}));
  EXPECT_EQ(share_budget({1.0f, 1.0f, 1.0f}, 0), (std::vector<int>{0, 0, 0}));  // budget below a block
  EXPECT_EQ(share_budget({0.001f, 10.0f}, 2), (std::vector<int>{1, 3}));       // raised to 1
  // Layers below start_layer (dense) take no part: the others share their own total.
  const std::vector<float> two_layers = {9.0f, 9.0f, 1.0f, 3.0f};  // 2 layers x 2 KV heads
  EXPECT_EQ(layer_budget_blocks(two_layers, 2, 1, 4), (std::vector<int>{4, 4, 2, 6}));
  EXPECT_EQ(layer_budget_blocks(two_layers, 2, 0, 4), share_budget(two_layers, 4));
  EXPECT_EQ(layer_budget_blocks(two_layers, 2, 5, 4), (std::vector<int>{4, 4, 4, 4}));  // every layer dense
}

// Decode budget:N with per-head counts (DecodeSelectArgs::head_blocks): each head's row is the Top-K of its
// own count, as a one-head selection with that budget gives it, and the per-head counts add up to the total.
TEST(Sparsity, DecodeBudgetPerHead) {
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 200; ++trial) {
    const int nb = 1 + int(rng() % 60), bs = 64, heads = 1 + int(rng() % 4);
    std::vector<int> k(static_cast<size_t>(heads));
    for (int& x : k) x = int(rng() % size_t(nb + 4));
    std::vector<float> s = test::random_vector(size_t(heads) * nb, rng());
    const DecodeSparsity sp{DecodeSparsity::Kind::kBudget, 640.0};  // (10 a head without head_blocks)
    DecodeSelectArgs a{heads, nb, bs, false};
    a.head_blocks = k.data();
    BlockSelection sel;
    BlockCounts total;
    std::vector<BlockCounts> per(static_cast<size_t>(heads));
    ASSERT_TRUE(select_decode(sp, a, s.data(), &sel, &total, per.data()).is_ok());
    BlockCounts sum;
    for (int h = 0; h < heads; ++h) {
      BlockSelection one;
      BlockCounts c1;
      const DecodeSparsity sp1{DecodeSparsity::Kind::kBudget, double(std::max(1, k[size_t(h)]) * bs)};
      ASSERT_TRUE(select_decode(sp1, {1, nb, bs, false}, s.data() + size_t(h) * nb, &one, &c1).is_ok());
      const std::vector<int32_t> row(sel.indices.begin() + sel.offsets[size_t(h)],
                                     sel.indices.begin() + sel.offsets[size_t(h) + 1]);
      if (k[size_t(h)] >= 1) {
        EXPECT_EQ(row, one.indices) << "trial " << trial << " head " << h;
        EXPECT_EQ(per[size_t(h)].forced, c1.forced);
      } else {  // no budget block: the sink and the current block alone
        EXPECT_EQ(row.front(), 0);
        EXPECT_EQ(row.back(), nb - 1);
        EXPECT_LE(row.size(), 2u);
      }
      EXPECT_EQ(per[size_t(h)].selected, int64_t(row.size()));
      EXPECT_EQ(per[size_t(h)].dense, nb);
      sum += per[size_t(h)];
    }
    EXPECT_EQ(sum.selected, total.selected);
    EXPECT_EQ(sum.dense, total.dense);
    EXPECT_EQ(sum.forced, total.forced);
  }
}

// Prefill Top-K with per-head counts: each head's rows equal a one-head selection under the density whose k is
// that head's count; per-head counts add up to the total. Random shapes, chunk offsets, the sink rule and
// last_block_dense.
TEST(Sparsity, PrefillTopKPerHead) {
  std::mt19937_64 rng(23);
  for (int trial = 0; trial < 200; ++trial) {
    const int nb = 1 + int(rng() % 40), first = int(rng() % size_t(nb)), rows = nb - first, heads = 1 + int(rng() % 4);
    std::vector<int> k(static_cast<size_t>(heads));
    for (int& x : k) x = 1 + int(rng() % size_t(nb));
    std::vector<float> s = test::random_vector(size_t(heads) * rows * nb, rng());
    PrefillSparsity sp{PrefillSparsity::Kind::kDensity, 0.3};  // (its own k without head_blocks)
    sp.keep_sink = rng() % 2;
    sp.last_block_dense = rng() % 3 == 0;
    PrefillSelectArgs a{heads, first, rows, nb, 64, false};
    a.head_blocks = k.data();
    BlockSelection sel;
    BlockCounts total;
    std::vector<BlockCounts> per(static_cast<size_t>(heads));
    ASSERT_TRUE(select_prefill(sp, a, s.data(), &sel, &total, per.data()).is_ok());
    BlockCounts sum;
    for (int h = 0; h < heads; ++h) {
      const int kh = k[size_t(h)];
      PrefillSparsity one_sp = sp;  // the density whose k is kh
      one_sp.value = test::density_for_top_k(kh, nb);
      ASSERT_EQ(density_top_k(one_sp.value, nb), kh);
      BlockSelection one;
      BlockCounts c1;
      ASSERT_TRUE(select_prefill(one_sp, {1, first, rows, nb, 64, false}, s.data() + size_t(h) * rows * nb, &one, &c1)
                      .is_ok());
      for (int r = 0; r < rows; ++r) {
        const size_t i = size_t(h) * rows + r;
        const std::vector<int32_t> row(sel.indices.begin() + sel.offsets[i], sel.indices.begin() + sel.offsets[i + 1]);
        const std::vector<int32_t> want(one.indices.begin() + one.offsets[size_t(r)],
                                        one.indices.begin() + one.offsets[size_t(r) + 1]);
        EXPECT_EQ(row, want) << "trial " << trial << " head " << h << " row " << r;
      }
      EXPECT_EQ(per[size_t(h)].selected, c1.selected);
      EXPECT_EQ(per[size_t(h)].dense, c1.dense);
      EXPECT_EQ(per[size_t(h)].forced, c1.forced);
      sum += per[size_t(h)];
    }
    EXPECT_EQ(sum.selected, total.selected);
    EXPECT_EQ(sum.dense, total.dense);
    EXPECT_EQ(sum.forced, total.forced);
  }
}

// prefill_budget_blocks: the heads' Top-K picks add up to the uniform k's or fall short by less than one more
// block in every row; never more. Larger shares never get smaller counts; every count within [min(k, 4), rows'
// longest]; layers below start_layer keep k; equal shares give k everywhere.
TEST(Sparsity, PrefillBudgetBlocksKeepTheTotal) {
  std::mt19937_64 rng(31);
  std::uniform_real_distribution<float> share(0.05f, 5.0f);
  for (int trial = 0; trial < 400; ++trial) {
    const int layers = 1 + int(rng() % 4), heads = 1 + int(rng() % 9), start = int(rng() % size_t(layers));
    const int nb = 1 + int(rng() % 300), first = int(rng() % size_t(nb)), k = 1 + int(rng() % size_t(nb));
    std::vector<float> shares(size_t(layers) * heads);
    for (float& x : shares) x = share(rng);
    if (trial % 10 == 0) std::fill(shares.begin(), shares.end(), 1.5f);
    const std::vector<int> got = prefill_budget_blocks(shares, heads, start, k, first, nb);
    ASSERT_EQ(got.size(), shares.size());
    const auto picked = [&](int kk) {
      int64_t t = 0;
      for (int qb = first; qb < nb; ++qb) t += std::min(kk, qb + 1);
      return t;
    };
    const size_t lo = size_t(start) * heads;
    int64_t total = 0;
    const int floor_k = std::min(k, kPrefillShareFloor);
    for (size_t i = 0; i < got.size(); ++i) {
      if (i < lo) {
        EXPECT_EQ(got[i], k);
        continue;
      }
      EXPECT_GE(got[i], floor_k) << trial;
      EXPECT_LE(got[i], nb) << trial;
      total += picked(got[i]);
      for (size_t j = lo; j < got.size(); ++j) {
        if (shares[i] > shares[j]) {
          EXPECT_GE(got[i], got[j]) << "trial " << trial << " entries " << i << ", " << j;
        }
      }
    }
    const int64_t target = int64_t(got.size() - lo) * picked(k);
    EXPECT_LE(total, target) << trial;
    if (got.size() > lo) {
      EXPECT_LT(target - total, nb - first) << trial;
    }
    if (trial % 10 == 0) {
      for (size_t i = lo; i < got.size(); ++i) EXPECT_EQ(got[i], k) << trial;
    }
  }
  // The shares move the counts: a head of share 1 gets less than the uniform k, one of share 3 more.
  const std::vector<int> two = prefill_budget_blocks({1.0f, 3.0f}, 2, 0, 16, 0, 64);
  EXPECT_LT(two[0], 16);
  EXPECT_GT(two[1], 16);
}

// decode mass:P against a plain reference: per head, the entries at or above the largest value v whose entries at
// or above it hold at least P of the row's total (probabilities in; ties at v all kept), plus the sink and the
// current block; a +inf entry (the sink of a gate trained without it) is kept and left out of the total.
TEST(Sparsity, DecodeMassMatchesReference) {
  std::mt19937_64 rng(29);
  for (int trial = 0; trial < 300; ++trial) {
    const int nb = 1 + int(rng() % 70), heads = 1 + int(rng() % 3);
    const double p = trial % 7 == 0 ? 1.0 : 0.05 + 0.9 * double(rng() % 1000) / 1000.0;
    const bool inf_sink = trial % 3 == 0;
    std::vector<float> s(size_t(heads) * nb);
    for (int h = 0; h < heads; ++h) {
      float* row = s.data() + size_t(h) * nb;
      double total = 0.0;
      for (int j = 0; j < nb; ++j) {
        row[j] = trial % 5 == 0 ? float(1 + rng() % 4) : float(std::exp(4.0 * double(rng() % 10000) / 10000.0));
        total += row[j];
      }
      for (int j = 0; j < nb; ++j) row[j] = float(row[j] / total);  // probabilities (ties when trial % 5 == 0)
      if (inf_sink) row[0] = std::numeric_limits<float>::infinity();
    }
    DecodeSparsity sp{DecodeSparsity::Kind::kMass, p};
    BlockSelection sel;
    ASSERT_TRUE(select_decode(sp, {heads, nb, 64, true}, s.data(), &sel).is_ok());
    for (int h = 0; h < heads; ++h) {
      const float* row = s.data() + size_t(h) * nb;
      std::vector<double> vals;
      double total = 0.0;
      for (int j = 0; j < nb; ++j)
        if (std::isfinite(row[j]) && row[j] > 0.0f) {
          vals.push_back(row[j]);
          total += row[j];
        }
      std::sort(vals.begin(), vals.end(), std::greater<double>());
      double cut = std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < vals.size(); ++i) {
        double at_or_above = 0.0;
        for (int j = 0; j < nb; ++j)
          if (std::isfinite(row[j]) && double(row[j]) >= vals[i]) at_or_above += row[j];
        if (at_or_above >= p * total) {  // (the same sums, in the same order, as the rule's)
          cut = vals[i];
          break;
        }
      }
      std::vector<int> want;
      for (int j = 0; j < nb; ++j)
        if (j == 0 || j == nb - 1 || (std::isfinite(row[j]) && double(row[j]) >= cut)) want.push_back(j);
      const std::vector<int> got(sel.indices.begin() + sel.offsets[size_t(h)],
                                 sel.indices.begin() + sel.offsets[size_t(h) + 1]);
      EXPECT_EQ(got, want) << "trial " << trial << " head " << h << " P " << p;
    }
  }
}

TEST(Sparsity, DenseShortCircuit) {
  BlockSelection sel, ref;
  BlockCounts c;
  ASSERT_TRUE(select_prefill(PrefillSparsity{}, {4, 2, 3, 5, 32, false}, nullptr, &sel, &c).is_ok());
  ref.set_dense(4, false, 2, 3, 32);
  EXPECT_EQ(sel.indices, ref.indices);
  EXPECT_EQ(sel.offsets, ref.offsets);
  EXPECT_EQ(c.selected, 4 * (3 + 4 + 5));
  EXPECT_EQ(c.dense, c.selected);
  EXPECT_EQ(c.forced, 0);
  BlockCounts d;
  ASSERT_TRUE(select_decode(DecodeSparsity{}, {2, 7, 64, false}, nullptr, &sel, &d).is_ok());
  EXPECT_TRUE(sel.per_kv_head);
  EXPECT_EQ(d.selected, 14);
  EXPECT_EQ(d.dense, 14);
  EXPECT_FALSE(select_prefill(PrefillSparsity{}, {4, 2, 3, 4, 32, false}, nullptr, &sel).is_ok());
}

TEST(Sparsity, StatsAndJson) {
  DensityStats st;
  st.reset(3);
  st.add_prefill(0, {10, 20, 1});
  st.add_prefill(2, {5, 20, 0});
  st.add_decode(1, {3, 12, 2});
  st.add_decode(2, {6, 12, 2});
  EXPECT_EQ(st.prefill_total().selected, 15);
  EXPECT_EQ(st.prefill_total().dense, 40);
  EXPECT_DOUBLE_EQ(st.prefill_total().density(), 15.0 / 40.0);
  EXPECT_EQ(st.decode_total(2).selected, 6);
  EXPECT_EQ(st.decode_total().forced, 4);
  const json j = json::parse(st.to_json());
  EXPECT_EQ(j.at("prefill").at("selected"), 15);
  EXPECT_EQ(j.at("decode").at("dense"), 24);
  EXPECT_NEAR(j.at("decode").at("density").get<double>(), 9.0 / 24.0, 1e-6);
  ASSERT_EQ(j.at("layers").size(), 3u);
  EXPECT_EQ(j.at("layers")[1].at("decode").at("forced"), 2);
  EXPECT_EQ(j.at("layers")[1].at("prefill").at("density"), 1.0);  // no blocks: density 1
  EXPECT_FALSE(j.at("layers")[1].contains("decode_heads"));
  // Per-head decode counts (host selections): added up per head, their densities in the JSON.
  const BlockCounts heads[2] = {{1, 4, 0}, {3, 4, 1}};
  st.add_decode_heads(1, heads, 2);
  st.add_decode_heads(1, heads, 2);
  ASSERT_EQ(st.layers()[1].decode_heads.size(), 2u);
  EXPECT_EQ(st.layers()[1].decode_heads[1].selected, 6);
  EXPECT_EQ(st.layers()[1].decode_heads[1].forced, 2);
  const json j2 = json::parse(st.to_json());
  ASSERT_EQ(j2.at("layers")[1].at("decode_heads").size(), 2u);
  EXPECT_NEAR(j2.at("layers")[1].at("decode_heads")[0].get<double>(), 0.25, 1e-6);
  EXPECT_NEAR(j2.at("layers")[1].at("decode_heads")[1].get<double>(), 0.75, 1e-6);
  EXPECT_FALSE(j2.at("layers")[0].contains("decode_heads"));
}

}  // namespace
}  // namespace seer
