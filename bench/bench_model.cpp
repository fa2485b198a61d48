// Whole-model CPU benchmark in the manner of llama-bench:
//   pp N      : prompt processing, N tokens from an empty cache, tokens/s
//   tg D      : generation at context depth D: decode steps after a D-token prefill, tokens/s
// Warm-up once, then the median (and min/max) over --reps repetitions. Random token ids.
// Usage: bench_model [-m MODEL] [-t THREADS] [--pp 512,2048,8192] [--tg 512,8192] [--tg-tokens 32] [--reps 3]
//                    [--jsonl FILE]   (one line per test: test, depth, tps_mean, tps_std, tps_median, tps_best)
//                    [--policy NAME] [--gates DIR] [--prefill-sparsity S] [--decode-sparsity S] [--f32-matmul]
//                    [--uniform-budget]   (budget:N N tokens a head, density:RHO one k, though the gates have budget shares)
// --f32-matmul: Q4/Q8 weights times f32 activations (SessionOptions::int8_matmul false) instead of int8 ones.
// With a policy, the time it spends choosing blocks (gate scores + selection) is reported beside the
// forward time (median over repetitions).
#include <seer/engine.h>
#include <seer/model.h>
#include <seer/policies.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "bench_args.h"
#include "core/blas_kernels.h"
#include "core/timer.h"

namespace {

std::vector<int> token_counts(const char* flag, const char* s) {  // positive, and a context seer can hold
  std::vector<int> v;
  for (double x : seer::bench::numbers("bench_model", flag, s, 1, 1 << 24, true)) v.push_back(int(x));
  return v;
}

struct Stat {
  double median, lo, hi, mean, sd;
};
Stat stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double mean = 0, sd = 0;
  for (double x : v) mean += x / double(v.size());
  for (double x : v) sd += (x - mean) * (x - mean) / double(std::max<size_t>(1, v.size() - 1));
  return {seer::bench::median(v), v.front(), v.back(), mean, std::sqrt(sd)};
}

void write_jsonl(FILE* f, const char* test, int depth, const Stat& st) {
  if (!f) return;
  std::fprintf(f, "{\"test\": \"%s\", \"depth\": %d, \"tps_mean\": %.3f, \"tps_std\": %.3f, \"tps_median\": %.3f, \"tps_best\": %.3f}\n",
               test, depth, st.mean, st.sd, st.median, st.hi);
  std::fflush(f);
}

}  // namespace

int main(int argc, char** argv) {
  seer::rerun_with_matching_blas_kernels(argv);
  std::string model_path = seer::default_model_path();
  int threads = 0, reps = 3, tg_tokens = 32;
  bool f32_matmul = false, uniform_budget = false;
  FILE* jsonl = nullptr;
  std::string policy_name, gates_dir, prefill_sp = "dense", decode_sp = "dense";
  std::vector<int> pp = {512, 2048, 8192}, tg = {512, 8192};
  for (int i = 1; i < argc; ++i) {
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_model: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    using seer::bench::number;
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      std::printf("usage: bench_model [-m MODEL] [-t THREADS] [--pp N,...] [--tg DEPTH,...] [--tg-tokens N] [--reps N]\n"
                  "                   [--f32-matmul] [--policy P --gates DIR --prefill-sparsity S --decode-sparsity S\n"
                  "                   [--uniform-budget]] [--jsonl FILE]\n"
                  "prompt processing of --pp tokens, and --tg-tokens generated after a context of each --tg depth;\n"
                  "tokens/s, the median, min and max over --reps runs\n");
      return 0;
    }
    if (!std::strcmp(argv[i], "-m")) model_path = next();
    else if (!std::strcmp(argv[i], "-t")) threads = seer::bench::threads("bench_model", next());
    else if (!std::strcmp(argv[i], "--pp")) pp = token_counts("--pp", next());
    else if (!std::strcmp(argv[i], "--tg")) tg = token_counts("--tg", next());
    else if (!std::strcmp(argv[i], "--tg-tokens")) tg_tokens = int(number("bench_model", "--tg-tokens", next(), 1, 1 << 20, true));
    else if (!std::strcmp(argv[i], "--reps")) reps = int(number("bench_model", "--reps", next(), 1, 1000, true));
    else if (!std::strcmp(argv[i], "--f32-matmul")) f32_matmul = true;
    else if (!std::strcmp(argv[i], "--uniform-budget")) uniform_budget = true;
    else if (!std::strcmp(argv[i], "--policy")) policy_name = next();
    else if (!std::strcmp(argv[i], "--gates")) gates_dir = next();
    else if (!std::strcmp(argv[i], "--prefill-sparsity")) prefill_sp = next();
    else if (!std::strcmp(argv[i], "--decode-sparsity")) decode_sp = next();
    else if (!std::strcmp(argv[i], "--jsonl")) {
      const char* path = next();
      jsonl = std::fopen(path, "w");
      if (!jsonl) {
        std::fprintf(stderr, "bench_model: cannot write %s\n", path);
        return 2;
      }
    }
    else {
      std::fprintf(stderr, "bench_model: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (policy_name.empty() && (!gates_dir.empty() || uniform_budget || prefill_sp != "dense" || decode_sp != "dense"))
    seer::bench::usage_error("bench_model", "--gates, --uniform-budget and the sparsity rules need --policy P");
  auto model = seer::load_model(model_path);
  if (!model) {
    std::fprintf(stderr, "bench_model: %s\n", model.status().message().c_str());
    return 1;
  }
  int max_ctx = 0;
  for (int n : pp) max_ctx = std::max(max_ctx, n);
  for (int n : tg) max_ctx = std::max(max_ctx, n + tg_tokens);
  std::shared_ptr<seer::ScoredPolicy> policy;
  if (!policy_name.empty()) {
    seer::GateBundle gates;
    if (!gates_dir.empty()) {
      auto g = seer::load_gate_bundle(gates_dir, model->config);
      if (!g) {
        std::fprintf(stderr, "bench_model: %s\n", g.status().message().c_str());
        return 1;
      }
      gates = *g;
    }
    seer::PolicyOptions po;
    auto pre = seer::PrefillSparsity::parse(prefill_sp);
    auto dec = seer::DecodeSparsity::parse(decode_sp);
    if (!pre || !dec) {
      std::fprintf(stderr, "bench_model: %s\n", (!pre ? pre.status() : dec.status()).message().c_str());
      return 2;
    }
    po.prefill = *pre;
    po.decode = *dec;
    po.block_size = gates.block_size() > 0 ? gates.block_size() : 64;
    po.uniform_budget = uniform_budget;
    auto p = seer::make_policy(policy_name, po, model->config, gates);
    if (!p) {
      std::fprintf(stderr, "bench_model: %s\n", p.status().message().c_str());
      return 1;
    }
    policy = *p;
    std::printf("# policy %s, prefill %s%s, decode %s%s\n", policy_name.c_str(), prefill_sp.c_str(),
                policy->options().prefill_budget_shares.empty() ? "" : " (Top-K split by the gates' shares)",
                decode_sp.c_str(),
                policy->options().decode_budget_shares.empty() ? "" : ", budget split by the gates' shares");
  }
  seer::SessionOptions so;
  so.num_threads = threads;
  so.max_context = max_ctx;
  so.policy = policy;
  so.int8_matmul = !f32_matmul;
  auto session = seer::Session::create(*model, so);
  if (!session) {
    std::fprintf(stderr, "bench_model: %s\n", session.status().message().c_str());
    return 1;
  }
  seer::Session& s = **session;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> tok(100, model->config.vocab_size - 1);
  auto random_tokens = [&](int n) {
    std::vector<int> v(static_cast<size_t>(n));
    for (auto& t : v) t = tok(rng);
    return v;
  };

  std::printf("# matmuls with Q4/Q8 weights: %s activations\n", f32_matmul ? "f32" : "int8");
  std::printf("| model | test | t/s (median) | min | max |\n|---|---|---|---|---|\n");
  for (int n : pp) {
    std::vector<double> tps, pol_s, fwd_s, score_s;
    for (int r = 0; r <= reps; ++r) {
      auto toks = random_tokens(n);
      s.reset();
      if (policy) policy->reset_stats();
      const double t0 = seer::now_seconds();
      auto out = s.forward(toks, seer::Logits::kLast);
      const double dt = seer::now_seconds() - t0;
      if (!out) {
        std::fprintf(stderr, "bench_model: %s\n", out.status().message().c_str());
        return 1;
      }
      if (r > 0) {  // r == 0 is the warm-up
        tps.push_back(n / dt);
        fwd_s.push_back(dt);
        if (policy) pol_s.push_back(policy->select_seconds(false)), score_s.push_back(policy->score_seconds(false));
      }
    }
    Stat st = stats(tps);
    if (policy)
      std::printf("#   pp%d: block selection %.1f ms (policy scoring %.1f ms) of %.1f ms forward (%.1f%%), "
                  "prefill density %.4f\n", n, 1e3 * stats(pol_s).median, 1e3 * stats(score_s).median,
                  1e3 * stats(fwd_s).median, 100.0 * stats(pol_s).median / stats(fwd_s).median,
                  policy->stats().prefill_total().density());
    std::printf("| %s | pp%d | %.1f | %.1f | %.1f |\n", model->name.c_str(), n, st.median, st.lo, st.hi);
    write_jsonl(jsonl, ("pp" + std::to_string(n)).c_str(), 0, st);
    std::fflush(stdout);
  }
  for (int depth : tg) {
    std::vector<double> tps, pol_s, fwd_s, score_s, attn_s;
    for (int r = 0; r <= reps; ++r) {
      s.reset();
      if (!s.forward(random_tokens(depth), seer::Logits::kNone)) return 1;
      if (policy) policy->reset_stats();
      s.reset_attention_seconds();
      auto toks = random_tokens(tg_tokens);
      const double t0 = seer::now_seconds();
      for (int i = 0; i < tg_tokens; ++i) {
        const int one[1] = {toks[size_t(i)]};
        if (!s.forward(one, seer::Logits::kLast)) return 1;
      }
      const double dt = seer::now_seconds() - t0;
      if (r > 0) {
        tps.push_back(tg_tokens / dt);
        fwd_s.push_back(dt);
        if (policy) pol_s.push_back(policy->select_seconds(true)), score_s.push_back(policy->score_seconds(true));
        attn_s.push_back(s.attention_seconds());
      }
    }
    Stat st = stats(tps);
    if (policy)
      std::printf("#   tg@%d: block selection %.2f ms (policy scoring %.2f ms) of %.1f ms (%.1f%%), decode density "
                  "%.4f; per token and layer: selection %.1f us, scoring %.1f us, attention %.1f us\n", depth,
                  1e3 * stats(pol_s).median, 1e3 * stats(score_s).median, 1e3 * stats(fwd_s).median,
                  100.0 * stats(pol_s).median / stats(fwd_s).median, policy->stats().decode_total().density(),
                  1e6 * stats(pol_s).median / tg_tokens / model->config.num_layers,
                  1e6 * stats(score_s).median / tg_tokens / model->config.num_layers,
                  1e6 * stats(attn_s).median / tg_tokens / model->config.num_layers);
    else
      std::printf("#   tg@%d: attention %.1f ms of %.1f ms (%.1f%%), %.1f us per token and layer\n", depth,
                  1e3 * stats(attn_s).median, 1e3 * stats(fwd_s).median,
                  100.0 * stats(attn_s).median / stats(fwd_s).median,
                  1e6 * stats(attn_s).median / tg_tokens / model->config.num_layers);
    std::printf("| %s | tg%d @ d%d | %.1f | %.1f | %.1f |\n", model->name.c_str(), tg_tokens, depth, st.median,
                st.lo, st.hi);
    write_jsonl(jsonl, ("tg" + std::to_string(tg_tokens)).c_str(), depth, st);
    std::fflush(stdout);
  }
  if (jsonl) std::fclose(jsonl);
  return 0;
}
