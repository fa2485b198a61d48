// Attention policies that score key blocks and share one selection and accounting path.
//
// ScoredPolicy does what every policy has in common: layers < start_layer and the `dense` sparsity
// get the dense selection; otherwise the subclass fills soft block scores and the base turns them
// into a BlockSelection with the SPEC §3 rules (seer/sparsity.h) and records DensityStats. All
// policies therefore run the same kernels and are counted the same way, so comparisons are fair.
//
// Score layouts handed to the subclass (block_size from PolicyOptions; nb = ceil(kv_len/block_size)):
//   prefill (qo_len > 1): [num_qo_heads, num_rows, nb], row r = query block first_q_block + r with
//                         first_q_block = start_pos / block_size; entries above the diagonal ignored
//   decode  (qo_len == 1): [num_kv_heads, nb], shared by the GQA group
// `*are_probs` says whether the scores are probabilities (thresholded as they are) or logits
// (softmax over the causal blocks first). Top-K only uses the ranking.
//
// Policies (make_policy):
//   dense      every causal block, whatever the sparsity options.
//   oracle     SPEC §6.6: exact softmax of the post-RoPE q against the whole K cache (scale
//              1/sqrt(head_dim)); prefill: per qo head and query block, the max probability inside
//              each key block over the block's query rows; decode: that max per qo head, then the
//              max over the GQA group (not renormalised). Probabilities.
//   quest      SPEC §6.5: per page (= block), per-dimension min and max of the post-RoPE K, kept
//              incrementally per layer; upper bound Σ_d max(q_d·min_d, q_d·max_d) · scale (a bound
//              on the attention logit, so a threshold sees a meaningful softmax). Decode: per qo
//              head, then the max over the group. Prefill: the bound of the *mean* post-RoPE query
//              of the query block's new rows (one query per row, as a block-level gate would).
//              Upstream's max(3, ceil(budget/page)) pages are replaced by the shared budget rule, and
//              its per-query-head selection by one per KV head (the group's max), so that every
//              policy feeds the same kernels with the same block counts: a departure from SPEC §6.5
//              that the quest rows of docs/TRAINING.md carry.
//   streaming  StreamingLLM-like: the sink block ranks first, then blocks by recency, so
//              density:ρ / budget:N keep the sink and the most recent blocks with the same block
//              count as any other policy. Logits; a threshold is rejected (not meaningful).
//   gate       the learned AttnGates (seer/gates.h): prefill logits per qo head and query block,
//              decode logits per KV head from the K-compression cache (SPEC §1-§2).
//   random     uniform scores in [0, 1) from a counter-based hash of (seed, layer, head, query
//              block, kv_len, key block): reproducible by seed, independent of call order. Logits.
//
// State: quest keeps its page metadata per layer across forwards; begin_forward(start_pos == 0)
// resets it (and it rebuilds from the cache if a forward does not continue where it stopped).
// Subclasses put per-sequence state behind reset_state()/observe() rather than overriding
// begin_forward()/select(), so the dense-layer rule and the accounting stay in one place.
// DensityStats accumulate over forwards until reset_stats(); layers < start_layer and the `dense`
// sparsity are recorded too (selected == dense), so prefill_total()/decode_total() count every block
// the kernel visits; pass first_layer = start_layer for the SPEC §3.3 sum over sparse layers.
#pragma once

#include <seer/attention.h>
#include <seer/model.h>
#include <seer/sparsity.h>
#include <seer/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace seer {

class ThreadPool;

struct PolicyOptions {
  PrefillSparsity prefill;  // default dense
  DecodeSparsity decode;    // default dense
  int block_size = 64;      // key/query block of the selection (the kernel takes any size)
  int start_layer = 0;      // layers < start_layer are dense (SPEC §3.2)
  uint64_t seed = 0;        // random policy
  int num_threads = 0;      // oracle scoring threads; 0: all hardware threads
  // gate: the decode gate's K-compression cache keeps each entry as int8 values with one fp32 scale
  // (v -> s * round(v / s), s = max |v| / 127; KCacheOptions::int8_entries), on the CPU and the GPU
  // alike. On the GPU each decode step's scores then read half the bytes of the bf16 entries; the
  // rounding moved no measured perplexity (docs/TRAINING.md, *The decode gate's cache in int8*).
  // false: bf16 entries (the default before 2026-12-05).
  bool gate_cache_int8 = true;
  // gate: a decode step that completes a block rotates its compressed key at the block's last
  // position, as upstream's decode step does (SPEC §2.3; KCacheOptions::upstream_decode_rope_position),
  // on the CPU and the GPU alike. false: at the block's start, as the prefill rotates every block.
  bool gate_upstream_rope_position = false;
  // gate, GPU sessions: the decode gate's query projection folded into the model's Q product
  // (CudaGates::fold_query) when the model allows it (no q norm) and the folded weight is small (at
  // most 2 MiB a layer: SmolLM2, not Llama-3.1-8B, where reading it costs more than it saves). The
  // step then starts from the model's product instead of projecting q itself; its query moves by bf16
  // roundings (~0.3%). false: the step projects q, as the CPU does.
  bool gate_fold_query = true;
  // budget:N split over the KV heads by these shares (share_budget; a project rule): [num_layers *
  // num_kv_heads], layer-major, positive. Empty: N tokens for every head. The gate policy, given none,
  // takes the shares calibrated with its decode gate (GateSet::budget_shares, `seer calibrate-budget`),
  // unless uniform_budget; the CPU and the GPU alike.
  std::vector<float> decode_budget_shares;
  // density:ρ's Top-K k split over the query heads the same way: [num_layers * num_qo_heads],
  // layer-major, positive; each head's k for a forward is prefill_budget_blocks' count (the heads
  // together pick as many blocks as the uniform k, or a few fewer). Empty: that k for every head. The gate policy, given none, takes its prefill
  // gate's (`seer calibrate-budget --kind prefill`) unless uniform_budget; the CPU and the GPU alike.
  std::vector<float> prefill_budget_shares;
  bool uniform_budget = false;  // neither phase takes its gate's shares
};

// The shape of the prefill scores for one layer.
struct PrefillShape {
  int first_q_block = 0;
  int num_rows = 0;    // query blocks touched by the new tokens
  int num_blocks = 0;  // key blocks = first_q_block + num_rows
};

class ScoredPolicy : public AttentionPolicy {
 public:
  ScoredPolicy(const PolicyOptions& opts, const ModelConfig& cfg);
  ~ScoredPolicy() override;

  void begin_forward(int start_pos, int qo_len) override;
  Status select(const AttentionContext& ctx, BlockSelection* sel) override;

  const PolicyOptions& options() const { return opts_; }
  const DensityStats& stats() const { return stats_; }
  void add_device_counts(int layer, bool decode, const BlockCounts& counts) override;
  // Scores come from the shape, the post-RoPE q and K cache or the block statistics; a policy that
  // scores from the pre-RoPE q / k (the gate) says so.
  bool needs_pre_rope_qk() const override { return false; }
  void reset_stats() {
    stats_.reset(cfg_.num_layers);
    prefill_seconds_ = decode_seconds_ = prefill_score_seconds_ = decode_score_seconds_ = 0.0;
  }
  // Wall time spent choosing blocks (observe + scores + selection), prefill and decode apart:
  // the policy's own overhead, to report next to the attention time.
  double select_seconds(bool decode) const { return decode ? decode_seconds_ : prefill_seconds_; }
  // The part of it spent in the policy's own scoring (observe + score_*): for `gate`, the gate's
  // own time (pooling, projections, RoPE, scores, K-compression cache), without the shared selection.
  double score_seconds(bool decode) const { return decode ? decode_score_seconds_ : prefill_score_seconds_; }

  // The raw scores select() would threshold for this context, whatever the sparsity options (for
  // tests and tools): prefill [num_qo_heads, num_rows, num_blocks], decode [num_kv_heads, num_blocks].
  // Runs observe() first, so a policy's observe() must accept the same context twice.
  Status compute_scores(const AttentionContext& ctx, std::vector<float>* scores, bool* are_probs);

  PrefillShape prefill_shape(const AttentionContext& ctx) const;
  int num_blocks(const AttentionContext& ctx) const { return (ctx.kv_len + opts_.block_size - 1) / opts_.block_size; }

 protected:
  // Called for every layer of every forward, dense ones included, before any scoring (state that
  // must stay complete, such as quest's page metadata or a gate's K-compression cache).
  virtual Status observe(const AttentionContext& ctx) { return Status::ok(); }
  // Called on a new sequence (begin_forward with start_pos == 0).
  virtual void reset_state() {}
  // scores: [num_qo_heads, num_rows, num_blocks] (prefill_shape(ctx)).
  virtual Status score_prefill(const AttentionContext& ctx, float* scores, bool* are_probs) = 0;
  // scores: [num_kv_heads, num_blocks(ctx)].
  virtual Status score_decode(const AttentionContext& ctx, float* scores, bool* are_probs) = 0;

  ThreadPool& pool();  // the session's pool when select() got one, else our own (num_threads)

  PolicyOptions opts_;
  ModelConfig cfg_;

 private:
  DensityStats stats_;
  std::vector<float> scores_;
  std::vector<int> budget_blocks_;  // [num_layers * num_kv_heads] share_budget's counts; empty: uniform
  // [num_layers * num_qo_heads] prefill_budget_blocks' counts for the forward's rows prefill_rows_
  // (first query block, block count); empty: uniform.
  std::vector<int> prefill_blocks_;
  std::pair<int, int> prefill_rows_{-1, -1};
  std::vector<BlockCounts> head_counts_;  // [heads] one selection's, per head
  std::unique_ptr<ThreadPool> pool_;
  ThreadPool* session_pool_ = nullptr;
  double prefill_seconds_ = 0.0, decode_seconds_ = 0.0;
  double prefill_score_seconds_ = 0.0, decode_score_seconds_ = 0.0;
  Status select_impl(const AttentionContext& ctx, BlockSelection* sel);
};

struct GateSet;

// The learned gates as a GPU session runs them (AttentionPolicy::device_gates): the gate sets and
// the policy's sparsity options. Layers < options.start_layer and a `dense` phase stay dense.
struct DeviceGateSpec {
  const GateSet* prefill = nullptr;  // either may be null
  const GateSet* decode = nullptr;
  PolicyOptions options;
};

// Trained gates for the `gate` policy: a prefill gate (SeerAttention), a decode gate
// (SeerAttention-R), or both. Either may be null.
struct GateBundle {
  std::shared_ptr<const GateSet> prefill;
  std::shared_ptr<const GateSet> decode;
  int block_size() const;  // of whichever is present (both must agree); 0 if none
};

// `dir` is one gate checkpoint (config.json + safetensors, its kind from the config), or a directory
// holding `prefill/` and/or `decode/` checkpoints. Errors name the flag that gave it, the directory
// and what is missing.
Result<GateBundle> load_gate_bundle(const std::string& dir, const ModelConfig& model, const char* flag = "--gates");

// Names accepted by make_policy, in the order the error message lists them.
const std::vector<std::string>& policy_names();

// "dense", "oracle", "oracle-mass" (a project addition: the oracle ranking blocks by their
// probability mass), "oracle-sum" / "oracle-mass-sum" (also: decode steps rank a KV head's blocks by
// the sum over its GQA group instead of the max, as `train-gates --group-pool sum`), "quest",
// "streaming", "random". Validates the options (block size, start
// layer, sparsity kinds the policy supports) and names the offending value on error.
// "gate" needs `gates` (its block size must equal opts.block_size): the prefill gate scores
// prefill rows, the decode gate (with its K-compression cache, updated on every forward) scores
// decode steps; a phase whose gate is absent must use dense sparsity.
Result<std::shared_ptr<ScoredPolicy>> make_policy(const std::string& name, const PolicyOptions& opts,
                                                  const ModelConfig& cfg, const GateBundle& gates = {});

// Oracle scores without a model, for tests and tools. Layouts as in AttentionContext:
//   q [qo_len, num_qo_heads, head_dim] post-RoPE, k_cache [num_kv_heads, max_context, head_dim].
// prefill scores [num_qo_heads, num_rows, num_blocks]; decode (group_max) [num_kv_heads, num_blocks].
// Each block's largest probability (SPEC §6.6, `oracle`) or its mass (`oracle-mass`); decode pools the
// GQA group by its max (SPEC) or its sum (`-sum`).
void oracle_prefill_scores(const AttentionContext& ctx, int block_size, float* scores, ThreadPool* pool,
                           BlockStat stat = BlockStat::kMax);
void oracle_decode_scores(const AttentionContext& ctx, int block_size, float* scores, ThreadPool* pool,
                          BlockStat stat = BlockStat::kMax, GroupPool group_pool = GroupPool::kMax);

}  // namespace seer
