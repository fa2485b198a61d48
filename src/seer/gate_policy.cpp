// The `gate` policy: learned AttnGates choose the key blocks (SPEC §1-§3).
//  * prefill (qo_len > 1): the prefill gate's logits (or probabilities for a threshold) per qo head
//    and query block, [num_qo_heads, num_rows, num_blocks]; its pooled-K store absorbs every
//    forward, decode steps included, so a later prefill chunk sees the whole context.
//  * decode (qo_len == 1): the decode gate's logits per KV head against the K-compression cache,
//    [num_kv_heads, num_blocks]; the cache is updated on every forward and every layer (dense
//    layers and the prefill too), as SeerAttention-R's does.
// Selection, forced blocks and density accounting are ScoredPolicy's, shared with every policy.
// Decode steps only add K to the prefill gate's pooled store (no scoring: a single-token "prefill"
// is never sparse, as upstream's gate returns None for T == 1).
#include <seer/gates.h>
#include <seer/policies.h>

#include <filesystem>

namespace seer {

int GateBundle::block_size() const {
  if (prefill) return prefill->config.block_size;
  if (decode) return decode->config.block_size;
  return 0;
}

Result<GateBundle> load_gate_bundle(const std::string& dir, const ModelConfig& model, const char* flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::error("{} {}: not a directory", flag, dir);
  GateBundle b;
  auto load_one = [&](const std::string& d) -> Status {
    SEER_ASSIGN_OR_RETURN(GateSet g, load_gates(d, model));
    auto ptr = std::make_shared<const GateSet>(std::move(g));
    auto& slot = ptr->config.kind == GateKind::kPrefill ? b.prefill : b.decode;
    if (slot) return Status::error("{} {}: two {} gates", flag, dir, gate_kind_name(ptr->config.kind));
    slot = std::move(ptr);
    return Status::ok();
  };
  if (fs::exists(fs::path(dir) / "config.json", ec)) {
    SEER_RETURN_IF_ERROR(load_one(dir));
  } else {
    for (const char* sub : {"prefill", "decode"}) {
      const fs::path p = fs::path(dir) / sub;
      if (fs::exists(p / "config.json", ec)) SEER_RETURN_IF_ERROR(load_one(p.string()));
    }
    if (!b.prefill && !b.decode)
      return Status::error("{} {}: no gate checkpoint (expected config.json, or prefill/ and/or decode/ with one)",
                           flag, dir);
  }
  if (b.prefill && b.decode && b.prefill->config.block_size != b.decode->config.block_size)
    return Status::error("{} {}: the prefill gate's block size {} differs from the decode gate's {}", flag, dir,
                         b.prefill->config.block_size, b.decode->config.block_size);
  return b;
}

namespace {

class GatePolicy : public ScoredPolicy {
 public:
  GatePolicy(const PolicyOptions& opts, const ModelConfig& cfg, GateBundle gates)
      : ScoredPolicy(opts, cfg), gates_(std::move(gates)) {
    if (gates_.prefill) prefill_ = std::make_unique<PrefillGate>(*gates_.prefill);
    if (gates_.decode) {
      KCacheOptions co;
      co.bf16_scoring = true;  // half the bytes per decode step (see KCacheOptions)
      co.int8_entries = opts.gate_cache_int8;
      co.upstream_decode_rope_position = opts.gate_upstream_rope_position;
      cache_ = std::make_unique<KCompressionCache>(*gates_.decode, co);
    }
    device_.prefill = gates_.prefill.get();
    device_.decode = gates_.decode.get();
    device_.options = opts;
  }
  const char* name() const override { return "gate"; }
  bool needs_pre_rope_qk() const override { return true; }  // the gates pool and project them
  const DeviceGateSpec* device_gates() const override { return &device_; }
  // A decode step's scoring reads the layer's query projection and compressed entries (~120 KB per layer at
  // SmolLM2's 8k), which the other layers' weights have pushed out of every cache. Asked for before the
  // layer's Q/K/V products, they arrive while those run.
  void prefetch(int layer, int qo_len) const override {
    if (qo_len == 1 && cache_) cache_->prefetch(layer);
  }

 protected:
  void reset_state() override {
    if (prefill_) prefill_->reset();
    if (cache_) cache_->reset();
  }

  Status observe(const AttentionContext& ctx) override {
    if (cache_ && cache_->length(ctx.layer) != ctx.kv_len)
      SEER_RETURN_IF_ERROR(cache_->update(ctx.layer, ctx.k_nope, ctx.qo_len, ctx.start_pos));
    // The prefill gate scores while it absorbs K; keep the scores for score_prefill.
    if (prefill_ && prefill_->length(ctx.layer) != ctx.kv_len && ctx.qo_len == 1)
      return prefill_->absorb(ctx.layer, ctx.k_nope, ctx.qo_len, ctx.start_pos);
    if (prefill_ && prefill_->length(ctx.layer) != ctx.kv_len) {
      const bool probs = opts_.prefill.reads_softmax();
      SEER_RETURN_IF_ERROR(prefill_->forward(ctx.layer, ctx.q_nope, ctx.k_nope, ctx.qo_len, ctx.start_pos, probs,
                                             &prefill_scores_, &pool()));
    }
    return Status::ok();
  }

  Status score_prefill(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    if (!prefill_) return Status::error("the gate policy has no prefill gate; use --prefill-sparsity dense");
    const PrefillShape shape = prefill_shape(ctx);
    const PrefillGateScores& g = prefill_scores_;
    if (g.first_q_block != shape.first_q_block || g.num_rows != shape.num_rows ||
        g.num_key_blocks != shape.num_blocks)
      return Status::error("layer {}: prefill gate block size {} does not match the policy's {}", ctx.layer,
                           gates_.prefill->config.block_size, opts_.block_size);
    std::copy(g.scores.begin(), g.scores.end(), scores);
    *are_probs = opts_.prefill.reads_softmax();
    return Status::ok();
  }

  Status score_decode(const AttentionContext& ctx, float* scores, bool* are_probs) override {
    if (!cache_) return Status::error("the gate policy has no decode gate; use --decode-sparsity dense");
    const bool probs = opts_.decode.reads_softmax();
    SEER_RETURN_IF_ERROR(decode_gate_scores(*cache_, ctx.layer, ctx.q_nope, ctx.start_pos, probs, &decode_scores_, &pool()));
    std::copy(decode_scores_.scores.begin(), decode_scores_.scores.end(), scores);
    *are_probs = probs;
    return Status::ok();
  }

 private:
  GateBundle gates_;
  DeviceGateSpec device_;
  std::unique_ptr<PrefillGate> prefill_;
  std::unique_ptr<KCompressionCache> cache_;
  PrefillGateScores prefill_scores_;
  DecodeGateScores decode_scores_;
};

}  // namespace

Result<std::shared_ptr<ScoredPolicy>> make_gate_policy(const PolicyOptions& opts, const ModelConfig& cfg,
                                                       const GateBundle& gates) {
  if (!gates.prefill && !gates.decode) return Status::error("policy 'gate' needs trained gates (--gates DIR)");
  if (gates.block_size() != opts.block_size)
    return Status::error("policy 'gate': --block-size {} differs from the gates' block size {}", opts.block_size,
                         gates.block_size());
  if (!gates.prefill && opts.prefill.kind != PrefillSparsity::Kind::kDense)
    return Status::error("policy 'gate': --prefill-sparsity {} needs a prefill gate, and the gates have none",
                         opts.prefill.to_string());
  if (!gates.decode && opts.decode.kind != DecodeSparsity::Kind::kDense)
    return Status::error("policy 'gate': --decode-sparsity {} needs a decode gate, and the gates have none",
                         opts.decode.to_string());
  for (const auto* g : {gates.prefill.get(), gates.decode.get()})
    if (g) SEER_RETURN_IF_ERROR(validate_gates(*g, cfg));
  PolicyOptions o = opts;  // a budget follows its gate's shares unless told otherwise
  if (o.decode.kind == DecodeSparsity::Kind::kBudget && o.decode_budget_shares.empty() && !o.uniform_budget &&
      gates.decode)
    o.decode_budget_shares = gates.decode->budget_shares;
  if (o.prefill.kind == PrefillSparsity::Kind::kDensity && o.prefill_budget_shares.empty() && !o.uniform_budget &&
      gates.prefill)
    o.prefill_budget_shares = gates.prefill->budget_shares;
  return std::shared_ptr<ScoredPolicy>(std::make_shared<GatePolicy>(o, cfg, gates));
}

}  // namespace seer
