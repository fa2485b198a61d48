// The `seer` command line: generate, ppl, info, init-gates, train-gates, calibrate-budget.
// Conventions: `--help` on every subcommand; an unknown flag or a bad value exits with code 2 and a
// message; a runtime failure (missing model, corrupt file) exits with code 1.
#include <seer/engine.h>
#include <seer/gates.h>
#include <seer/generate.h>
#include <seer/model.h>
#include <seer/perplexity.h>
#include <seer/policies.h>
#include <seer/tokenizer.h>
#include <seer/train.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include <unistd.h>

#include "core/blas_kernels.h"
#include "core/timer.h"

namespace {

using seer::Status;

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

// Number checks whose messages say what is wrong ("--steps: must be positive, got 0"); CLI11's own
// PositiveNumber names a range up to 1.8e308, and its Range passes NaN. One rule: a decimal number, finite,
// in [lo, hi] (above lo with lo_open), a whole number that fits int64 with whole; `hint` goes with the
// message. Decimal only: CLI11 reads integers with base 0, so 010 would be 8 and 0x10 16, while this
// check reads them as 10 and refuses a prefix it would not see.
CLI::Validator number_check(double lo, double hi, bool lo_open = false, bool whole = false, std::string hint = "") {
  const bool unbounded = std::isinf(hi);
  const std::string range = lo_open && unbounded ? "must be positive"
                            : unbounded         ? "must be >= " + CLI::detail::to_string(lo)
                                                : std::string("must be in ") + (lo_open ? "(" : "[") + CLI::detail::to_string(lo) +
                                                      ", " + CLI::detail::to_string(hi) + "]";
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size()) return "expects a number, got '" + s + "'";
        if (!std::isfinite(v)) return "expects a finite number, got " + s;
        const size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0;
        if (s.find_first_of("xX") != std::string::npos || (s.size() > i + 1 && s[i] == '0' && std::isdigit(static_cast<unsigned char>(s[i + 1]))))
          return "expects a decimal number without a leading 0 or 0x, got " + s;
        if (whole && v != std::floor(v)) return "expects a whole number, got " + s;
        if (whole) {  // (strtoll alone reads "1e19" as 1)
          errno = 0;
          (void)std::strtoll(s.c_str(), nullptr, 10);
          if (errno == ERANGE || std::fabs(v) >= 9.2e18) return "out of range (64-bit), got " + s;
        }
        if (lo_open ? !(v > lo) : v < lo) return range + hint + ", got " + s;
        if (v > hi) return range + hint + ", got " + s;
        return "";
      },
      unbounded ? (lo_open ? "POSITIVE" : "NONNEGATIVE")
                : std::string(lo_open ? "(" : "[") + CLI::detail::to_string(lo) + " - " + CLI::detail::to_string(hi) + "]");
}
constexpr double kInf = std::numeric_limits<double>::infinity();
const CLI::Validator kPositive = number_check(0.0, kInf, /*lo_open=*/true);
const CLI::Validator kNonNegative = number_check(0.0, kInf);
const CLI::Validator kCount = number_check(0.0, kInf, false, /*whole=*/true);             // counts, seeds: 0, 1, 2, ...
const CLI::Validator kPositiveCount = number_check(0.0, kInf, /*lo_open=*/true, /*whole=*/true);
const CLI::Validator kNonEmpty(
    [](std::string& s) { return s.empty() ? std::string("expects a path, got an empty string") : std::string(); }, "");
// Threads: 0 is every core; more than 4 per core only oversubscribes the spin-then-sleep pool (a
// thousand threads on two cores turned a two-token generate into minutes).
const int kCores = int(std::max(1u, std::thread::hardware_concurrency()));
const CLI::Validator kThreads = number_check(0.0, 4.0 * kCores, false, /*whole=*/true,
                                             " (0: all cores; at most 4 per core of this machine's " +
                                                 std::to_string(kCores) + ")");

struct CommonOpts {
  std::string model;
  int threads = 0;
  int ctx = 0;
  std::string device = "cpu";
  bool f32_matmul = false;
  seer::Device dev() const { return device == "cuda" ? seer::Device::kCuda : seer::Device::kCpu; }
};

void add_common(CLI::App* app, CommonOpts* c, bool with_device = false) {
  app->add_option("-m,--model", c->model,
                  "GGUF file or Hugging Face directory (default: the cached SmolLM2-135M-Instruct)")
      ->check(kNonEmpty);
  app->add_option("-t,--threads", c->threads, "threads (default, or 0: all cores)")->check(kThreads);
  if (with_device)
    app->add_option("--device", c->device,
                  "cpu (default) or cuda: the whole model on the GPU in bf16 (builds with -DSEER_CUDA=ON; every policy, "
                  "quest reading a host copy of the K cache, the oracles the GPU's own block statistics)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  if (with_device)
    app->add_flag("--f32-matmul", c->f32_matmul,
                  "CPU: multiply Q4/Q8 weights with f32 activations (dequantised weights, sgemm) instead of int8 ones "
                  "as llama.cpp does: the reference's numerics (perplexity -0.3-0.4% on SmolLM2), slower");
}

// The session options every command shares; --f32-matmul is for the CPU path (the GPU computes in bf16).
seer::Result<seer::SessionOptions> session_options(const CommonOpts& c, int ctx,
                                                 std::shared_ptr<seer::AttentionPolicy> policy) {
  if (c.f32_matmul && c.dev() == seer::Device::kCuda)
    return Status::error("--f32-matmul is for the CPU; --device cuda computes in bf16");
  seer::SessionOptions so;
  so.num_threads = c.threads;
  so.max_context = ctx;
  so.policy = std::move(policy);
  so.device = c.dev();
  so.int8_matmul = !c.f32_matmul;
  return so;
}

int fail(const Status& s) {
  std::fprintf(stderr, "seer: error: %s\n", s.message().c_str());
  return kExitRuntime;
}

int usage(const Status& s) {
  std::fprintf(stderr, "seer: %s\n", s.message().c_str());
  return kExitUsage;
}

void print_density(const seer::ScoredPolicy& p) {
  const auto pre = p.stats().prefill_total(), dec = p.stats().decode_total();
  const seer::PolicyOptions& o = p.options();
  const bool split_prefill = o.prefill.kind == seer::PrefillSparsity::Kind::kDensity && !o.prefill_budget_shares.empty();
  const bool split_decode = o.decode.kind == seer::DecodeSparsity::Kind::kBudget && !o.decode_budget_shares.empty();
  // A phase that selected nothing (a one-token prompt runs no prefill) has no density.
  const auto density = [](const seer::BlockCounts& c) { return c.dense > 0 ? fmt::format("{:.4f}", c.density()) : std::string("-"); };
  std::fprintf(stderr, "seer: density prefill %s (%lld of %lld blocks), decode %s (%lld of %lld blocks)%s\n",
               density(pre).c_str(), static_cast<long long>(pre.selected), static_cast<long long>(pre.dense),
               density(dec).c_str(), static_cast<long long>(dec.selected), static_cast<long long>(dec.dense),
               split_prefill && split_decode ? "; the prefill Top-K and the decode budget split over the heads by the gates' budget shares"
               : split_prefill             ? "; the prefill Top-K split over the query heads by the gates' budget shares"
               : split_decode              ? "; the decode budget split over the KV heads by the gates' budget shares"
                                           : "");
}

seer::Result<seer::Model> open_model(const CommonOpts& c) {
  std::string path = c.model;
  if (path.empty()) {
    path = seer::default_model_path();
    if (!std::filesystem::exists(path))
      return Status::error("no -m given and the default model is not at {}; run scripts/fetch-model.sh to fetch it",
                           path);
  }
  return seer::load_model(path);
}

// A context beyond the model's trained one runs, but RoPE positions past it are untrained.
void warn_context(const char* flag, int ctx, const seer::Model& model) {
  if (model.config.max_position > 0 && ctx > model.config.max_position)
    std::fprintf(stderr, "seer: warning: %s %d is above the model's trained context of %d tokens\n", flag, ctx,
                 model.config.max_position);
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Attention options shared by generate and ppl: which policy chooses the key blocks, how sparse.
struct AttnOpts {
  std::string policy;  // empty: "gate" when --gates is given, else "dense"
  std::string gates;
  std::string prefill = "dense";
  std::string decode = "dense";
  int block_size = 0;  // 0: the gates' block size, else 64
  int start_layer = 0;
  int64_t policy_seed = 0;
  bool gate_cache_int8 = true;
  const CLI::Option* gate_cache_flag = nullptr;  // --gate-cache-int8 / --gate-cache-bf16, to tell whether one was given
  bool gate_query_unfolded = false;
  bool gate_upstream_rope = false;
  bool uniform_budget = false;
  // given on the command line (those whose effect depends on the policy are refused where they have none)
  const CLI::Option* block_size_flag = nullptr;
  const CLI::Option* start_layer_flag = nullptr;
  const CLI::Option* policy_seed_flag = nullptr;
};

void add_attention(CLI::App* app, AttnOpts* a) {
  app->add_option("--policy", a->policy,
                  "block selection: dense, gate, oracle, oracle-mass, oracle-sum, oracle-mass-sum, quest, streaming, "
                  "random (default: gate with --gates, else dense; -mass: the oracle ranks blocks by probability mass, "
                  "-sum: decode pools a GQA group by its sum)");
  app->add_option("--gates", a->gates, "directory with trained AttnGates (config.json + safetensors)")->check(kNonEmpty);
  app->add_option("--prefill-sparsity", a->prefill, "dense | threshold:TAU | density:RHO | mass:P (default dense); block 0, the attention sink, is kept in "
                  "every row unless ',nosink' follows (density:0.2,nosink); ',lastdense' turns the last two query-block "
                  "rows fully on (SPEC's last_block_dense)");
  app->add_option("--decode-sparsity", a->decode, "dense | budget:TOKENS | threshold:TAU | mass:P (default dense)");
  a->block_size_flag = app->add_option("--block-size", a->block_size, "attention block size in tokens (default: the gates', else 64)")
      ->check(number_check(1, 1024, false, true));
  a->start_layer_flag = app->add_option("--start-layer", a->start_layer, "layers below this index stay dense (default 0)")
      ->check(kCount);
  a->policy_seed_flag = app->add_option("--policy-seed", a->policy_seed, "seed of the random policy (default 0)")
      ->check(kCount);
  a->gate_cache_flag = app->add_flag("--gate-cache-int8,!--gate-cache-bf16", a->gate_cache_int8,
                "gate policy: keep the decode gate's K-compression cache as int8 with one scale per block, the "
                "default (on the GPU each decode step's gate scores read half the bytes of bf16); "
                "--gate-cache-bf16 keeps bf16 entries");
  app->add_flag("--gate-query-unfolded", a->gate_query_unfolded,
                "gate policy, --device cuda: the decode gate projects the query in its own step, as the CPU does, "
                "instead of taking the projection folded into the model's Q product (the default for small models "
                "without q norm, such as SmolLM2; the query moves by bf16 roundings)");
  app->add_flag("--gate-upstream-rope", a->gate_upstream_rope,
                "gate policy: a decode step that completes a block rotates its compressed key at the block's last "
                "position, as upstream's decode step does (SPEC 2.3), instead of at its start as the prefill does");
  app->add_flag("--uniform-budget", a->uniform_budget,
                "gate policy: --decode-sparsity budget:N gives N tokens to every KV head and --prefill-sparsity "
                "density:RHO the same k to every query head, even when the gate has budget shares "
                "(budget_shares.json from seer calibrate-budget, which otherwise split the same total over the heads)");
}

// Builds the policy, or null for plain dense attention. Bad values are usage errors (exit 2).
struct PolicyOrError {
  std::shared_ptr<seer::ScoredPolicy> policy;
  Status status;
  bool usage_error = false;
};

PolicyOrError make_attention_policy(const AttnOpts& a, const seer::Model& model, int threads, seer::Device device) {
  PolicyOrError out;
  auto pre = seer::PrefillSparsity::parse(a.prefill);
  if (!pre) return {nullptr, pre.status(), true};
  auto dec = seer::DecodeSparsity::parse(a.decode);
  if (!dec) return {nullptr, dec.status(), true};
  std::string name = a.policy.empty() ? (a.gates.empty() ? "dense" : "gate") : a.policy;
  if (name == "dense" && (pre->kind != seer::PrefillSparsity::Kind::kDense || dec->kind != seer::DecodeSparsity::Kind::kDense))
    return {nullptr,
            Status::error("--{}-sparsity {}: dense attention selects no blocks; give --gates DIR or --policy P",
                          pre->kind != seer::PrefillSparsity::Kind::kDense ? "prefill" : "decode",
                          pre->kind != seer::PrefillSparsity::Kind::kDense ? a.prefill : a.decode),
            true};
  const auto given = [](const CLI::Option* o) { return o && o->count() > 0; };
  if (given(a.policy_seed_flag) && name != "random")
    return {nullptr, Status::error("--policy-seed seeds --policy random, and the policy is {}", name), true};
  for (const CLI::Option* o : {a.block_size_flag, a.start_layer_flag})
    if (given(o) && name == "dense")
      return {nullptr,
              Status::error("{} shapes a sparse policy, and attention is dense here; give --gates DIR or --policy P",
                            o->get_name()),
              true};
  if (a.start_layer >= model.config.num_layers)
    return {nullptr,
            Status::error("--start-layer {}: the model has {} layers (0 .. {})", a.start_layer, model.config.num_layers,
                          model.config.num_layers - 1),
            true};
  // The decode gate's own options need the gate policy with a decode gate: checked before the gates
  // load (none given) and after (none in them).
  const auto gate_flags = [&](bool have_decode_gate) -> Status {
    if (name == "gate" && have_decode_gate) {
      if (a.gate_query_unfolded && device != seer::Device::kCuda)
        return Status::error("--gate-query-unfolded is for --device cuda (the CPU always projects the query in the step)");
      return Status::ok();
    }
    for (const auto& [on, flag] : {std::pair{given(a.gate_cache_flag), a.gate_cache_int8 ? "--gate-cache-int8" : "--gate-cache-bf16"},
                                   std::pair{a.gate_upstream_rope, "--gate-upstream-rope"},
                                   std::pair{a.gate_query_unfolded, "--gate-query-unfolded"}})
      if (on) return Status::error("{} needs the gate policy with a decode gate (--gates DIR)", flag);
    return Status::ok();
  };
  if (a.gates.empty())
    if (Status st = gate_flags(false); !st.is_ok()) return {nullptr, st, true};
  if (name == "dense" && pre->kind == seer::PrefillSparsity::Kind::kDense && dec->kind == seer::DecodeSparsity::Kind::kDense &&
      a.gates.empty())
    return out;  // the engine's own dense path
  seer::GateBundle gates;
  if (!a.gates.empty()) {
    auto g = seer::load_gate_bundle(a.gates, model.config);
    if (!g) return {nullptr, g.status(), false};
    gates = *g;
  } else if (name == "gate") {
    return {nullptr, Status::error("--policy gate needs --gates DIR"), true};
  }
  if (Status st = gate_flags(gates.decode != nullptr); !st.is_ok()) return {nullptr, st, true};
  seer::PolicyOptions po;
  po.prefill = *pre;
  po.decode = *dec;
  po.block_size = a.block_size > 0 ? a.block_size : gates.block_size() > 0 ? gates.block_size() : 64;
  po.start_layer = a.start_layer;
  po.seed = uint64_t(a.policy_seed);
  po.num_threads = threads;
  po.gate_cache_int8 = a.gate_cache_int8;
  po.gate_fold_query = !a.gate_query_unfolded;
  po.gate_upstream_rope_position = a.gate_upstream_rope;
  if (a.uniform_budget && (name != "gate" || (dec->kind != seer::DecodeSparsity::Kind::kBudget &&
                                               pre->kind != seer::PrefillSparsity::Kind::kDensity)))
    return {nullptr,
            Status::error("--uniform-budget is for the gate policy with --decode-sparsity budget:N or "
                          "--prefill-sparsity density:RHO"),
            true};
  po.uniform_budget = a.uniform_budget;
  auto p = seer::make_policy(name, po, model.config, gates);
  if (!p) return {nullptr, p.status(), true};
  out.policy = *p;
  return out;
}

// ---------------------------------------------------------------------------------------------
struct GenerateArgs {
  CommonOpts common;
  AttnOpts attn;
  std::string prompt, prompt_file, system;
  bool chat = false;
  int n = 128;
  float temp = 0.7f;
  int top_k = 40;
  float top_p = 0.95f;
  int64_t seed = -1;
  bool quiet = false;
  const CLI::Option* system_flag = nullptr;  // --system, to tell an empty one from none
};

int run_generate(const GenerateArgs& a) {
  std::string text = a.prompt;
  if (!a.prompt_file.empty()) {
    if (!read_file(a.prompt_file, &text)) return fail(Status::error("cannot read --prompt-file {}", a.prompt_file));
  }
  if (text.empty())
    return a.prompt_file.empty() ? usage(Status::error("empty prompt: give --prompt TEXT or --prompt-file FILE"))
                                 : fail(Status::error("--prompt-file {} is empty", a.prompt_file));
  const bool system_given = a.system_flag && a.system_flag->count() > 0;  // --system "" is an empty system turn
  if (system_given && !a.chat)
    return usage(Status::error("--system: the system message needs --chat"));
  auto model = open_model(a.common);
  if (!model) return fail(model.status());
  warn_context("--ctx", a.common.ctx, *model);
  if (!model->tokenizer) return fail(Status::error("{}: the model has no tokenizer", model->path));
  const seer::Tokenizer& tok = *model->tokenizer;
  if (a.chat) {
    if (!tok.has_chatml())
      return fail(Status::error("{}: --chat needs a ChatML model (<|im_start|>/<|im_end|> tokens)", model->path));
    text = tok.apply_chat_template(text, system_given ? std::optional<std::string>(a.system) : std::nullopt);
  }
  std::vector<int> ids;
  if (tok.add_bos() && tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  auto enc = tok.encode(text, /*parse_special=*/a.chat);
  if (enc.empty())  // (bytes the tokenizer drops, such as 0xFE / 0xFF)
    return fail(Status::error("{}: the prompt gives no tokens", a.prompt_file.empty() ? "--prompt" : a.prompt_file));
  ids.insert(ids.end(), enc.begin(), enc.end());

  auto pol = make_attention_policy(a.attn, *model, a.common.threads, a.common.dev());
  if (!pol.status.is_ok()) return pol.usage_error ? usage(pol.status) : fail(pol.status);
  auto so = session_options(a.common, a.common.ctx, pol.policy);
  if (!so.is_ok()) return usage(so.status());
  auto session = seer::Session::create(*model, *so);
  if (!session) return fail(session.status());
  if (int(ids.size()) >= (*session)->max_context())
    return fail(Status::error("the prompt has {} tokens and the context holds {}: generating needs at least one "
                              "position more (-c)", ids.size(), (*session)->max_context()));

  seer::GenerateOptions go;
  go.max_new_tokens = a.n;
  go.sampling.temperature = a.temp;
  go.sampling.top_k = a.top_k;
  go.sampling.top_p = a.top_p;
  go.sampling.seed = a.seed >= 0 ? uint64_t(a.seed) : std::random_device{}();
  // fwrite, not fputs: a NUL byte in the prompt or in a token is written too.
  if (!a.chat && !a.quiet) std::fwrite(text.data(), 1, text.size(), stdout);
  auto st = seer::generate(**session, tok, ids, go, [](const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  if (!st) return fail(st.status());
  if (!a.quiet) {
    std::fprintf(stderr,
                 "seer: prompt %d tokens in %.2f s (%.1f tok/s); generated %d tokens in %.2f s (%.1f tok/s)%s; seed %llu\n",
                 st->prompt_tokens, st->prefill_seconds, st->prompt_tokens / std::max(1e-9, st->prefill_seconds),
                 st->generated_tokens, st->decode_seconds,
                 st->generated_tokens / std::max(1e-9, st->decode_seconds),
                 st->stopped_at_eos       ? ", stopped at end-of-generation token"
                 : st->stopped_at_context ? ", stopped: the context is full"
                                          : "",
                 static_cast<unsigned long long>(go.sampling.seed));
    if (pol.policy) print_density(*pol.policy);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// A session with `policy` over windows of `ids` (perplexity's protocol, po.ctx the context), a progress line
// on stderr named `what`. 0, or the exit code after the error is printed (naming `file`).
int run_windows(const char* what, const std::string& file, const CommonOpts& common, const seer::Model& model,
                std::shared_ptr<seer::AttentionPolicy> policy, const std::vector<int>& ids, seer::PerplexityOptions po,
                seer::PerplexityResult* out) {
  bool progressed = false;
  po.progress = [what, &progressed](int done, int total, double ppl, double tps) {
    std::fprintf(stderr, "\r%s: window %d/%d  ppl %.4f  %.0f tok/s   ", what, done, total, ppl, tps);
    std::fflush(stderr);
    progressed = true;
  };
  auto so = session_options(common, po.ctx, std::move(policy));
  if (!so.is_ok()) return usage(so.status());
  auto session = seer::Session::create(model, *so);
  if (!session) return fail(session.status());
  auto r = seer::perplexity(**session, ids, po);
  if (progressed) std::fputc('\n', stderr);
  if (!r) return fail(r.status().with_context(file));
  *out = *r;
  return 0;
}

struct PplArgs {
  CommonOpts common;
  AttnOpts attn;
  int prefill_len = 0;
  std::string file;
  int ctx = 512;
  int max_windows = 0;
  bool json = false;
  std::string bos = "auto";
};

int run_ppl(const PplArgs& a) {
  std::string text;
  if (!read_file(a.file, &text)) return fail(Status::error("cannot read {}", a.file));
  seer::PerplexityOptions po;
  po.ctx = a.ctx;
  po.max_windows = a.max_windows;
  po.prefill_len = a.prefill_len;
  if (Status st = po.check(); !st.is_ok()) return usage(st);  // before the model loads
  if (auto so = session_options(a.common, a.ctx, nullptr); !so.is_ok()) return usage(so.status());
  if (a.prefill_len == 0 && a.attn.decode != "dense")
    std::fprintf(stderr, "seer: warning: --decode-sparsity %s has no effect: ppl runs decode steps only with "
                 "--prefill-len N\n", a.attn.decode.c_str());
  auto model = open_model(a.common);
  if (!model) return fail(model.status());
  warn_context("--ctx", a.ctx, *model);
  if (!model->tokenizer) return fail(Status::error("{}: the model has no tokenizer", model->path));
  const seer::Tokenizer& tok = *model->tokenizer;
  const double t0 = seer::now_seconds();
  std::vector<int> ids = tok.encode(text, /*parse_special=*/false);
  const double tokenize_s = seer::now_seconds() - t0;

  auto pol = make_attention_policy(a.attn, *model, a.common.threads, a.common.dev());
  if (!pol.status.is_ok()) return pol.usage_error ? usage(pol.status) : fail(pol.status);
  const bool use_bos = a.bos == "on" || (a.bos == "auto" && tok.add_bos());
  po.bos_id = use_bos ? tok.bos_id() : -1;
  if (use_bos && po.bos_id < 0) return fail(Status::error("--bos on, but the tokenizer has no BOS token"));
  seer::PerplexityResult result;
  if (int rc = run_windows("ppl", a.file, a.common, *model, pol.policy, ids, po, &result)) return rc;
  const seer::PerplexityResult* r = &result;
  if (a.json) {
    nlohmann::json j = {{"ppl", r->ppl},         {"nll", r->nll},         {"tokens", r->tokens},
                        {"windows", r->windows}, {"ctx", r->ctx},         {"bos", use_bos},
                        {"text_tokens", ids.size()}, {"seconds", r->seconds}, {"tokenize_seconds", tokenize_s},
                        {"model", model->path}};
    j["prefill_len"] = a.prefill_len;
    j["policy"] = pol.policy ? a.attn.policy.empty() ? "gate" : a.attn.policy : "dense";
    j["prefill_sparsity"] = a.attn.prefill;
    j["decode_sparsity"] = a.attn.decode;
    // the decode gate's K-compression cache, as the policy holds it
    if (const seer::DeviceGateSpec* g = pol.policy ? pol.policy->device_gates() : nullptr; g && g->decode)
      j["gate_cache"] = g->options.gate_cache_int8 ? "int8" : "bf16";
    // density of the phase that was measured: prefill, or decode with --prefill-len
    const char* phase = a.prefill_len > 0 ? "decode" : "prefill";
    if (pol.policy) {
      nlohmann::json d = nlohmann::json::parse(pol.policy->stats().to_json());
      j["density"] = d[phase]["density"];
      nlohmann::json per_layer = nlohmann::json::array();
      for (const auto& l : d["layers"]) per_layer.push_back(l[phase]["density"]);
      j["density_per_layer"] = per_layer;
      j["density_detail"] = d;
    } else {
      j["density"] = 1.0;
      j["density_per_layer"] = std::vector<double>(size_t(model->config.num_layers), 1.0);
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("ppl %.4f  (nll %.6f over %lld tokens, %d window%s of %d, BOS %s, %.1f s)\n", r->ppl, r->nll,
                static_cast<long long>(r->tokens), r->windows, r->windows == 1 ? "" : "s", r->window,
                use_bos ? "on" : "off", r->seconds);
    if (pol.policy) print_density(*pol.policy);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// calibrate-budget: how a gate's fixed budget is split over its heads. Decode: the gate runs
// teacher-forced decode steps over a text under mass:P (per step and KV head, the fewest blocks holding
// a share P of its softmax). Prefill: the gate selects each window's prefill under mass:P (per query
// head and row). Each head's share of a budget is its kept fraction over the mean's: a head whose
// attention is spread gets more of the budget, a peaked one less, and the total stays the uniform
// budget's: budget:N's per decode step (share_budget), density:ρ's per prefill forward
// (prefill_budget_blocks).
struct CalibrateArgs {
  CommonOpts common;
  std::string gates, file;
  std::string kind = "decode";
  double mass = 0.0;  // 0: the kind's default (kCalibrateMass)
  int ctx = 8192;
  int prefill_len = 0;  // decode; 0: three quarters of ctx
  int max_windows = 4;
  bool force = false;
};
constexpr double kCalibrateMass[2] = {0.8, 0.85};  // prefill, decode (docs/TRAINING.md *Budget shares*, *Prefill budget shares*)

int run_calibrate_budget(const CalibrateArgs& a) {
  const bool decode = a.kind == "decode";
  const double mass = a.mass > 0.0 ? a.mass : kCalibrateMass[decode];
  const int prefill_len = !decode ? 0 : a.prefill_len > 0 ? a.prefill_len : a.ctx * 3 / 4;
  if (!decode && a.prefill_len > 0)
    return usage(Status::error("--prefill-len {}: a prefill calibration scores whole windows (--kind prefill)",
                               a.prefill_len));
  seer::PerplexityOptions po;
  po.ctx = a.ctx;
  po.max_windows = a.max_windows;
  po.prefill_len = prefill_len;
  if (Status st = po.check(); !st.is_ok()) return usage(st);
  std::string text;
  if (!read_file(a.file, &text)) return fail(Status::error("cannot read {}", a.file));
  auto model = open_model(a.common);
  if (!model) return fail(model.status());
  warn_context("--ctx", a.ctx, *model);
  if (!model->tokenizer) return fail(Status::error("{}: the model has no tokenizer", model->path));
  auto bundle = seer::load_gate_bundle(a.gates, model->config);
  if (!bundle) return fail(bundle.status());
  const std::shared_ptr<const seer::GateSet>& gate = decode ? bundle->decode : bundle->prefill;
  if (!gate) return fail(Status::error("--gates {}: no {} gate to calibrate", a.gates, a.kind));
  seer::GateBundle one;  // only the calibrated gate: the other phase stays dense (a gate there would only cost time)
  (decode ? one.decode : one.prefill) = gate;
  const std::string& dir = gate->dir;
  const std::string out = dir + "/" + seer::kBudgetSharesFile;
  if (std::filesystem::exists(out) && !a.force)
    return fail(Status::error("{} exists (shares calibrated before); --force replaces it", out));
  const seer::Tokenizer& tok = *model->tokenizer;
  const std::vector<int> ids = tok.encode(text, /*parse_special=*/false);
  if (int64_t(ids.size()) < a.ctx)
    return fail(Status::error("{}: {} tokens, fewer than one window of --ctx {}", a.file, ids.size(), a.ctx));

  seer::PolicyOptions opts;
  if (decode) {
    opts.decode.kind = seer::DecodeSparsity::Kind::kMass;
    opts.decode.value = mass;
  } else {
    opts.prefill.kind = seer::PrefillSparsity::Kind::kMass;
    opts.prefill.value = mass;
  }
  opts.block_size = one.block_size();
  opts.start_layer = 0;
  opts.num_threads = a.common.threads;
  auto policy = seer::make_policy("gate", opts, model->config, one);
  if (!policy) return fail(policy.status());
  po.bos_id = tok.add_bos() ? tok.bos_id() : -1;
  seer::PerplexityResult result;
  if (int rc = run_windows("calibrate-budget", a.file, a.common, *model, *policy, ids, po, &result)) return rc;
  const seer::PerplexityResult* r = &result;

  const int L = model->config.num_layers, H = decode ? model->config.num_kv_heads : model->config.num_qo_heads;
  const char* head = decode ? "KV head" : "query head";
  const auto& layers = (*policy)->stats().layers();
  std::vector<double> kept(size_t(L) * H);
  double sum = 0.0;
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h) {
      const std::vector<seer::BlockCounts>* heads = nullptr;
      if (size_t(l) < layers.size()) heads = decode ? &layers[size_t(l)].decode_heads : &layers[size_t(l)].prefill_heads;
      if (!heads || size_t(h) >= heads->size() || (*heads)[size_t(h)].dense == 0)
        return fail(Status::error("calibrate-budget: layer {}, {} {} made no {} selection", l, head, h, a.kind));
      kept[size_t(l) * H + h] = (*heads)[size_t(h)].density();
      sum += kept[size_t(l) * H + h];
    }
  // Shares from heads that all kept every block are all 1: nothing to split, so nothing is written.
  if (*std::min_element(kept.begin(), kept.end()) >= 0.999)
    return fail(Status::error("calibrate-budget: every head kept all of its blocks under {} (windows of --ctx {} "
                              "tokens, blocks of {}); a longer --ctx or a smaller --mass gives shares",
                              decode ? opts.decode.to_string() : opts.prefill.to_string(), a.ctx, opts.block_size));
  std::vector<float> shares(kept.size());
  for (size_t i = 0; i < kept.size(); ++i) shares[i] = float(kept[i] * double(kept.size()) / sum);
  const auto total = decode ? (*policy)->stats().decode_total() : (*policy)->stats().prefill_total();
  const std::string rule = decode ? opts.decode.to_string() : opts.prefill.to_string();
  nlohmann::json cal = {{"kind", a.kind},         {"rule", rule},          {"text", a.file},
                        {"ctx", a.ctx},           {"windows", r->windows}, {"scored_tokens", r->tokens},
                        {"density", total.density()}, {"ppl", r->ppl},    {"model", model->path}};
  if (decode) cal["prefill_len"] = prefill_len;
  if (Status st = seer::save_budget_shares(dir, gate->config.kind, shares, kept, model->config, cal.dump());
      !st.is_ok())
    return fail(st);
  const auto [lo, hi] = std::minmax_element(shares.begin(), shares.end());
  std::printf("budget shares of %d layers x %d %ss written to %s: %s %s kept %.4f of the blocks over %d "
              "window%s; shares %.3f .. %.3f\n",
              L, H, head, out.c_str(), a.kind.c_str(), rule.c_str(), total.density(), r->windows,
              r->windows == 1 ? "" : "s", double(*lo), double(*hi));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Architecture of fresh gates, shared by init-gates and train-gates.
struct GateArchOpts {
  std::string gate_type = "Qavg_Kmaxminavg";
  std::string q_pooling = "Qproj";
  int block_size = 64;
  int hidden_size = 0;
  bool no_qk_norm = false;
  bool force_double = false;
};

void add_gate_arch(CLI::App* app, GateArchOpts* g) {
  app->add_option("--gate-type", g->gate_type, "prefill pooling, e.g. Qavg_Kmaxminavg (default)")
      ->check(CLI::Validator(
          [](std::string& s) {
            std::vector<seer::PoolType> q, k;
            const seer::Status st = seer::parse_gate_type(s, &q, &k);
            return st.is_ok() ? std::string() : st.message();
          },
          "Q<pools>_K<pools>"));
  app->add_option("--q-pooling", g->q_pooling, "decode query head pooling: Qproj (default), Qavgproj, Qavg")
      ->check(CLI::IsMember({"Qproj", "Qavgproj", "Qavg"}));
  app->add_option("--block-size", g->block_size, "gate block size (default 64)")
      ->check(number_check(64, 128, false, true))
      ->check(CLI::IsMember({64, 128}));
  app->add_option("--hidden-size", g->hidden_size, "gate hidden size dg, even, up to 1024 (default, or 0: head_dim)")
      ->check(number_check(0.0, 1024.0, false, /*whole=*/true, " (0: head_dim)"))
      ->check(CLI::Validator(
          [](std::string& s) { return std::atoi(s.c_str()) % 2 != 0 ? "must be even, got " + s : std::string(); }, ""));
  app->add_flag("--no-qk-norm", g->no_qk_norm, "decode gates without q/k RMSNorm");
  app->add_flag("--force-double", g->force_double, "prefill gates with both Q and K linears");
}

seer::GateOptions gate_options(const GateArchOpts& a, const std::string& base_model) {
  seer::GateOptions go;
  go.gate_type = a.gate_type;
  go.block_size = a.block_size;
  go.hidden_size = a.hidden_size;
  go.use_qk_norm = !a.no_qk_norm;
  go.force_double = a.force_double;
  go.base_model = base_model;
  go.q_head_pooling = a.q_pooling == "Qavgproj" ? seer::QHeadPooling::kQavgproj
                      : a.q_pooling == "Qavg"   ? seer::QHeadPooling::kQavg
                                                : seer::QHeadPooling::kQproj;
  return go;
}

struct InitGatesArgs {
  CommonOpts common;
  std::string kind = "prefill";
  std::string out;
  int64_t seed = 0;
  bool force = false;
  GateArchOpts arch;
};

int run_init_gates(const InitGatesArgs& a) {
  std::error_code ec;
  if (!a.force && std::filesystem::exists(std::filesystem::path(a.out) / "config.json", ec))
    return fail(Status::error("--out {}: holds gates already (config.json); pass --force to overwrite them", a.out));
  auto model = open_model(a.common);
  if (!model) return fail(model.status());
  const seer::GateOptions go = gate_options(a.arch, model->path);
  const auto kind = a.kind == "decode" ? seer::GateKind::kDecode : seer::GateKind::kPrefill;
  auto gates = seer::init_gates(kind, model->config, go, uint64_t(a.seed));
  if (!gates) return usage(gates.status());
  Status st = seer::save_gates(a.out, *gates, model->config);
  if (!st.is_ok()) return fail(st);
  std::fprintf(stderr, "seer: wrote %s gates for %s (%d layers, block %d, hidden %d) to %s\n", a.kind.c_str(),
               model->name.c_str(), model->config.num_layers, gates->config.block_size, gates->config.hidden_size,
               a.out.c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
struct TrainArgs {
  CommonOpts common;
  std::string kind = "prefill";
  std::string device = "cpu";
  std::string ground_truth = "max";
  std::string group_pool = "max";
  bool exclude_sink = false;
  std::vector<std::string> data;
  seer::TrainOptions t;
  GateArchOpts arch;
  double min_lr = -1.0;
};

std::atomic<bool> g_interrupted{false};

int run_train_gates(TrainArgs& a) {
  if (a.group_pool == "sum" && a.kind == "prefill")
    return usage(seer::Status::error("--group-pool sum: only the decode gate's targets pool a GQA group, and "
                                    "--kind prefill trains no decode gate"));
  if (a.min_lr > a.t.lr)
    return usage(seer::Status::error("--min-lr {} is above the peak --lr {}", a.min_lr, a.t.lr));
  if (a.t.warmup >= a.t.steps)
    std::fprintf(stderr, "seer: warning: --warmup %d is not below --steps %d: every step runs in the warmup, at a "
                 "fraction of --lr (the first at 0)\n", a.t.warmup, a.t.steps);
  auto model = open_model(a.common);
  if (!model) return fail(model.status());
  seer::TrainOptions& t = a.t;
  t.prefill = a.kind == "prefill" || a.kind == "both";
  t.decode = a.kind == "decode" || a.kind == "both";
  t.data = a.data;
  t.num_threads = a.common.threads;
  t.device = a.device == "cuda" ? seer::Device::kCuda : seer::Device::kCpu;
  t.ground_truth = a.ground_truth == "mass" ? seer::BlockStat::kMass : seer::BlockStat::kMax;
  t.group_pool = a.group_pool == "sum" ? seer::GroupPool::kSum : seer::GroupPool::kMax;
  if (a.min_lr >= 0.0) t.min_lr_prefill = t.min_lr_decode = a.min_lr;
  t.prefill_gate = t.decode_gate = gate_options(a.arch, model->path);
  t.prefill_gate.sink_excluded = t.decode_gate.sink_excluded = a.exclude_sink;
  // The first Ctrl-C stops after the current step with a checkpoint; a second one quits at once (the last
  // checkpoint stays whole: it is written atomically).
  auto on_signal = [](int) {
    if (g_interrupted.exchange(true)) _exit(130);
    static const char kMsg[] = "\nseer: stopping after this step (checkpoint kept); Ctrl-C again quits now\n";
    [[maybe_unused]] const ssize_t n = write(2, kMsg, sizeof(kMsg) - 1);
  };
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  t.should_stop = [] { return g_interrupted.load(); };
  t.log = [](const std::string& line) { std::fprintf(stderr, "seer: %s\n", line.c_str()); };
  auto r = seer::train_gates(*model, t);
  if (!r) return fail(r.status());
  if (r->stopped) return 130;
  std::fprintf(stderr, "seer: trained %s gates for %d steps in %.1f s; gates in %s (load with --gates %s)\n",
               a.kind.c_str(), r->steps_done, r->seconds, t.out.c_str(), t.out.c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
int run_info(const CommonOpts& c) {
  auto model = open_model(c);
  if (!model) return fail(model.status());
  const seer::ModelConfig& k = model->config;
  std::printf("model         %s\n", model->path.c_str());
  std::printf("name          %s\n", model->name.c_str());
  std::printf("format        %s\n", model->format.c_str());
  std::printf("architecture  %s\n", std::string(seer::arch_name(k.arch)).c_str());
  std::printf("layers        %d\n", k.num_layers);
  std::printf("hidden        %d\n", k.hidden_size);
  std::printf("ffn           %d\n", k.intermediate_size);
  std::printf("heads         %d query / %d kv (group %d), head_dim %d\n", k.num_qo_heads, k.num_kv_heads,
              k.group_size(), k.head_dim);
  std::printf("vocab         %d\n", k.vocab_size);
  std::printf("context       %d\n", k.max_position);
  const char* scaling = k.rope_scaling.type == seer::RopeScalingType::kNone    ? "none"
                        : k.rope_scaling.type == seer::RopeScalingType::kLlama3 ? "llama3"
                                                                                 : "yarn";
  std::printf("rope          theta %g, scaling %s (factor %g)\n", k.rope_theta, scaling, k.rope_scaling.factor);
  std::printf("rms eps       %g\n", k.rms_eps);
  std::printf("embeddings    %s\n", k.tied_embeddings ? "tied" : "untied");
  std::printf("qkv bias      %s, qk norm %s\n", k.qkv_bias ? "yes" : "no", k.qk_norm ? "yes" : "no");
  // Tensor types as held in memory (norms and biases in f32, whatever the file stored): counts per
  // (role, dtype); a tied output is the embedding, not a tensor of its own.
  std::map<std::string, int> types;
  auto add = [&](const char* role, const seer::Weight& w) {
    if (!w.empty()) types[std::string(role) + " " + std::string(seer::dtype_name(w.dtype))]++;
  };
  const auto& W = model->weights;
  add("token_embd", W.tok_embd);
  if (!k.tied_embeddings) add("output", W.output);
  add("norm", W.out_norm);
  for (const auto& L : W.layers) {
    add("attn_q/k/v/o", L.wq), add("attn_q/k/v/o", L.wk), add("attn_q/k/v/o", L.wv), add("attn_q/k/v/o", L.wo);
    add("ffn_gate/up/down", L.w_gate), add("ffn_gate/up/down", L.w_up), add("ffn_gate/up/down", L.w_down);
    add("norm", L.attn_norm), add("norm", L.ffn_norm);
    add("bias", L.bq), add("bias", L.bk), add("bias", L.bv), add("qk_norm", L.q_norm), add("qk_norm", L.k_norm);
  }
  std::printf("tensor types  (in memory)");
  for (const auto& [k2, v] : types) std::printf(" %s x%d;", k2.c_str(), v);
  std::printf("\n");
  if (model->tokenizer) {
    const auto& t = *model->tokenizer;
    std::printf("tokenizer     %d tokens, bos %d, eos %d, add_bos %s, chat template %s\n", t.vocab_size(), t.bos_id(),
                t.eos_id(), t.add_bos() ? "yes" : "no", t.has_chatml() ? "ChatML" : "none");
  } else {
    std::printf("tokenizer     none\n");
  }
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  seer::rerun_with_matching_blas_kernels(argv);
  CLI::App app{"seer: SeerAttention / SeerAttention-R inference engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "seer 0.1 (OpenBLAS kernels: " + seer::blas_kernels() + ")");

  GenerateArgs ga;
  CLI::App* gen = app.add_subcommand("generate", "generate text from a prompt");
  add_common(gen, &ga.common, /*with_device=*/true);
  CLI::Option* prompt = gen->add_option("-p,--prompt", ga.prompt, "prompt text");
  gen->add_option("-f,--prompt-file", ga.prompt_file, "read the prompt from a file")
      ->check(CLI::ExistingFile)
      ->excludes(prompt);
  gen->add_flag("--chat", ga.chat, "wrap the prompt in the model's chat template (ChatML)");
  ga.system_flag = gen->add_option("--system", ga.system, "system message for --chat");
  gen->add_option("-n,--n-predict", ga.n, "tokens to generate (default 128)")->check(kPositiveCount);
  gen->add_option("--temp", ga.temp, "temperature; 0 = greedy (default 0.7)")->check(number_check(0.0, 1e6));
  gen->add_option("--top-k", ga.top_k, "top-k; 0 = off (default 40)")->check(kCount);
  gen->add_option("--top-p", ga.top_p, "top-p; 1 = off (default 0.95)")->check(number_check(0.0, 1.0));
  gen->add_option("-s,--seed", ga.seed, "random seed (default: random, printed at the end)")
      ->check(kCount);
  gen->add_option("-c,--ctx", ga.common.ctx, "context size (default, or 0: the model's)")->check(kCount);
  gen->add_flag("-q,--quiet", ga.quiet, "print only the generated text");
  add_attention(gen, &ga.attn);

  PplArgs pa;
  CLI::App* ppl = app.add_subcommand("ppl", "perplexity of a text file over non-overlapping windows");
  add_common(ppl, &pa.common, /*with_device=*/true);
  ppl->add_option("file", pa.file, "text file")->required()->check(CLI::ExistingFile);
  ppl->add_option("-c,--ctx", pa.ctx, "window length in tokens (default 512)")->check(number_check(2, 1 << 20, false, true));
  ppl->add_option("--max-windows", pa.max_windows, "evaluate at most this many windows (0 = all)")
      ->check(kCount);
  ppl->add_option("--bos", pa.bos, "prepend BOS to each window: auto (tokenizer's add_bos), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  ppl->add_flag("--json", pa.json, "print one JSON object");
  ppl->add_option("--prefill-len", pa.prefill_len,
                  "teacher-forced decode: prefill this many tokens of each window, then feed the rest one at a "
                  "time through the decode path and score only those")
      ->check(kCount);
  add_attention(ppl, &pa.attn);

  InitGatesArgs ig;
  CLI::App* init = app.add_subcommand("init-gates", "write randomly initialised AttnGates (N(0, 0.02)) for a model");
  add_common(init, &ig.common);
  init->add_option("--kind", ig.kind, "prefill (SeerAttention) or decode (SeerAttention-R)")
      ->check(CLI::IsMember({"prefill", "decode"}));
  init->add_option("-o,--out", ig.out, "output directory")->required()->check(kNonEmpty);
  init->add_flag("--force", ig.force, "overwrite gates already in --out");
  init->add_option("-s,--seed", ig.seed, "random seed (default 0)")->check(kCount);
  add_gate_arch(init, &ig.arch);

  TrainArgs ta;
  CLI::App* train = app.add_subcommand("train-gates", "train AttnGates by self-distillation from the frozen model (SPEC §4)");
  add_common(train, &ta.common);
  train->add_option("--kind", ta.kind, "prefill (SeerAttention), decode (SeerAttention-R) or both from the same forwards (default prefill)")
      ->check(CLI::IsMember({"prefill", "decode", "both"}));
  train->add_option("--data", ta.data, "text files or directories of .txt files, one document per file")
      ->required()
      ->check(kNonEmpty);
  train->add_option("-o,--out", ta.t.out, "output directory: gates, checkpoint, loss log")->required()->check(kNonEmpty);
  train->add_option("--steps", ta.t.steps, "optimiser steps (default 100)")->check(kPositiveCount);
  train->add_option("--seq-len", ta.t.seq_lens,
                    "tokens per training row (default 8192); several (e.g. 1024,2048,4096,8192) are taken in turn "
                    "along each document")
      ->delimiter(',')
      ->check(kPositiveCount);
  train->add_option("--batch", ta.t.batch, "rows per step (default 1)")->check(kPositiveCount);
  train->add_option("--lr", ta.t.lr, "peak learning rate (default 1e-3)")->check(kPositive);
  train->add_option("--min-lr", ta.min_lr, "cosine floor (default 0 for prefill, 1e-5 for decode)")->check(kNonNegative);
  train->add_option("--warmup", ta.t.warmup, "warmup steps (default 20)")->check(kCount);
  train->add_option("--weight-decay", ta.t.weight_decay, "AdamW weight decay (default 0)")->check(kNonNegative);
  train->add_option("--clip", ta.t.clip, "gradient L2-norm clip, 0 for none (default 1.0)")->check(kNonNegative);
  train->add_option("-s,--seed", ta.t.seed, "seed of the init, row order, row sample and token sample (default 0)")->check(kCount);
  train->add_option("--split-seed", ta.t.split_seed, "seed of the train/eval split by document (default 0)")->check(kCount);
  CLI::Option* init_from =
      train->add_option("--init", ta.t.init, "start from these trained gates (a --gates directory) instead of N(0, 0.02); "
                        "their architecture is kept, so the fresh gates' options (--gate-type, --hidden-size, ...) "
                        "do not go with it, and --block-size must equal theirs")->check(kNonEmpty);
  train->add_option("--device", ta.device,
                    "cpu (default) or cuda: the frozen forwards (and the ground truth) on the GPU; the gate losses "
                    "and gradients stay on the CPU")->check(CLI::IsMember({"cpu", "cuda"}));
  train->add_option("--ground-truth", ta.ground_truth,
                    "what the targets take of each key block: max, its largest attention probability (SPEC, "
                    "upstream; default), or mass, the sum of its probabilities")
      ->check(CLI::IsMember({"max", "mass"}));
  train->add_option("--group-pool", ta.group_pool,
                    "how the decode targets pool the query heads of a GQA group (which share one selection): max "
                    "(SPEC, upstream; default) or sum, the group's total share of each block")
      ->check(CLI::IsMember({"max", "sum"}));
  train->add_flag("--exclude-sink", ta.exclude_sink,
                  "leave block 0, which every selection keeps anyway, out of the targets and the gates' softmax "
                  "(recorded in the gates' config; such gates score block 0 +inf)");
  train->add_flag("--resume", ta.t.resume, "continue the run in --out from its last checkpoint");
  train->add_option("--checkpoint-every", ta.t.checkpoint_every, "steps between checkpoints (default 10)")->check(kPositiveCount);
  train->add_option("--eval-fraction", ta.t.eval_fraction, "share of documents held out (default 0.1)")->check(number_check(0.0, 0.99));
  train->add_option("--eval-rows", ta.t.eval_rows, "held-out rows for the eval loss (default 2)")->check(kCount);
  train->add_option("--eval-every", ta.t.eval_every, "steps between eval losses, 0: at the end only (default 0)")->check(kCount);
  train->add_option("--max-rows", ta.t.max_rows, "train on a seeded sample of this many rows, 0: all (default 0)")->check(kCount);
  train->add_option("--min-row-len", ta.t.min_row_len, "shortest row kept, at least 2 blocks (default max(4 blocks, shortest --seq-len / 8), at most the shortest --seq-len)")->check(kCount);
  train->add_option("--decode-tokens", ta.t.decode_tokens, "decode loss tokens sampled per row from its second half, 0: all (default 512)")->check(kCount);
  train->add_option("--cache-mb", ta.t.cache_mb, "memory for cached training examples in MiB (default 8192)")->check(kCount);
  add_gate_arch(train, &ta.arch);
  for (const char* arch : {"--gate-type", "--q-pooling", "--hidden-size", "--no-qk-norm", "--force-double"})
    init_from->excludes(train->get_option(arch));

  CalibrateArgs ca;
  CLI::App* calib = app.add_subcommand(
      "calibrate-budget",
      "split a gate's fixed budget over its heads: runs the gate over a text and writes budget_shares.json "
      "beside its config.json, which --decode-sparsity budget:N (decode gate, KV heads) or "
      "--prefill-sparsity density:RHO (prefill gate, query heads) then follows");
  add_common(calib, &ca.common);
  calib->add_option("--gates", ca.gates, "gates with a gate of that kind (a gate directory, or one with decode/, prefill/)")
      ->required()
      ->check(kNonEmpty);
  calib->add_option("file", ca.file, "calibration text (not the text you evaluate on)")->required()->check(CLI::ExistingFile);
  calib->add_option("--kind", ca.kind, "decode (split budget:N over the KV heads) or prefill (density:RHO's Top-K "
                                        "over the query heads) (default decode)")
      ->check(CLI::IsMember({"decode", "prefill"}));
  calib->add_option("--mass", ca.mass,
                    "the share P of the gate's softmax that a head keeps, per decode step or prefill row (default 0.85 "
                    "decode, 0.8 prefill)")
      ->check(number_check(0.0, 1.0, /*lo_open=*/true));
  calib->add_option("-c,--ctx", ca.ctx, "window length in tokens (default 8192)")->check(number_check(2, 1 << 20, false, true));
  calib->add_option("--prefill-len", ca.prefill_len,
                    "decode: dense prefill of each window; the rest runs as decode steps (default: three quarters of "
                    "--ctx)")
      ->check(kCount);
  calib->add_option("--max-windows", ca.max_windows, "windows of the text to run, 0: all (default 4)")->check(kCount);
  calib->add_flag("--force", ca.force, "replace the gates' budget_shares.json");

  CommonOpts ia;
  CLI::App* info = app.add_subcommand("info", "print the model's architecture, dimensions and tensor types");
  add_common(info, &ia);

  // A last value wins when a single-value option is repeated (scripts append overrides); lists
  // (--data, --seq-len) collect every value.
  for (CLI::App* sub : {gen, ppl, init, train, calib, info})
    for (CLI::Option* o : sub->get_options())
      if (o->get_items_expected_max() == 1 && o->get_type_size() > 0) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (argc > 1 && argv[1][0] == '-' && std::string(argv[1]) != "--help" && std::string(argv[1]) != "-h" &&
      std::string(argv[1]) != "--version") {
    std::fprintf(stderr,
                 "seer: '%s' before the subcommand: options go after it (seer SUBCOMMAND [OPTIONS]; subcommands: "
                 "generate, ppl, info, init-gates, train-gates, calibrate-budget)\n",
                 argv[1]);
    return kExitUsage;
  }
  if (argc > 1 && argv[1][0] != '-') {
    try {
      app.get_subcommand(argv[1]);
    } catch (const CLI::OptionNotFound&) {
      std::fprintf(stderr, "seer: unknown subcommand '%s' (generate, ppl, info, init-gates, train-gates, "
                   "calibrate-budget; seer --help)\n",
                   argv[1]);
      return kExitUsage;
    }
  }
  // An unknown option is named here, before CLI11 sees it: CLI11 would first check a positional, taking a
  // mistyped option's value for the file ("File does not exist: 2"), or list the unexpected arguments in
  // reverse order.
  if (argc > 2 && argv[1][0] != '-') {
    CLI::App* sub = app.get_subcommand(argv[1]);
    // The arguments that are options (an option's value, whatever it looks like, is skipped: "-p -5"),
    // with the option each names (nullptr: unknown). Help wins over every other error; then the first
    // unknown option is named.
    std::vector<std::pair<std::string, const CLI::Option*>> opts;
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--") break;
      if (arg.size() < 2 || arg[0] != '-') continue;
      char* end = nullptr;
      (void)std::strtod(arg.c_str(), &end);
      if (*end == '\0') continue;  // a negative number: an option's value
      std::string name = arg.substr(0, arg.find('='));
      if (name[1] != '-') name = name.substr(0, 2);  // -n5: -n with its value
      const CLI::Option* o = nullptr;
      try {
        o = sub->get_option(name);
      } catch (const CLI::OptionNotFound&) {
      }
      opts.emplace_back(name, o);
      if (o && o->get_items_expected_min() > 0 && name.size() == arg.size()) ++i;  // its value
    }
    for (const auto& [name, o] : opts)
      if (name == "-h" || name == "--help") {
        std::fputs(sub->help(argv[0]).c_str(), stdout);
        return 0;
      }
    for (const auto& [name, o] : opts)
      if (!o) {
        std::fprintf(stderr, "seer %s: unknown option '%s' (seer %s --help)\n", argv[1], name.c_str(), argv[1]);
        return kExitUsage;
      }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (gen->parsed()) return run_generate(ga);
  if (ppl->parsed()) return run_ppl(pa);
  if (info->parsed()) return run_info(ia);
  if (calib->parsed()) return run_calibrate_budget(ca);
  // A fresh gate's option for the kind of gate that is not made would be dropped without a word.
  for (auto [sub, kind] : {std::pair<CLI::App*, const std::string*>{init, &ig.kind}, {train, &ta.kind}}) {
    if (!sub->parsed()) continue;
    for (const char* o : {"--gate-type", "--force-double"})
      if (*kind == "decode" && sub->count(o) > 0)
        return usage(Status::error("{} shapes prefill gates, and --kind decode makes none", o));
    for (const char* o : {"--q-pooling", "--no-qk-norm"})
      if (*kind == "prefill" && sub->count(o) > 0)
        return usage(Status::error("{} shapes decode gates, and --kind prefill makes none", o));
  }
  if (init->parsed()) return run_init_gates(ig);
  if (train->parsed()) return run_train_gates(ta);
  return kExitUsage;
}

// Errors come back as Status; what still throws (an allocation past the memory, a library's exception)
// ends with a message and code 1 instead of std::terminate's abort.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "seer: error: out of memory (an allocation failed)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "seer: error: %s\n", e.what());
  }
  return kExitRuntime;
}
