// End-to-end GPU benchmark of the whole model (src/model/cuda_forward.h), random bf16 weights of
// real model shapes (speed does not depend on the weight values):
//   prefill N : N tokens from an empty cache, last-token logits, tokens/s
//   decode @D : single-token steps after a D-token prefill, logits to the host each step, tokens/s
// dense, block-sparse at a fixed density (sink + own block + random others, one selection per
// forward shared by every layer: CudaForward::set_fixed_density), and with the learned gates on
// the GPU (fresh gates of the released architecture, seer::init_gates: prefill density:ρ per query
// head, decode budget ρ·depth tokens per KV head; every layer scores and selects its own blocks, so
// the gates' whole cost is in the figure; the decode gate's query folded into the model's Q product,
// PolicyOptions::gate_fold_query, and in a second decode row not). Median of --reps after a warm-up.
// Usage: bench_cuda_model [--model smollm2|llama8b|all] [--density 0.1] [--reps 3] [--quick]
//   --quick: prefill 8k only and decode at 8k (for a fast check)
#include <seer/gates.h>
#include <seer/model.h>
#include <seer/policies.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/cuda_forward.h"

namespace {

using namespace seer;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

ModelConfig smollm2() {
  ModelConfig c;
  c.vocab_size = 49152;
  c.hidden_size = 576;
  c.intermediate_size = 1536;
  c.num_layers = 30;
  c.num_qo_heads = 9;
  c.num_kv_heads = 3;
  c.head_dim = 64;
  c.max_position = 8192;
  c.rope_theta = 100000.0f;
  c.tied_embeddings = true;
  return c;
}

ModelConfig llama8b() {
  ModelConfig c;
  c.vocab_size = 128256;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_layers = 32;
  c.num_qo_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.max_position = 131072;
  c.rope_theta = 500000.0f;
  c.rope_scaling.type = RopeScalingType::kLlama3;
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.original_max_position = 8192;
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::vector<int> random_tokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> t(static_cast<size_t>(n));
  for (int& x : t) x = int(rng() % uint64_t(vocab));
  return t;
}

bool check(const Status& s) {
  if (!s.is_ok()) std::fprintf(stderr, "bench_cuda_model: %s\n", s.message().c_str());
  return s.is_ok();
}

// Hands fresh gates to the GPU session (AttentionPolicy::device_gates); never selects on the host.
class GatePolicy : public AttentionPolicy {
 public:
  // fold_query: PolicyOptions::gate_fold_query (the decode gate's query from the model's Q product).
  GatePolicy(const ModelConfig& cfg, double density, int budget, bool fold_query = true)
      : pre_(fresh(GateKind::kPrefill, cfg, 11)), dec_(fresh(GateKind::kDecode, cfg, 12)) {
    spec_.options.gate_fold_query = fold_query;
    spec_.prefill = &pre_;
    spec_.decode = &dec_;
    spec_.options.prefill.kind = PrefillSparsity::Kind::kDensity;
    spec_.options.prefill.value = density;
    spec_.options.decode.kind = DecodeSparsity::Kind::kBudget;
    spec_.options.decode.value = budget;
  }
  const char* name() const override { return "gate"; }
  Status select(const AttentionContext&, BlockSelection*) override {
    return Status::error("bench GatePolicy: select() runs on the GPU");
  }
  const DeviceGateSpec* device_gates() const override { return &spec_; }

 private:
  static GateSet fresh(GateKind kind, const ModelConfig& cfg, uint64_t seed) {
    auto g = init_gates(kind, cfg, GateOptions{}, seed);
    if (!check(g.status())) std::exit(1);
    return std::move(g).value();
  }
  GateSet pre_, dec_;
  DeviceGateSpec spec_;
};

// tokens/s of a prefill of n tokens (last-token logits), median over reps.
double bench_prefill(CudaForward& f, int n, int vocab, int reps, AttentionPolicy* policy = nullptr) {
  std::vector<double> tps;
  std::vector<float> logits;
  const auto toks = random_tokens(n, vocab, 1);
  for (int r = 0; r <= reps; ++r) {
    const double t0 = now();
    if (!check(f.forward(toks, 0, Logits::kLast, policy, nullptr, &logits))) return 0.0;
    if (r > 0) tps.push_back(n / (now() - t0));
  }
  return median(tps);
}

// tokens/s of `steps` decode steps after a depth-token prefill, median over reps.
double bench_decode(CudaForward& f, int depth, int steps, int vocab, int reps, AttentionPolicy* policy = nullptr) {
  std::vector<double> tps;
  std::vector<float> logits;
  const auto toks = random_tokens(depth + steps, vocab, 2);
  for (int r = 0; r <= reps; ++r) {
    if (!check(f.forward(std::span<const int>(toks.data(), size_t(depth)), 0, Logits::kNone, policy, nullptr, &logits)))
      return 0.0;
    const double t0 = now();
    for (int i = 0; i < steps; ++i)
      if (!check(f.forward(std::span<const int>(toks.data() + depth + i, 1), depth + i, Logits::kLast, policy, nullptr,
                           &logits)))
        return 0.0;
    if (r > 0) tps.push_back(steps / (now() - t0));
  }
  return median(tps);
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "all";
  double density = 0.1;
  int reps = 3;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_cuda_model: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--model")) which = next();
    else if (!std::strcmp(argv[i], "--density")) density = std::atof(next());
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(next());
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else {
      std::fprintf(stderr, "bench_cuda_model: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (!check(CudaForward::available())) return 1;
  const std::vector<int> prefill_lens = quick ? std::vector<int>{8192} : std::vector<int>{8192, 32768};
  const int decode_depth = quick ? 8192 : 32768, decode_steps = 32;
  std::printf("| model | test | dense tok/s | density %.2f tok/s | speed-up | gates tok/s | speed-up |\n"
              "|---|---|---:|---:|---:|---:|---:|\n", density);
  for (const auto& [name, cfg] : {std::pair{std::string("SmolLM2-135M shapes"), smollm2()},
                                  std::pair{std::string("Llama-3.1-8B shapes"), llama8b()}}) {
    if (which != "all" && !((which == "smollm2" && name[0] == 'S') || (which == "llama8b" && name[0] == 'L'))) continue;
    auto f = CudaForward::create_random(cfg, 32768 + 64, 1);
    if (!f.is_ok()) return check(f.status()) ? 0 : 1;
    std::fprintf(stderr, "# %s: weights %.2f GiB, KV cache %.2f GiB\n", name.c_str(),
                 double((*f)->weight_bytes()) / (1u << 30), double((*f)->cache_bytes()) / (1u << 30));
    GatePolicy gates(cfg, density, int(density * decode_depth));
    for (int n : prefill_lens) {
      (*f)->set_fixed_density(1.0, 0);
      const double dense = bench_prefill(**f, n, cfg.vocab_size, reps);
      const double gated = bench_prefill(**f, n, cfg.vocab_size, reps, &gates);
      (*f)->set_fixed_density(density, 7);
      const double sparse = bench_prefill(**f, n, cfg.vocab_size, reps);
      std::printf("| %s | prefill %d | %.0f | %.0f | %.2fx | %.0f | %.2fx |\n", name.c_str(), n, dense, sparse,
                  sparse / dense, gated, gated / dense);
      std::fflush(stdout);
    }
    (*f)->set_fixed_density(1.0, 0);
    const double dense = bench_decode(**f, decode_depth, decode_steps, cfg.vocab_size, reps);
    const double gated = bench_decode(**f, decode_depth, decode_steps, cfg.vocab_size, reps, &gates);
    (*f)->set_fixed_density(density, 7);
    const double sparse = bench_decode(**f, decode_depth, decode_steps, cfg.vocab_size, reps);
    std::printf("| %s | decode @ %d | %.1f | %.1f | %.2fx | %.1f | %.2fx |\n", name.c_str(), decode_depth, dense,
                sparse, sparse / dense, gated, gated / dense);
    std::fflush(stdout);
    // The same gates with the step projecting q itself (PolicyOptions::gate_fold_query off), where the
    // session folded it (small models: CudaForward::gate_query_folded).
    if ((*f)->gate_query_folded()) {
      GatePolicy unfolded(cfg, density, int(density * decode_depth), false);
      const double gated_unfolded = bench_decode(**f, decode_depth, decode_steps, cfg.vocab_size, reps, &unfolded);
      std::printf("| %s | decode @ %d, gate query not folded | %.1f | - | - | %.1f | %.2fx |\n", name.c_str(),
                  decode_depth, dense, gated_unfolded, gated_unfolded / dense);
      std::fflush(stdout);
    }
    std::fprintf(stderr, "# %s: %lld one-token forwards ran as CUDA graphs (SEER_CUDA_GRAPHS=0: none)\n",
                 name.c_str(), static_cast<long long>((*f)->graph_replays()));
  }
  return 0;
}
