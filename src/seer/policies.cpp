// ScoredPolicy and the baseline policies (dense, oracle, quest, streaming, random); see
// seer/policies.h. SPEC §3 (selection), §6.5 (Quest), §6.6 (oracle), §2.3 (always-kept blocks).
//
// Layouts:
//   q        [qo_len, num_qo_heads, head_dim]          post-RoPE (AttentionContext::q)
//   k_cache  [num_kv_heads, max_context, head_dim]     post-RoPE, valid up to kv_len
//   prefill scores [num_qo_heads, num_rows, num_blocks]; decode scores [num_kv_heads, num_blocks]
//   quest pages: min/max [num_pages, num_kv_heads, head_dim] per layer (pages appended as they fill)
#include <seer/policies.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "core/thread_pool.h"
#include "core/timer.h"
#include "kernels/cpu/block_max.h"

namespace seer {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) from a hash of the key fields.
float hash_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e) {
  uint64_t h = splitmix64(seed);
  for (uint64_t v : {a, b, c, d, e}) h = splitmix64(h ^ v);
  return float(double(h >> 40) / double(1ULL << 24));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Oracle scores (SPEC §6.6): the ground-truth kernels of gate training (kernels/cpu/block_max.h),
// 64 query rows x 512 keys of logits per thread at a time.

namespace {
AttentionParams oracle_params(const AttentionContext& ctx, BlockStat stat) {
  AttentionParams p;
  p.block_mass = stat == BlockStat::kMass;
  p.q = ctx.q;
  p.k_cache = ctx.k_cache;
  p.v_cache = ctx.v_cache;
  p.qo_len = ctx.qo_len;
  p.kv_len = ctx.kv_len;
  p.num_qo_heads = ctx.num_qo_heads;
  p.num_kv_heads = ctx.num_kv_heads;
  p.head_dim = ctx.head_dim;
  p.max_context = ctx.max_context;
  p.scale = 1.0f / std::sqrt(float(ctx.head_dim));
  return p;
}
}  // namespace

void oracle_prefill_scores(const AttentionContext& ctx, int bs, float* scores, ThreadPool* pool, BlockStat stat) {
  std::unique_ptr<ThreadPool> own;
  if (!pool) pool = (own = std::make_unique<ThreadPool>(1)).get();
  attention_block_max_2d(oracle_params(ctx, stat), bs, scores, *pool);
}

void oracle_decode_scores(const AttentionContext& ctx, int bs, float* scores, ThreadPool* pool, BlockStat stat,
                          GroupPool group_pool) {
  std::unique_ptr<ThreadPool> own;
  if (!pool) pool = (own = std::make_unique<ThreadPool>(1)).get();
  const int nb = (ctx.kv_len + bs - 1) / bs;
  std::vector<float> per_head(size_t(ctx.num_qo_heads) * nb);  // [1, num_qo_heads, num_blocks]
  const int row = ctx.qo_len - 1;
  attention_block_max_1d(oracle_params(ctx, stat), bs, &row, 1, per_head.data(), *pool);
  // Max over the GQA group (SPEC §6.6), or its sum, not renormalised: gate training's group pool of
  // that one row.
  GroundTruthRequest req;
  req.block_size = bs;
  req.group = group_pool;
  req.group_max = scores;
  const int first = 0;
  req.rows = std::span<const int>(&first, 1);
  reduce_block_max(per_head.data(), 1, ctx.kv_len, ctx.num_qo_heads, ctx.num_kv_heads, req);
}

// ---------------------------------------------------------------------------------------------
// ScoredPolicy

ScoredPolicy::ScoredPolicy(const PolicyOptions& opts, const ModelConfig& cfg) : opts_(opts), cfg_(cfg) {
  stats_.reset(cfg.num_layers);
  if (opts.decode.kind == DecodeSparsity::Kind::kBudget && !opts.decode_budget_shares.empty())
    budget_blocks_ = layer_budget_blocks(opts.decode_budget_shares, cfg.num_kv_heads, opts.start_layer,
                                         int64_t(opts.decode.value) / opts.block_size);
}

ScoredPolicy::~ScoredPolicy() = default;

ThreadPool& ScoredPolicy::pool() {
  if (session_pool_) return *session_pool_;
  if (!pool_) pool_ = std::make_unique<ThreadPool>(opts_.num_threads);
  return *pool_;
}

void ScoredPolicy::begin_forward(int start_pos, int qo_len) {
  if (start_pos == 0) reset_state();
}

void ScoredPolicy::add_device_counts(int layer, bool decode, const BlockCounts& counts) {
  if (decode)
    stats_.add_decode(layer, counts);
  else
    stats_.add_prefill(layer, counts);
}

PrefillShape ScoredPolicy::prefill_shape(const AttentionContext& ctx) const {
  PrefillShape s;
  s.first_q_block = ctx.start_pos / opts_.block_size;
  s.num_blocks = (ctx.kv_len + opts_.block_size - 1) / opts_.block_size;
  s.num_rows = s.num_blocks - s.first_q_block;
  return s;
}

Status ScoredPolicy::compute_scores(const AttentionContext& ctx, std::vector<float>* scores, bool* are_probs) {
  session_pool_ = ctx.pool;
  SEER_RETURN_IF_ERROR(observe(ctx));
  *are_probs = false;
  if (ctx.qo_len == 1) {
    scores->assign(size_t(ctx.num_kv_heads) * num_blocks(ctx), 0.0f);
    return score_decode(ctx, scores->data(), are_probs);
  }
  const PrefillShape s = prefill_shape(ctx);
  scores->assign(size_t(ctx.num_qo_heads) * s.num_rows * s.num_blocks, 0.0f);
  return score_prefill(ctx, scores->data(), are_probs);
}

Status ScoredPolicy::select(const AttentionContext& ctx, BlockSelection* sel) {
  const double t0 = now_seconds();
  Status st = select_impl(ctx, sel);
  (ctx.qo_len == 1 ? decode_seconds_ : prefill_seconds_) += now_seconds() - t0;
  return st;
}

Status ScoredPolicy::select_impl(const AttentionContext& ctx, BlockSelection* sel) {
  session_pool_ = ctx.pool;
  double t_score = now_seconds();
  SEER_RETURN_IF_ERROR(observe(ctx));
  (ctx.qo_len == 1 ? decode_score_seconds_ : prefill_score_seconds_) += now_seconds() - t_score;
  const bool decode = ctx.qo_len == 1;
  const bool dense_layer = ctx.layer < opts_.start_layer;
  BlockCounts c;
  if (decode) {
    DecodeSelectArgs a;
    a.num_heads = ctx.num_kv_heads;
    a.num_blocks = num_blocks(ctx);
    a.block_size = opts_.block_size;
    if (dense_layer || opts_.decode.kind == DecodeSparsity::Kind::kDense) {
      SEER_RETURN_IF_ERROR(select_decode(DecodeSparsity{}, a, nullptr, sel, &c));
    } else {
      scores_.assign(size_t(a.num_heads) * a.num_blocks, 0.0f);
      t_score = now_seconds();
      SEER_RETURN_IF_ERROR(score_decode(ctx, scores_.data(), &a.scores_are_probs));
      decode_score_seconds_ += now_seconds() - t_score;
      for (size_t i = 0; i < scores_.size(); ++i)
        if (std::isnan(scores_[i]))
          return Status::error("policy '{}': NaN decode score (kv head {}, block {})", name(),
                               i / size_t(a.num_blocks), i % size_t(a.num_blocks));
      if (!budget_blocks_.empty()) a.head_blocks = budget_blocks_.data() + size_t(ctx.layer) * a.num_heads;
      head_counts_.assign(size_t(a.num_heads), BlockCounts{});
      SEER_RETURN_IF_ERROR(select_decode(opts_.decode, a, scores_.data(), sel, &c, head_counts_.data()));
      stats_.add_decode_heads(ctx.layer, head_counts_.data(), a.num_heads);
    }
    stats_.add_decode(ctx.layer, c);
    return Status::ok();
  }
  const PrefillShape shape = prefill_shape(ctx);
  PrefillSelectArgs a;
  a.num_heads = ctx.num_qo_heads;
  a.first_q_block = shape.first_q_block;
  a.num_rows = shape.num_rows;
  a.num_blocks = shape.num_blocks;
  a.block_size = opts_.block_size;
  if (dense_layer || opts_.prefill.kind == PrefillSparsity::Kind::kDense) {
    SEER_RETURN_IF_ERROR(select_prefill(PrefillSparsity{}, a, nullptr, sel, &c));
  } else {
    scores_.assign(size_t(a.num_heads) * a.num_rows * a.num_blocks, 0.0f);
    t_score = now_seconds();
    SEER_RETURN_IF_ERROR(score_prefill(ctx, scores_.data(), &a.scores_are_probs));
    prefill_score_seconds_ += now_seconds() - t_score;
    for (int h = 0; h < a.num_heads; ++h)
      for (int r = 0; r < a.num_rows; ++r)
        for (int j = 0; j <= a.first_q_block + r; ++j)
          if (std::isnan(scores_[(size_t(h) * a.num_rows + r) * a.num_blocks + j]))
            return Status::error("policy '{}': NaN prefill score (qo head {}, query block {}, key block {})",
                                 name(), h, a.first_q_block + r, j);
    if (opts_.prefill.kind == PrefillSparsity::Kind::kDensity && !opts_.prefill_budget_shares.empty()) {
      if (prefill_rows_ != std::pair{a.first_q_block, a.num_blocks}) {  // (the same for every layer of a forward)
        prefill_blocks_ = prefill_budget_blocks(opts_.prefill_budget_shares, cfg_.num_qo_heads, opts_.start_layer,
                                                density_top_k(opts_.prefill.value, a.num_blocks), a.first_q_block,
                                                a.num_blocks);
        prefill_rows_ = {a.first_q_block, a.num_blocks};
      }
      a.head_blocks = prefill_blocks_.data() + size_t(ctx.layer) * a.num_heads;
    }
    head_counts_.assign(size_t(a.num_heads), BlockCounts{});
    SEER_RETURN_IF_ERROR(select_prefill(opts_.prefill, a, scores_.data(), sel, &c, head_counts_.data()));
    stats_.add_prefill_heads(ctx.layer, head_counts_.data(), a.num_heads);
  }
  stats_.add_prefill(ctx.layer, c);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Policies

namespace {

class DensePolicy final : public ScoredPolicy {
 public:
  using ScoredPolicy::ScoredPolicy;
  const char* name() const override { return "dense"; }

 protected:
  Status score_prefill(const AttentionContext&, float*, bool*) override {
    return Status::error("dense policy: no scores");  // unreachable: options are forced dense
  }
  Status score_decode(const AttentionContext&, float*, bool*) override {
    return Status::error("dense policy: no scores");
  }
};

class OraclePolicy final : public ScoredPolicy {
 public:
  // name: oracle[-mass][-sum] (the block's mass instead of its max; the decode group's sum instead of its max).
  OraclePolicy(const PolicyOptions& opts, const ModelConfig& cfg, std::string name)
      : ScoredPolicy(opts, cfg),
        name_(std::move(name)),
        stat_(name_.find("-mass") != std::string::npos ? BlockStat::kMass : BlockStat::kMax),
        group_(name_.ends_with("-sum") ? GroupPool::kSum : GroupPool::kMax) {}
  const char* name() const override { return name_.c_str(); }
  // A GPU session computes the statistics itself (scores_from_attention), for every layer that reads
  // them: no host copy of the K cache is needed there. The CPU path reads q and k_cache.
  bool needs_kv_cache() const override { return false; }
  // The same statistics from a GPU session's own kernels (AttentionContext::block_scores), for the
  // layers that select: not below start_layer, not in a dense phase.
  bool scores_from_attention(const AttentionContext& ctx, GroundTruthRequest* req) const override {
    const bool dense_phase = ctx.qo_len == 1 ? opts_.decode.kind == DecodeSparsity::Kind::kDense
                                             : opts_.prefill.kind == PrefillSparsity::Kind::kDense;
    if (dense_phase || ctx.layer < opts_.start_layer) return false;
    req->block_size = opts_.block_size;
    req->stat = stat_;
    req->group = group_;
    return true;
  }

 protected:
  Status score_prefill(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    *are_probs = true;
    if (ctx.block_scores) {
      const PrefillShape s = prefill_shape(ctx);
      std::copy_n(ctx.block_scores, size_t(ctx.num_qo_heads) * s.num_rows * s.num_blocks, scores);
      return Status::ok();
    }
    if (!ctx.q || !ctx.k_cache) return Status::error("policy '{}': neither block scores nor q and the K cache", name_);
    oracle_prefill_scores(ctx, opts_.block_size, scores, &pool(), stat_);
    return Status::ok();
  }
  Status score_decode(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    *are_probs = true;
    if (ctx.block_scores) {
      std::copy_n(ctx.block_scores, size_t(ctx.num_kv_heads) * num_blocks(ctx), scores);
      return Status::ok();
    }
    if (!ctx.q || !ctx.k_cache) return Status::error("policy '{}': neither block scores nor q and the K cache", name_);
    oracle_decode_scores(ctx, opts_.block_size, scores, &pool(), stat_, group_);
    return Status::ok();
  }

 private:
  std::string name_;
  BlockStat stat_;
  GroupPool group_;
};

class QuestPolicy final : public ScoredPolicy {
 public:
  using ScoredPolicy::ScoredPolicy;
  const char* name() const override { return "quest"; }
  bool needs_kv_cache() const override { return true; }

  // Page metadata of one layer: [num_pages, num_kv_heads, head_dim] each.
  struct Pages {
    std::vector<float> kmin, kmax;
    int tokens = 0;  // keys [0, tokens) are folded in
  };

 protected:
  void reset_state() override { layers_.clear(); }

  Status observe(const AttentionContext& ctx) override {
    if (ctx.layer >= int(layers_.size())) layers_.resize(size_t(ctx.layer) + 1);
    Pages& pg = layers_[size_t(ctx.layer)];
    const int bs = opts_.block_size, d = ctx.head_dim, Hkv = ctx.num_kv_heads;
    if (ctx.start_pos != pg.tokens) pg = Pages{};  // not a continuation: rebuild from the cache
    const int pages = (ctx.kv_len + bs - 1) / bs;
    const size_t per_page = size_t(Hkv) * d;
    pg.kmin.resize(size_t(pages) * per_page, std::numeric_limits<float>::infinity());
    pg.kmax.resize(size_t(pages) * per_page, -std::numeric_limits<float>::infinity());
    for (int h = 0; h < Hkv; ++h) {
      const float* kh = ctx.k_cache + size_t(h) * ctx.max_context * d;
      for (int t = pg.tokens; t < ctx.kv_len; ++t) {
        float* mn = pg.kmin.data() + size_t(t / bs) * per_page + size_t(h) * d;
        float* mx = pg.kmax.data() + size_t(t / bs) * per_page + size_t(h) * d;
        const float* k = kh + size_t(t) * d;
        for (int c = 0; c < d; ++c) {
          mn[c] = std::min(mn[c], k[c]);
          mx[c] = std::max(mx[c], k[c]);
        }
      }
    }
    pg.tokens = ctx.kv_len;
    return Status::ok();
  }

  // Σ_d max(q_d·min_d, q_d·max_d) · scale for pages [0, n) of KV head h.
  void bound(const Pages& pg, const float* q, int h, int Hkv, int d, int n, float scale, float* out) const {
    const size_t per_page = size_t(Hkv) * d;
    for (int j = 0; j < n; ++j) {
      const float* mn = pg.kmin.data() + size_t(j) * per_page + size_t(h) * d;
      const float* mx = pg.kmax.data() + size_t(j) * per_page + size_t(h) * d;
      float s = 0.0f;
      for (int c = 0; c < d; ++c) s += std::max(q[c] * mn[c], q[c] * mx[c]);
      out[j] = s * scale;
    }
  }

  Status score_prefill(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    const Pages& pg = layers_[size_t(ctx.layer)];
    const PrefillShape s = prefill_shape(ctx);
    const int bs = opts_.block_size, d = ctx.head_dim, Hq = ctx.num_qo_heads;
    const int group = Hq / ctx.num_kv_heads;
    const float scale = 1.0f / std::sqrt(float(d));
    std::vector<float> qmean(static_cast<size_t>(d));
    for (int h = 0; h < Hq; ++h)
      for (int r = 0; r < s.num_rows; ++r) {
        const int qb = s.first_q_block + r;
        const int t0 = std::max(qb * bs, ctx.start_pos) - ctx.start_pos;
        const int t1 = std::min((qb + 1) * bs, ctx.kv_len) - ctx.start_pos;
        std::fill(qmean.begin(), qmean.end(), 0.0f);
        for (int t = t0; t < t1; ++t) {
          const float* q = ctx.q + (size_t(t) * Hq + h) * d;
          for (int c = 0; c < d; ++c) qmean[size_t(c)] += q[c];
        }
        for (auto& v : qmean) v /= float(t1 - t0);
        bound(pg, qmean.data(), h / group, ctx.num_kv_heads, d, qb + 1, scale,
              scores + (size_t(h) * s.num_rows + r) * s.num_blocks);
      }
    *are_probs = false;
    return Status::ok();
  }

  Status score_decode(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    const Pages& pg = layers_[size_t(ctx.layer)];
    const int nb = num_blocks(ctx), d = ctx.head_dim, group = ctx.num_qo_heads / ctx.num_kv_heads;
    const float scale = 1.0f / std::sqrt(float(d));
    std::vector<float> row(static_cast<size_t>(nb));
    for (int hk = 0; hk < ctx.num_kv_heads; ++hk) {
      float* out = scores + size_t(hk) * nb;
      std::fill(out, out + nb, -std::numeric_limits<float>::infinity());
      for (int g = 0; g < group; ++g) {
        bound(pg, ctx.q + size_t(hk * group + g) * d, hk, ctx.num_kv_heads, d, nb, scale, row.data());
        for (int j = 0; j < nb; ++j) out[j] = std::max(out[j], row[size_t(j)]);
      }
    }
    *are_probs = false;
    return Status::ok();
  }

 private:
  std::vector<Pages> layers_;
};

class StreamingPolicy final : public ScoredPolicy {
 public:
  using ScoredPolicy::ScoredPolicy;
  const char* name() const override { return "streaming"; }

 protected:
  // Row of query block qb: sink first (qb + 1), then recency (block j scores j).
  static void ramp(float* out, int qb) {
    out[0] = float(qb + 1);
    for (int j = 1; j <= qb; ++j) out[j] = float(j);
  }
  Status score_prefill(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    const PrefillShape s = prefill_shape(ctx);
    for (int h = 0; h < ctx.num_qo_heads; ++h)
      for (int r = 0; r < s.num_rows; ++r)
        ramp(scores + (size_t(h) * s.num_rows + r) * s.num_blocks, s.first_q_block + r);
    *are_probs = false;
    return Status::ok();
  }
  Status score_decode(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    const int nb = num_blocks(ctx);
    for (int h = 0; h < ctx.num_kv_heads; ++h) ramp(scores + size_t(h) * nb, nb - 1);
    *are_probs = false;
    return Status::ok();
  }
};

class RandomPolicy final : public ScoredPolicy {
 public:
  using ScoredPolicy::ScoredPolicy;
  const char* name() const override { return "random"; }

 protected:
  Status score_prefill(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    const PrefillShape s = prefill_shape(ctx);
    for (int h = 0; h < ctx.num_qo_heads; ++h)
      for (int r = 0; r < s.num_rows; ++r) {
        const int qb = s.first_q_block + r;
        float* out = scores + (size_t(h) * s.num_rows + r) * s.num_blocks;
        for (int j = 0; j <= qb; ++j)
          out[j] = hash_uniform(opts_.seed, uint64_t(ctx.layer), uint64_t(h), uint64_t(qb),
                                uint64_t(ctx.kv_len), uint64_t(j));
      }
    *are_probs = false;
    return Status::ok();
  }
  Status score_decode(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    const int nb = num_blocks(ctx);
    for (int h = 0; h < ctx.num_kv_heads; ++h)
      for (int j = 0; j < nb; ++j)
        scores[size_t(h) * nb + j] = hash_uniform(opts_.seed ^ 0x5eedULL, uint64_t(ctx.layer), uint64_t(h),
                                                  uint64_t(nb - 1), uint64_t(ctx.kv_len), uint64_t(j));
    *are_probs = false;
    return Status::ok();
  }
};

}  // namespace

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> kNames = {"dense",           "gate",  "oracle",    "oracle-mass", "oracle-sum",
                                                  "oracle-mass-sum", "quest", "streaming", "random"};
  return kNames;
}

Result<std::shared_ptr<ScoredPolicy>> make_gate_policy(const PolicyOptions& opts, const ModelConfig& cfg,
                                                       const GateBundle& gates);  // gate_policy.cpp

Result<std::shared_ptr<ScoredPolicy>> make_policy(const std::string& name, const PolicyOptions& opts,
                                                  const ModelConfig& cfg, const GateBundle& gates) {
  if (opts.block_size < 1 || opts.block_size > 1024)
    return Status::error("policy '{}': block size {} is outside [1, 1024]", name, opts.block_size);
  if (opts.start_layer < 0)
    return Status::error("policy '{}': start layer {} is negative", name, opts.start_layer);
  // Options built in code rather than parsed get the parsers' range checks.
  {
    const auto pre = PrefillSparsity::parse(opts.prefill.to_string());
    if (!pre.is_ok()) return Status::error("policy '{}': {}", name, pre.status().message());
    const auto dec = DecodeSparsity::parse(opts.decode.to_string());
    if (!dec.is_ok() || (opts.decode.kind == DecodeSparsity::Kind::kBudget && opts.decode.value != std::floor(opts.decode.value)))
      return Status::error("policy '{}': {}", name,
                           dec.is_ok() ? "--decode-sparsity budget must be a whole number of tokens" : dec.status().message());
  }
  for (const bool decode : {false, true}) {
    const std::vector<float>& shares = decode ? opts.decode_budget_shares : opts.prefill_budget_shares;
    const int heads = decode ? cfg.num_kv_heads : cfg.num_qo_heads;
    const char* phase = decode ? "decode" : "prefill";
    const char* head = decode ? "KV head" : "query head";
    if (shares.empty()) continue;
    const size_t n = size_t(cfg.num_layers) * size_t(heads);
    if (shares.size() != n)
      return Status::error("policy '{}': {} {} budget shares for a model of {} layers x {} {}s ({})", name,
                           shares.size(), phase, cfg.num_layers, heads, head, n);
    for (size_t i = 0; i < n; ++i)
      if (!(std::isfinite(shares[i]) && shares[i] > 0.0f))
        return Status::error("policy '{}': {} budget share {} (layer {}, {} {}) must be a positive number", name,
                             phase, shares[i], i / size_t(heads), head, i % size_t(heads));
  }
  if (name == "dense") {
    PolicyOptions o = opts;
    o.prefill = PrefillSparsity{};
    o.decode = DecodeSparsity{};
    return std::shared_ptr<ScoredPolicy>(std::make_shared<DensePolicy>(o, cfg));
  }
  if (name == "gate") return make_gate_policy(opts, cfg, gates);
  if (name == "oracle" || name == "oracle-mass" || name == "oracle-sum" || name == "oracle-mass-sum")
    return std::shared_ptr<ScoredPolicy>(std::make_shared<OraclePolicy>(opts, cfg, name));
  if (name == "quest") return std::shared_ptr<ScoredPolicy>(std::make_shared<QuestPolicy>(opts, cfg));
  if (name == "streaming") {
    if (opts.prefill.reads_softmax() || opts.decode.reads_softmax())
      return Status::error(
          "policy 'streaming' ranks blocks by recency and has no probabilities for threshold or mass:P; use "
          "density:ρ / budget:N (got prefill '{}', decode '{}')",
          opts.prefill.to_string(), opts.decode.to_string());
    return std::shared_ptr<ScoredPolicy>(std::make_shared<StreamingPolicy>(opts, cfg));
  }
  if (name == "random") return std::shared_ptr<ScoredPolicy>(std::make_shared<RandomPolicy>(opts, cfg));
  std::string valid;
  for (const auto& n : policy_names()) valid += (valid.empty() ? "" : ", ") + n;
  return Status::error("unknown attention policy '{}' (valid: {})", name, valid);
}

}  // namespace seer
