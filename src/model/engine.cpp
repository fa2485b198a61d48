// Session: the transformer forward over a KV cache (Llama / Qwen2 / Qwen3); see seer/engine.h.
//
// Per layer, for n new tokens (token-major activations):
//   h = rmsnorm(x) ; q,k,v = h·Wqᵀ,h·Wkᵀ,h·Wvᵀ (+bias) ; [q_norm/k_norm per head] ;
//   policy sees pre-RoPE q,k ; RoPE ; k,v -> cache ; attention over the selected blocks ;
//   x += attn·Woᵀ ; h = rmsnorm(x) ; x += (silu(h·Wgᵀ) * h·Wuᵀ)·Wdᵀ
#include <seer/attention.h>
#include <seer/engine.h>
#include <seer/generate.h>
#include <seer/perplexity.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/huge_pages.h"
#include "core/thread_pool.h"
#include "core/timer.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/cuda_forward.h"

namespace seer {

namespace {
constexpr int kBlockSize = 64;     // attention block size of the dense selection
constexpr int64_t kFfnChunk = 1024;  // tokens per FFN chunk, bounds the [n, intermediate] buffers
}  // namespace

struct Session::Impl {
  const Model* model = nullptr;
  ModelConfig cfg;
  int max_context = 0;
  int pos = 0;
  std::unique_ptr<ThreadPool> pool;
  std::shared_ptr<AttentionPolicy> policy;
  std::vector<float> inv_freq;
  float rope_scale = 1.0f;
  // KV cache per layer: [num_kv_heads, max_context, head_dim]
  std::vector<std::vector<float, HugePageAllocator<float>>> k_cache, v_cache;
  // Scratch (token-major)
  std::vector<float> x, h, q, k, v, q_nope, k_nope, attn, g, u, ffn_out, cos_t, sin_t, logits;
  std::vector<float> block_max;  // [n, Hq, nb] a training policy's ground truth (GroundTruthRequest)
  std::vector<int> positions;
  BlockSelection dense_sel, sel;  // every causal block (built once per forward); a policy's choice
  double attention_seconds = 0.0;
  // Decode layouts of the quantised matrices, keyed by their data pointer.
  std::unordered_map<const void*, PackedWeight> packed;
  std::unique_ptr<CudaForward> gpu;  // Device::kCuda: the forward runs there, nothing above is used
  std::vector<float> gpu_logits;
  const PackedWeight* packed_of(const Weight& w) const {
    auto it = packed.find(w.data);
    return it == packed.end() ? nullptr : &it->second;
  }
  void mm(const Weight& w, const float* x, float* y, int64_t n) { matmul(w, x, y, n, *pool, packed_of(w)); }
  // fn(t0, count) over [0, n) tokens: in chunks on the pool for a long prompt (the row-wise ops, RMSNorm,
  // RoPE and SiLU·up, would otherwise leave the other threads idle), at once for a short one.
  template <class Fn>
  void by_tokens(int64_t n, Fn&& fn) {
    constexpr int64_t kChunk = 32;
    if (n < 4 * kChunk) return fn(int64_t(0), n);
    pool->parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c, int) { fn(c * kChunk, std::min(kChunk, n - c * kChunk)); });
  }
  // Weights that read the same input (Q/K/V, gate/up): one job on the pool in decode.
  void mm_shared(std::initializer_list<std::pair<const Weight*, float*>> wy, const float* x, int64_t n) {
    MatmulTarget t[kMaxMatmulTargets];
    SEER_ASSERT(wy.size() <= size_t(kMaxMatmulTargets));
    int count = 0;
    for (const auto& [w, y] : wy) t[count++] = {w, packed_of(*w), y};
    matmul_shared_input(t, count, x, n, *pool);
  }

  // logits_on_device (GPU sessions): the logits stay on the GPU for CudaForward::sample_last.
  Status forward(std::span<const int> tokens, Logits which, std::span<const float>* out, bool logits_on_device = false);
};

namespace {
// MemAvailable of /proc/meminfo in GiB, or -1 where the system does not say.
double available_memory_gib() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  long long kib = 0;
  std::string unit;
  while (f >> key >> kib) {
    std::getline(f, unit);
    if (key == "MemAvailable:") return double(kib) / double(1 << 20);
  }
  return -1.0;
}
}  // namespace

Session::Session() : impl_(std::make_unique<Impl>()) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(const Model& model, SessionOptions opts) {
  const ModelConfig& c = model.config;
  if (c.num_layers <= 0 || c.num_qo_heads <= 0 || c.num_kv_heads <= 0 || c.head_dim <= 0 ||
      c.num_qo_heads % c.num_kv_heads != 0 || c.head_dim % 2 != 0)
    return Status::error("{}: invalid model configuration (layers {}, heads {}/{}, head_dim {})",
                         model.path, c.num_layers, c.num_qo_heads, c.num_kv_heads, c.head_dim);
  int ctx = opts.max_context > 0 ? opts.max_context : c.max_position;
  if (ctx <= 0) ctx = 4096;
  const size_t per_layer = size_t(c.num_kv_heads) * ctx * c.head_dim;
  const double gib = 2.0 * c.num_layers * per_layer * sizeof(float) / double(1 << 30);
  // The host's cache, against the memory the system has available where it says (a request beyond it
  // was killed by the kernel mid-run). The GPU's bf16 cache, with the weights, is checked against the
  // GPU's free memory by CudaForward.
  const double avail = opts.device == Device::kCuda ? -1.0 : available_memory_gib();
  if (opts.device != Device::kCuda && (gib > 64.0 || (avail >= 0.0 && gib > avail)))
    return Status::error("{}: a KV cache of {} tokens needs {:.1f} GiB ({}); pass a smaller context", model.path, ctx,
                         gib, avail >= 0.0 ? fmt::format("{:.1f} GiB of memory available", avail) : "64 GiB at most");
  matmul_init();
  std::unique_ptr<Session> s(new Session());
  Impl& m = *s->impl_;
  m.model = &model;
  m.cfg = c;
  m.max_context = ctx;
  m.pool = std::make_unique<ThreadPool>(opts.num_threads);
  m.policy = std::move(opts.policy);
  m.inv_freq = rope_inv_freq(c, &m.rope_scale);
  if (opts.device == Device::kCuda) {
    SEER_ASSIGN_OR_RETURN(m.gpu, CudaForward::create(c, model.weights, ctx));
    SEER_RETURN_IF_ERROR(m.gpu->prepare(m.policy.get()));  // the gates' setup before the first forward's clock
    return s;
  }
  m.k_cache.resize(size_t(c.num_layers));
  m.v_cache.resize(size_t(c.num_layers));
  if (opts.int8_matmul) {
    std::vector<const Weight*> mats = {&model.weights.output};
    for (const LayerWeights& L : model.weights.layers)
      for (const Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) mats.push_back(w);
    for (const Weight* w : mats) {
      PackedWeight pw;
      if (!m.packed.count(w->data) && pack_weight(*w, &pw)) m.packed.emplace(w->data, std::move(pw));
    }
  }
  for (int l = 0; l < c.num_layers; ++l) {
    m.k_cache[size_t(l)].assign(per_layer, 0.0f);
    m.v_cache[size_t(l)].assign(per_layer, 0.0f);
  }
  return s;
}

int Session::pos() const { return impl_->pos; }
double Session::attention_seconds() const { return impl_->attention_seconds; }
void Session::reset_attention_seconds() { impl_->attention_seconds = 0.0; }
int Session::max_context() const { return impl_->max_context; }
void Session::reset() { impl_->pos = 0; }
const Model& Session::model() const { return *impl_->model; }
AttentionPolicy* Session::policy() const { return impl_->policy.get(); }
void Session::set_policy(std::shared_ptr<AttentionPolicy> p) {
  impl_->policy = std::move(p);
  // GPU: the gates' setup now rather than in the next forward; an error comes back from that forward.
  if (impl_->gpu) (void)impl_->gpu->prepare(impl_->policy.get());
}
Device Session::device() const { return impl_->gpu ? Device::kCuda : Device::kCpu; }

Result<std::span<const float>> Session::forward(std::span<const int> tokens, Logits which) {
  std::span<const float> out;
  SEER_RETURN_IF_ERROR(impl_->forward(tokens, which, &out));
  return out;
}

Result<int> Session::forward_sample(std::span<const int> tokens, Sampler& sampler) {
  Impl& m = *impl_;
  if (m.gpu && !tokens.empty() && sampler.device_ok(m.cfg.vocab_size)) {
    std::span<const float> none;
    SEER_RETURN_IF_ERROR(m.forward(tokens, Logits::kLast, &none, /*logits_on_device=*/true));
    const SamplingParams& sp = sampler.params();
    const double u = sp.temperature > 0.0f ? sampler.draw() : 0.0;
    int token = 0;
    SEER_RETURN_IF_ERROR(m.gpu->sample_last(sp.temperature, sp.top_k, sp.top_p, u, &token));
    return token;
  }
  SEER_ASSIGN_OR_RETURN(auto logits, forward(tokens, Logits::kLast));
  if (logits.empty()) return Status::error("forward_sample: no tokens to sample after");
  return sampler.sample(logits);
}

Result<double> Session::forward_nll(std::span<const int> tokens, int first, std::span<const int> targets) {
  Impl& m = *impl_;
  const size_t n = tokens.size(), k = targets.size();
  if (first < 0 || size_t(first) + k > n)
    return Status::error("forward_nll: positions [{}, {}) of {} new tokens", first, size_t(first) + k, n);
  const int V = m.cfg.vocab_size;
  for (const int t : targets)
    if (t < 0 || t >= V) return Status::error("forward_nll: target token {} is outside the vocabulary of {}", t, V);
  const bool last_only = k == 1 && size_t(first) + 1 == n;
  const Logits which = k == 0 ? Logits::kNone : last_only ? Logits::kLast : Logits::kAll;
  if (last_only) first = 0;  // the one row the forward leaves
  std::vector<double> nll(k);
  if (m.gpu) {  // the logits stay on the GPU, which scores them
    std::span<const float> none;
    SEER_RETURN_IF_ERROR(m.forward(tokens, which, &none, /*logits_on_device=*/true));
    if (k > 0) SEER_RETURN_IF_ERROR(m.gpu->token_nll(first, targets, &nll));
  } else {
    SEER_ASSIGN_OR_RETURN(auto logits, forward(tokens, which));
    m.pool->parallel_for(int64_t(k), [&](int64_t i, int) {
      nll[size_t(i)] = token_nll(logits.data() + (size_t(first) + size_t(i)) * size_t(V), V, targets[size_t(i)]);
    });
  }
  double sum = 0.0;
  for (const double x : nll) sum += x;
  return sum;
}

Status Session::Impl::forward(std::span<const int> tokens, Logits which, std::span<const float>* out,
                              bool logits_on_device) {
  const int64_t n = int64_t(tokens.size());
  *out = {};
  if (n == 0) return Status::ok();
  if (pos + n > max_context)
    return Status::error("context is full: {} tokens in the cache + {} new > {} (the session's context)",
                         pos, n, max_context);
  for (int64_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || tokens[t] >= cfg.vocab_size)
      return Status::error("token id {} at index {} is outside the vocabulary [0, {})", tokens[t], t,
                           cfg.vocab_size);

  if (gpu) {
    SEER_RETURN_IF_ERROR(
        gpu->forward(tokens, pos, which, policy.get(), pool.get(), logits_on_device ? nullptr : &gpu_logits));
    pos += int(n);
    if (!logits_on_device) *out = std::span<const float>(gpu_logits.data(), gpu_logits.size());
    return Status::ok();
  }
  const ModelWeights& W = model->weights;
  const int D = cfg.hidden_size, Hq = cfg.num_qo_heads, Hkv = cfg.num_kv_heads, d = cfg.head_dim;
  const int qdim = Hq * d, kvdim = Hkv * d, F = cfg.intermediate_size;
  const int start = pos, kv_len = pos + int(n);
  ThreadPool& tp = *pool;

  x.resize(size_t(n * D));
  h.resize(size_t(n * D));
  q.resize(size_t(n * qdim));
  k.resize(size_t(n * kvdim));
  v.resize(size_t(n * kvdim));
  attn.resize(size_t(n * qdim));
  const int64_t fc = std::min(n, kFfnChunk);
  g.resize(size_t(fc * F));
  u.resize(size_t(fc * F));
  ffn_out.resize(size_t(fc * D));
  positions.resize(size_t(n));
  for (int64_t t = 0; t < n; ++t) positions[size_t(t)] = start + int(t);
  cos_t.resize(size_t(n * d / 2));
  sin_t.resize(size_t(n * d / 2));
  rope_tables(inv_freq, rope_scale, positions.data(), n, cos_t.data(), sin_t.data());
  if (policy) {
    q_nope.resize(q.size());
    k_nope.resize(k.size());
    policy->begin_forward(start, int(n));
  }

  embed_rows(W.tok_embd, tokens.data(), n, x.data());

  AttentionParams ap;
  ap.qo_len = int(n);
  ap.kv_len = kv_len;
  ap.num_qo_heads = Hq;
  ap.num_kv_heads = Hkv;
  ap.head_dim = d;
  ap.max_context = max_context;
  ap.scale = 1.0f / std::sqrt(float(d));
  ap.q = q.data();
  ap.out = attn.data();

  // Dense selection, the same for every layer: per KV head for a decode step (the GQA group shares
  // one row), per query head and touched query block for a prefill.
  const int first_qb = start / kBlockSize;
  const int q_rows = (kv_len - 1) / kBlockSize - first_qb + 1;
  if (n == 1)
    dense_sel.set_dense(Hkv, true, first_qb, q_rows, kBlockSize);
  else
    dense_sel.set_dense(Hq, false, first_qb, q_rows, kBlockSize);

  for (int l = 0; l < cfg.num_layers; ++l) {
    const LayerWeights& L = W.layers[size_t(l)];
    if (policy) policy->prefetch(l, int(n));
    by_tokens(n, [&](int64_t t0, int64_t m) {
      rmsnorm(x.data() + t0 * D, L.attn_norm.f32(), h.data() + t0 * D, m, D, cfg.rms_eps);
    });
    mm_shared({{&L.wq, q.data()}, {&L.wk, k.data()}, {&L.wv, v.data()}}, h.data(), n);
    if (!L.bq.empty()) add_bias(q.data(), L.bq.f32(), n, qdim);
    if (!L.bk.empty()) add_bias(k.data(), L.bk.f32(), n, kvdim);
    if (!L.bv.empty()) add_bias(v.data(), L.bv.f32(), n, kvdim);
    if (!L.q_norm.empty()) rmsnorm(q.data(), L.q_norm.f32(), q.data(), n * Hq, d, cfg.rms_eps);
    if (!L.k_norm.empty()) rmsnorm(k.data(), L.k_norm.f32(), k.data(), n * Hkv, d, cfg.rms_eps);
    if (policy) {
      std::copy(q.begin(), q.end(), q_nope.begin());
      std::copy(k.begin(), k.end(), k_nope.begin());
    }
    by_tokens(n, [&](int64_t t0, int64_t m) {
      const int64_t cs = t0 * (d / 2);  // cos_t, sin_t [n, d/2]
      rope_apply(q.data() + t0 * Hq * d, m, Hq, d, cos_t.data() + cs, sin_t.data() + cs);
      rope_apply(k.data() + t0 * Hkv * d, m, Hkv, d, cos_t.data() + cs, sin_t.data() + cs);
    });
    // k,v [n, Hkv, d] -> cache [Hkv, max_context, d]
    float* kc = k_cache[size_t(l)].data();
    float* vc = v_cache[size_t(l)].data();
    for (int64_t t = 0; t < n; ++t)
      for (int hh = 0; hh < Hkv; ++hh) {
        const size_t dst = (size_t(hh) * max_context + start + t) * d;
        std::copy_n(k.data() + (t * Hkv + hh) * d, d, kc + dst);
        std::copy_n(v.data() + (t * Hkv + hh) * d, d, vc + dst);
      }

    const BlockSelection* use = &dense_sel;
    AttentionContext ctx;
    GroundTruthRequest gt;
    ap.block_max = nullptr;
    if (policy) {
      sel = dense_sel;
      ctx = AttentionContext::shape(l, int(n), kv_len, Hq, Hkv, d, max_context);
      ctx.q_nope = q_nope.data();
      ctx.k_nope = k_nope.data();
      ctx.q = q.data();
      ctx.k_cache = kc;
      ctx.v_cache = vc;
      ctx.pool = &tp;
      SEER_RETURN_IF_ERROR(policy->select(ctx, &sel).with_context(fmt::format("layer {}", l)));
      use = &sel;
      if (n > 1 && policy->ground_truth(ctx, &gt)) {
        block_max.resize(size_t(n) * Hq * ((kv_len + gt.block_size - 1) / gt.block_size));
        ap.block_max = block_max.data();
        ap.block_max_size = gt.block_size;
        ap.block_mass = gt.stat == BlockStat::kMass;
      }
    }
    ap.k_cache = kc;
    ap.v_cache = vc;
    const double t_attn = now_seconds();
    attention(ap, *use, tp);
    attention_seconds += now_seconds() - t_attn;
    if (ap.block_max) {
      reduce_block_max(ap.block_max, int(n), kv_len, Hq, Hkv, gt);
      SEER_RETURN_IF_ERROR(policy->after_attention(ctx).with_context(fmt::format("layer {}", l)));
    }
    mm(L.wo, attn.data(), h.data(), n);
    for (int64_t i = 0; i < n * D; ++i) x[size_t(i)] += h[size_t(i)];

    by_tokens(n, [&](int64_t t0, int64_t m) {
      rmsnorm(x.data() + t0 * D, L.ffn_norm.f32(), h.data() + t0 * D, m, D, cfg.rms_eps);
    });
    for (int64_t t0 = 0; t0 < n; t0 += kFfnChunk) {
      const int64_t m = std::min(kFfnChunk, n - t0);
      mm_shared({{&L.w_gate, g.data()}, {&L.w_up, u.data()}}, h.data() + t0 * D, m);
      by_tokens(m, [&](int64_t c0, int64_t cm) { silu_mul(g.data() + c0 * F, u.data() + c0 * F, cm, F); });
      mm(L.w_down, g.data(), ffn_out.data(), m);
      for (int64_t i = 0; i < m * D; ++i) x[size_t(t0 * D + i)] += ffn_out[size_t(i)];
    }
  }
  pos = kv_len;

  if (which == Logits::kNone) return Status::ok();
  const int64_t first = which == Logits::kLast ? n - 1 : 0;
  const int64_t rows_out = n - first;
  rmsnorm(x.data() + first * D, W.out_norm.f32(), h.data(), rows_out, D, cfg.rms_eps);
  logits.resize(size_t(rows_out * cfg.vocab_size));
  mm(W.output, h.data(), logits.data(), rows_out);
  *out = std::span<const float>(logits.data(), logits.size());
  return Status::ok();
}

}  // namespace seer
