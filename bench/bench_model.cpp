// Whole-model CPU benchmark in the manner of llama-bench:
//   pp N      : prompt processing, N tokens from an empty cache, tokens/s
//   tg D      : generation at context depth D: decode steps after a D-token prefill, tokens/s
// Warm-up once, then the median (and min/max) over --reps repetitions. Random token ids.
// Usage: bench_model [-m MODEL] [-t THREADS] [--pp 512,2048,8192] [--tg 512,8192] [--tg-tokens 32] [--reps 3]
#include <seer/engine.h>
#include <seer/model.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/timer.h"

namespace {

std::vector<int> parse_list(const char* s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoi(item));
  return v;
}

struct Stat {
  double median, lo, hi;
};
Stat stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = seer::default_model_path();
  int threads = 0, reps = 3, tg_tokens = 32;
  std::vector<int> pp = {512, 2048, 8192}, tg = {512, 8192};
  for (int i = 1; i < argc; ++i) {
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_model: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "-m")) model_path = next();
    else if (!std::strcmp(argv[i], "-t")) threads = std::atoi(next());
    else if (!std::strcmp(argv[i], "--pp")) pp = parse_list(next());
    else if (!std::strcmp(argv[i], "--tg")) tg = parse_list(next());
    else if (!std::strcmp(argv[i], "--tg-tokens")) tg_tokens = std::atoi(next());
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(next());
    else {
      std::fprintf(stderr, "bench_model: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  auto model = seer::load_model(model_path);
  if (!model) {
    std::fprintf(stderr, "bench_model: %s\n", model.status().message().c_str());
    return 1;
  }
  int max_ctx = 0;
  for (int n : pp) max_ctx = std::max(max_ctx, n);
  for (int n : tg) max_ctx = std::max(max_ctx, n + tg_tokens);
  seer::SessionOptions so;
  so.num_threads = threads;
  so.max_context = max_ctx;
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

  std::printf("| model | test | t/s (median) | min | max |\n|---|---|---|---|---|\n");
  for (int n : pp) {
    std::vector<double> tps;
    for (int r = 0; r <= reps; ++r) {
      auto toks = random_tokens(n);
      s.reset();
      const double t0 = seer::now_seconds();
      auto out = s.forward(toks, seer::Logits::kLast);
      const double dt = seer::now_seconds() - t0;
      if (!out) {
        std::fprintf(stderr, "bench_model: %s\n", out.status().message().c_str());
        return 1;
      }
      if (r > 0) tps.push_back(n / dt);  // r == 0 is the warm-up
    }
    Stat st = stats(tps);
    std::printf("| %s | pp%d | %.1f | %.1f | %.1f |\n", model->name.c_str(), n, st.median, st.lo, st.hi);
    std::fflush(stdout);
  }
  for (int depth : tg) {
    std::vector<double> tps;
    for (int r = 0; r <= reps; ++r) {
      s.reset();
      if (!s.forward(random_tokens(depth), seer::Logits::kNone)) return 1;
      auto toks = random_tokens(tg_tokens);
      const double t0 = seer::now_seconds();
      for (int i = 0; i < tg_tokens; ++i) {
        const int one[1] = {toks[size_t(i)]};
        if (!s.forward(one, seer::Logits::kLast)) return 1;
      }
      const double dt = seer::now_seconds() - t0;
      if (r > 0) tps.push_back(tg_tokens / dt);
    }
    Stat st = stats(tps);
    std::printf("| %s | tg%d @ d%d | %.1f | %.1f | %.1f |\n", model->name.c_str(), tg_tokens, depth, st.median,
                st.lo, st.hi);
    std::fflush(stdout);
  }
  return 0;
}
