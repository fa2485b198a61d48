// CPU attention benchmark: dense vs block-sparse prefill, dense vs sparse decode, on one layer.
//   prefill: causal attention over L tokens, random per-row block selections at a given density of
//            the causal triangle (k = max(1, int((1 - sqrt(1 - rho)) * nb)) blocks per row, the
//            diagonal always among them, as the gate's density:rho selection does);
//   decode : one query token per sequence at depth L, per-KV-head selection of budget/64 blocks
//            (+ sink and current block), GQA group in one tile.
// Reports the median and min/max over --reps runs, executed GFLOP/s (visited blocks) and
// dense-equivalent GFLOP/s (decode: GB/s of K/V read).
// Usage: bench_attention [--len 8192] [--heads 9,3] [--head-dim 64] [--densities 1,0.5,0.2,0.1]
//                        [--budgets 0,2048,1024,512] [-t THREADS] [--reps 5]
#include <seer/attention.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_args.h"
#include "core/thread_pool.h"
#include "core/timer.h"
#include "kernels/cpu/attention.h"

namespace {

struct Stat {
  double median, lo, hi;
};
Stat stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {seer::bench::median(v), v.front(), v.back()};
}

// Per-row Top-k style random selection: k blocks per row incl. the diagonal.
seer::BlockSelection prefill_selection(int heads, int nb, double density, std::mt19937& rng) {
  seer::BlockSelection sel;
  sel.set_dense(heads, false, 0, nb, 64);
  if (density >= 1.0) return sel;
  const int k = std::max(1, int((1.0 - std::sqrt(1.0 - density)) * nb));
  sel.offsets.assign(1, 0);
  sel.indices.clear();
  std::vector<int> cand;
  for (int h = 0; h < heads; ++h)
    for (int qb = 0; qb < nb; ++qb) {
      cand.clear();
      for (int j = 0; j < qb; ++j) cand.push_back(j);
      std::shuffle(cand.begin(), cand.end(), rng);
      cand.resize(size_t(std::min<int>(k - 1, int(cand.size()))));
      cand.push_back(qb);
      std::sort(cand.begin(), cand.end());
      sel.indices.insert(sel.indices.end(), cand.begin(), cand.end());
      sel.offsets.push_back(int32_t(sel.indices.size()));
    }
  return sel;
}

seer::BlockSelection decode_selection(int kv_heads, int nb, int budget, std::mt19937& rng) {
  seer::BlockSelection sel;
  sel.set_dense(kv_heads, true, nb - 1, 1, 64);
  if (budget <= 0) return sel;
  sel.offsets.assign(1, 0);
  sel.indices.clear();
  std::vector<int> cand;
  for (int h = 0; h < kv_heads; ++h) {
    cand.clear();
    for (int j = 1; j < nb - 1; ++j) cand.push_back(j);
    std::shuffle(cand.begin(), cand.end(), rng);
    cand.resize(size_t(std::min<int>(budget / 64, int(cand.size()))));
    cand.push_back(0);
    if (nb > 1) cand.push_back(nb - 1);  // (with one block the sink is the current block)
    std::sort(cand.begin(), cand.end());
    sel.indices.insert(sel.indices.end(), cand.begin(), cand.end());
    sel.offsets.push_back(int32_t(sel.indices.size()));
  }
  return sel;
}

}  // namespace

int main(int argc, char** argv) {
  int len = 8192, hq = 9, hkv = 3, d = 64, threads = 0, reps = 5;
  std::vector<double> densities = {1.0, 0.5, 0.2, 0.1}, budgets = {0, 2048, 1024, 512};
  for (int i = 1; i < argc; ++i) {
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_attention: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    using seer::bench::number, seer::bench::numbers;
    const char* prog = "bench_attention";
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      std::printf("usage: bench_attention [--len 8192] [--heads 9,3] [--head-dim 64] [--densities 1,0.5,0.2,0.1]\n"
                  "                       [--budgets 0,2048,1024,512] [-t THREADS] [--reps 5]\n");
      return 0;
    }
    if (!std::strcmp(argv[i], "--len")) len = int(number(prog, "--len", next(), 1, 1 << 20, true));
    else if (!std::strcmp(argv[i], "--heads")) {
      auto v = numbers(prog, "--heads", next(), 1, 1024, true, false);
      if (v.size() != 2 || int(v[0]) % int(v[1]) != 0)
        seer::bench::usage_error(prog, "--heads: expects QUERY,KV with QUERY a multiple of KV");
      hq = int(v[0]), hkv = int(v[1]);
    } else if (!std::strcmp(argv[i], "--head-dim")) d = int(number(prog, "--head-dim", next(), 2, 1024, true));
    else if (!std::strcmp(argv[i], "--densities")) densities = numbers(prog, "--densities", next(), 1e-6, 1.0, false);
    else if (!std::strcmp(argv[i], "--budgets")) budgets = numbers(prog, "--budgets", next(), 0, 1 << 30, true);
    else if (!std::strcmp(argv[i], "-t")) threads = seer::bench::threads(prog, next());
    else if (!std::strcmp(argv[i], "--reps")) reps = int(number(prog, "--reps", next(), 1, 1000, true));
    else {
      std::fprintf(stderr, "bench_attention: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  seer::ThreadPool pool(threads);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> q(size_t(len) * hq * d), k(size_t(hkv) * len * d), v(k.size()), out(q.size());
  for (auto* buf : {&q, &k, &v})
    for (auto& x : *buf) x = u(rng);
  const int nb = (len + 63) / 64;
  std::printf("# attention, L=%d, heads %d/%d, head_dim %d, block 64, %d threads\n", len, hq, hkv, d, pool.size());
  std::printf("| test | density | ms (median) | min | max | speedup vs dense | GFLOP/s executed | GFLOP/s dense-equiv |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  const double dense_flops = 4.0 * hq * d * (double(len) * (len + 1) / 2.0);
  double dense_ms = 0;
  for (double rho : densities) {
    auto sel = prefill_selection(hq, nb, rho, rng);
    seer::AttentionParams p;
    p.q = q.data(), p.k_cache = k.data(), p.v_cache = v.data(), p.out = out.data();
    p.qo_len = p.kv_len = p.max_context = len;
    p.num_qo_heads = hq, p.num_kv_heads = hkv, p.head_dim = d, p.scale = 1.0f / std::sqrt(float(d));
    std::vector<double> ms;
    for (int r = 0; r <= reps; ++r) {
      const double t0 = seer::now_seconds();
      seer::attention(p, sel, pool);
      if (r > 0) ms.push_back(1e3 * (seer::now_seconds() - t0));
    }
    const double visited = double(sel.num_selected()) / (double(hq) * nb * (nb + 1) / 2.0);
    Stat st = stats(ms);
    if (rho >= 1.0) dense_ms = st.median;
    std::printf("| prefill | %.3f | %.2f | %.2f | %.2f | %.2fx | %.1f | %.1f |\n", visited, st.median, st.lo, st.hi,
                dense_ms > 0 ? dense_ms / st.median : 0.0, dense_flops * visited / st.median / 1e6,
                dense_flops / st.median / 1e6);
    std::fflush(stdout);
  }
  std::printf("\n| test | budget | blocks/head | us (median) | min | max | speedup vs dense | GB/s K+V |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  double dense_us = 0;
  std::vector<float> q1(size_t(hq) * d), out1(q1.size());
  for (auto& x : q1) x = u(rng);
  for (double b : budgets) {
    auto sel = decode_selection(hkv, nb, int(b), rng);
    seer::AttentionParams p;
    p.q = q1.data(), p.k_cache = k.data(), p.v_cache = v.data(), p.out = out1.data();
    p.qo_len = 1, p.kv_len = p.max_context = len;
    p.num_qo_heads = hq, p.num_kv_heads = hkv, p.head_dim = d, p.scale = 1.0f / std::sqrt(float(d));
    std::vector<double> us;
    for (int r = 0; r <= reps * 20; ++r) {
      const double t0 = seer::now_seconds();
      seer::attention(p, sel, pool);
      if (r > 0) us.push_back(1e6 * (seer::now_seconds() - t0));
    }
    Stat st = stats(us);
    if (b <= 0) dense_us = st.median;
    const double blocks = double(sel.num_selected()) / hkv;
    const double bytes = 2.0 * sel.num_selected() * 64 * d * sizeof(float);
    std::printf("| decode | %s | %.0f | %.1f | %.1f | %.1f | %.2fx | %.1f |\n",
                b <= 0 ? "dense" : std::to_string(int(b)).c_str(), blocks, st.median, st.lo, st.hi,
                dense_us > 0 ? dense_us / st.median : 0.0, bytes / st.median / 1e3);
    std::fflush(stdout);
  }
  return 0;
}
