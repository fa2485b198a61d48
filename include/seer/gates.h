// Learned AttnGates: configuration, checkpoints, prefill gate math and the decode K-compression cache.
//
// SPEC §1 (prefill gate, SeerAttention), §2 (decode gate, SeerAttention-R), §7 (config and tensor
// names), §9.3 (remainder write index). Inputs are always pre-RoPE Q/K of the new tokens in Hugging
// Face channel order (rotate_half pairs (i, i + head_dim/2)), token-major:
//   q_nope [qo_len, num_qo_heads, head_dim], k_nope [qo_len, num_kv_heads, head_dim].
// Query heads h*group_size .. h*group_size+group_size-1 belong to KV head h.
//
// Gate RoPE: NeoX rotate_half over dg = hidden_size dims, with the base model's rope_theta and
// rope_scaling (llama3 / yarn, attention scaling included), i.e. the model's inverse frequencies
// recomputed for head_dim = dg. For dg == head_dim (every released gate) this is exactly upstream.
// [AMBIG §1.4] upstream keeps the rotary dim at head_dim even when dg != head_dim, which cannot run
// (shape mismatch); rotating dg dims is the only consistent choice.
//
// Block positions: block j sits at position block_size*j (its first token) in both gates. The
// decode cache can reproduce upstream's block_size*j + block_size-1 for blocks completed by a decode
// step (KCacheOptions::upstream_decode_rope_position, SPEC §2.3 [AMBIG]).
#pragma once

#include <seer/dtype.h>
#include <seer/model.h>
#include <seer/status.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seer {

class ThreadPool;

enum class GateKind { kPrefill, kDecode };
enum class PoolType : uint8_t { kMax, kMin, kAvg };  // the fixed concatenation order (SPEC §1.2)
enum class QHeadPooling { kQproj, kQavgproj, kQavg };  // decode query head pooling (SPEC §2.1)

std::string_view gate_kind_name(GateKind k);        // "prefill" / "decode"
std::string_view q_head_pooling_name(QHeadPooling p);  // "Qproj" / "Qavgproj" / "Qavg"

// Parses "Kmaxminavg" / "Qavg" style pool lists: the prefix letter, then max, min, avg in that
// order (each at most once, at least one). Errors name the offending string.
Result<std::vector<PoolType>> parse_pool_list(const std::string& s, char prefix);
// Parses "Qavg_Kmaxminavg" into the Q and K pool lists.
Status parse_gate_type(const std::string& s, std::vector<PoolType>* q_pools,
                       std::vector<PoolType>* k_pools);
std::string pool_list_name(const std::vector<PoolType>& pools, char prefix);

// Every upstream config key (SPEC §7). Keys that do not apply to `kind` keep their defaults.
struct GateConfig {
  GateKind kind = GateKind::kPrefill;
  // prefill: seerattn_gate_type ("Qavg_Kmaxminavg"), parsed into q_pools / k_pools.
  std::string gate_type = "Qavg_Kmaxminavg";
  std::vector<PoolType> q_pools{PoolType::kAvg};  // prefill only
  // K pools: prefill from gate_type, decode from seerattn_k_seq_pooling_type ("Kmaxminavg").
  std::vector<PoolType> k_pools{PoolType::kMax, PoolType::kMin, PoolType::kAvg};
  int block_size = 64;     // seerattn_gate_block_size (64 or 128)
  int hidden_size = 128;   // seerattn_gate_hidden_size, dg
  bool force_double = false;  // seerattn_gate_force_double (prefill)
  // seer_gate_sink_excluded (seer's own key, not upstream's): trained with block 0 left out of the
  // targets and of the softmax (train-gates --exclude-sink). Such a gate has no score of its own for
  // block 0: it scores it +inf (after the softmax over the other blocks, when probabilities), so every
  // selection keeps it, a Top-K or budget in one of its slots.
  bool sink_excluded = false;
  // decode
  QHeadPooling q_head_pooling = QHeadPooling::kQproj;  // seerattn_q_head_pooling_type
  bool use_qk_norm = false;  // seerattn_use_qk_norm
  bool use_rope = true;      // seerattn_use_rope
  // Upstream's sparsity settings, read and saved back unchanged. seer's selection follows the command
  // line instead (--prefill-sparsity, --decode-sparsity, --start-layer; ",lastdense" for
  // last_block_dense): the same gates then run under every rule, as the evaluations need.
  std::string sparsity_method = "threshold";  // seerattn_sparsity_method: threshold|nz_ratio|token_budget
  double threshold = 0.0;     // seerattn_threshold
  double nz_ratio = 1.0;      // seerattn_nz_ratio
  int token_budget = 4096;    // seerattn_token_budget
  bool last_block_dense = true;  // seerattn_last_block_dense (prefill)
  int start_layer = 0;        // seerattn_start_layer (decode)
  std::string base_model;     // base_model

  // Prefill rule (SPEC §1.3): a Q linear exists when Q uses more than one pool, dg != head_dim, or
  // force_double. Otherwise the only linear is on K, with num_qo_heads heads.
  bool prefill_two_linear(int head_dim) const {
    return q_pools.size() > 1 || hidden_size != head_dim || force_double;
  }
};

// Which weight a tensor is.
enum class GateTensorRole { kLinearQ, kLinearK, kQNorm, kKNorm };

// Name and shape of one gate tensor as upstream writes it.
struct GateTensorSpec {
  GateTensorRole role;
  std::string name;            // model.layers.{i}.self_attn.attn_gate.<...>.weight
  std::vector<int64_t> shape;  // outermost first
  int64_t numel() const;
};

// The tensors one layer must have for `config` on top of `model` (in a fixed order: linear_q if
// any, linear_k, qnorm, knorm):
//  prefill K-only:   mask_linear_k [Hq, |Kpools|*d, dg]
//  prefill two-lin:  mask_linear_q [Hq, |Qpools|*d, dg], mask_linear_k [Hkv, |Kpools|*d, dg]
//  decode:           attngate_linear_q (Qproj [Hkv, g, d, dg] | Qavgproj [Hkv, d, dg] | Qavg none),
//                    attngate_linear_k [Hkv, |Kpools|*d, dg], attngate_qnorm/knorm [dg] if qk-norm.
std::vector<GateTensorSpec> gate_tensor_specs(const GateConfig& config, const ModelConfig& model,
                                              int layer);

struct GateLayerWeights {
  std::vector<float> linear_q;  // see gate_tensor_specs; empty when absent
  std::vector<float> linear_k;
  std::vector<float> q_norm;    // [dg]
  std::vector<float> k_norm;    // [dg]
  std::vector<float>& get(GateTensorRole r);
  const std::vector<float>& get(GateTensorRole r) const;
};

struct GateSet {
  GateConfig config;
  // The base model the weights were made for: dims (layers, heads, head_dim) and the RoPE settings
  // (rope_theta, rope_scaling) that the gate RoPE reuses.
  ModelConfig model;
  std::vector<GateLayerWeights> layers;  // [model.num_layers]
  std::string dir;  // the directory load_gates read it from (empty: made in memory)
  // How a fixed budget is split over the heads: a decode gate's token budget over the KV heads
  // (PolicyOptions::decode_budget_shares, [num_layers * num_kv_heads]), a prefill gate's Top-K k over
  // the query heads (PolicyOptions::prefill_budget_shares, [num_layers * num_qo_heads]); layer-major,
  // mean 1; empty when the gate has none. From `dir`/budget_shares.json (kBudgetSharesFile), which
  // `seer calibrate-budget` writes; the file's "calibration" object (how they were measured) is kept
  // as JSON text to be written back.
  std::vector<float> budget_shares;
  std::string budget_calibration;
};

// The file beside a gate's config.json that holds its budget shares:
//   {"num_hidden_layers": L, "num_key_value_heads": H,   (a prefill gate: "num_attention_heads": H)
//    "shares": [[s_00, .., s_0(H-1)], .. L rows],   positive; read scaled to mean 1
//    "kept": [[..]],                                  optional: the calibration's kept fraction per head
//    "calibration": {..}}                             optional: rule, text, windows, density, ...
inline constexpr const char* kBudgetSharesFile = "budget_shares.json";
// Writes `dir`/budget_shares.json (through a temp file and rename) for a gate of `kind`: shares and
// kept [L * H], H its heads (above).
Status save_budget_shares(const std::string& dir, GateKind kind, const std::vector<float>& shares,
                          const std::vector<double>& kept, const ModelConfig& model, const std::string& calibration_json);

// Checks a config (block size, dg, pooling combination) and, when `model` is given, that every
// layer's tensors have the sizes gate_tensor_specs() asks for.
Status validate_gate_config(const GateConfig& config, const ModelConfig& model);
Status validate_gates(const GateSet& gates, const ModelConfig& model);

// Loads `dir`/config.json (seerattn_* keys, base_model; base dims checked when present) and every
// `dir`/*.safetensors (upstream tensor names, F32/F16/BF16). Errors name the file, the key or tensor,
// and expected vs actual.
Result<GateSet> load_gates(const std::string& dir, const ModelConfig& model);
// Writes `dir`/config.json (seerattn_* keys + base model dims + base_model) and
// `dir`/gates.safetensors (dtype F32 or BF16), each through a temp file and rename.
Status save_gates(const std::string& dir, const GateSet& gates, const ModelConfig& model,
                  DType dtype = DType::kF32);

// Architecture options for fresh gates; init_gates fills a GateConfig from them.
struct GateOptions {
  std::string gate_type = "Qavg_Kmaxminavg";    // prefill
  std::string k_seq_pooling_type = "Kmaxminavg";  // decode
  QHeadPooling q_head_pooling = QHeadPooling::kQproj;
  int block_size = 64;
  int hidden_size = 0;  // 0: head_dim
  bool force_double = false;
  bool sink_excluded = false;  // GateConfig::sink_excluded
  bool use_qk_norm = true;  // decode (the training-script default, SPEC §2.1)
  bool use_rope = true;
  std::string base_model;
};
// The config of fresh gates of `kind` with these options (each kind keeps only its own fields),
// validated against `model`.
Result<GateConfig> gate_config(GateKind kind, const ModelConfig& model, const GateOptions& opts);
// gate_config's gates with linears N(0, 0.02), norm weights 1 (SPEC §4), deterministic in `seed`.
Result<GateSet> init_gates(GateKind kind, const ModelConfig& model, const GateOptions& opts,
                           uint64_t seed);

// In-place numerically stable softmax of each row; -inf entries become 0.
void softmax_rows(float* x /*[rows, n]*/, int64_t rows, int n);

// ---------------------------------------------------------------------------------------------
// Prefill gate (SPEC §1), with chunked prefill.
//
// Per layer the gate keeps, per KV head and key block, the running max, min, sum and count of the
// pre-RoPE K of every token so far, so key-block features always cover the whole context. Query
// blocks are the ones the new tokens touch; a first block that already held tokens from an earlier
// chunk pools only its new tokens (upstream has no chunked prefill, SPEC §1.8). Rows whose query
// block lies wholly inside the chunk equal a one-shot prefill of the same prefix.

struct PrefillGateScores {
  int num_qo_heads = 0;
  int first_q_block = 0;   // absolute block index of row 0
  int num_rows = 0;        // query blocks touched by the new tokens
  int num_key_blocks = 0;  // first_q_block + num_rows
  // logits / sqrt(dg), -inf above the block diagonal; or softmax probabilities over key blocks.
  std::vector<float> scores;  // [num_qo_heads, num_rows, num_key_blocks]
};

class PrefillGate {
 public:
  explicit PrefillGate(const GateSet& gates);  // `gates` must outlive the gate
  void reset();                                // forget every layer's pooled K
  // Adds the new tokens' K to the layer's pooled store (resetting it when start_pos == 0) and
  // scores the touched query blocks. `probabilities`: softmax over key blocks instead of logits.
  Status forward(int layer, const float* q_nope /*[qo_len, num_qo_heads, head_dim]*/,
                 const float* k_nope /*[qo_len, num_kv_heads, head_dim]*/, int qo_len, int start_pos,
                 bool probabilities, PrefillGateScores* out, ThreadPool* pool = nullptr);
  // Adds the new tokens' K to the layer's pooled store without scoring (decode steps: keeps the
  // store complete for a later prefill chunk). A single token is only queued, a copy of its row;
  // queued rows are pooled when the store is next read (forward, pooled_k).
  Status absorb(int layer, const float* k_nope /*[qo_len, num_kv_heads, head_dim]*/, int qo_len, int start_pos);
  int length(int layer) const;  // tokens pooled so far in `layer`

  // Pooled K features of a layer: [num_kv_heads, num_blocks, |Kpools|*head_dim] in pool order.
  std::vector<float> pooled_k(int layer) const;

 private:
  struct LayerState {
    int len = 0;     // tokens absorbed
    int pooled = 0;  // of which folded into the statistics; the rest are queued in `pending`
    std::vector<float> kmax, kmin, ksum;  // [num_blocks, num_kv_heads, head_dim]
    std::vector<float> pending;           // [len - pooled, num_kv_heads, head_dim] raw K of decode steps
  };
  void pool_rows(LayerState& st, const float* k_nope /*[n, num_kv_heads, head_dim]*/, int n) const;
  void fold_pending(LayerState& st) const;
  const GateSet* gates_;
  std::vector<float> inv_freq_;
  float rope_scale_ = 1.0f;
  mutable std::vector<LayerState> layers_;  // mutable: const readers fold the queued rows
};

// ---------------------------------------------------------------------------------------------
// Decode gate + K-compression cache (SPEC §2).
//
// Per layer: one compressed entry per block, [num_kv_heads, num_blocks, dg], = RoPE(knorm(linear_k(
// [max|min|avg](K_block)))); the entry of the current partial block is a zero placeholder (score 0,
// as upstream). The raw pre-RoPE K of the partial block is kept in a remainder buffer
// [block_size, num_kv_heads, head_dim]; the slot of a token is its position % block_size, the same
// for every layer (a per-sequence index, fixing upstream's per-layer off-by-one, SPEC §9.3).

struct KCacheOptions {
  // Blocks completed by a single-token update are rotated at their last position
  // (block_size*j + block_size-1) as upstream's decode step does, instead of block_size*j.
  bool upstream_decode_rope_position = false;
  // Score decode steps against bf16 copies of the compressed entries and of the query projection
  // (Qproj / Qavgproj), read at half the bytes: the gate policy's setting. Released and seer-trained
  // gates are stored in bf16, so the weight copy is exact for them; the entries are rounded (scores
  // move by ~1e-3 relative). false: exact fp32 scoring.
  bool bf16_scoring = false;
  // Each entry rounded to int8 steps of its own scale: v -> s * round(v / s), s = max_i |v_i| / 127
  // (|change| <= s / 2 per value), as the GPU cache stores it with PolicyOptions::gate_cache_int8.
  bool int8_entries = false;
};

class KCompressionCache {
 public:
  explicit KCompressionCache(const GateSet& gates, KCacheOptions opts = {});  // `gates` must outlive
  void reset();
  // Appends n_new >= 1 tokens at positions start_pos.. to `layer`. start_pos == 0 starts a new
  // sequence; otherwise start_pos must equal length(layer). Any split of a sequence into updates
  // gives the same cache (without upstream_decode_rope_position).
  Status update(int layer, const float* k_nope /*[n_new, num_kv_heads, head_dim]*/, int n_new,
                int start_pos);
  int length(int layer) const;
  int num_blocks(int layer) const;  // ceil(length / block_size)
  // Entries of one KV head: [num_blocks, dg], the last one zero while its block is partial.
  const float* entries(int layer, int kv_head) const;
  // The same in bf16 (only with KCacheOptions::bf16_scoring), tiled for scoring without horizontal
  // sums: [ceil(num_blocks / kScoreTile), dg, kScoreTile], entry j feature o at
  // (j / kScoreTile) * dg * kScoreTile + o * kScoreTile + j % kScoreTile (zero past the last entry).
  // And the bf16 query projection of a layer (Qproj [num_kv_heads, group, head_dim, dg] / Qavgproj
  // [num_kv_heads, head_dim, dg]; null for Qavg or without bf16_scoring).
  static constexpr int kScoreTile = 16;
  const uint16_t* entries_bf16(int layer, int kv_head) const;
  const uint16_t* linear_q_bf16(int layer) const;
  const KCacheOptions& options() const { return opts_; }
  const GateSet& gates() const { return *gates_; }
  // The gate RoPE (the base model's, recomputed for dg dims).
  const std::vector<float>& rope_inv_freq() const { return inv_freq_; }
  float rope_scale() const { return rope_scale_; }
  // The gate RoPE table [dg/2] of one position, computed once and shared by every layer of a step.
  void rope_at(int pos, const float** cos_t, const float** sin_t) const;
  // Asks for the data a decode step's scoring of `layer` reads (the query projection and the entries in the
  // form decode_gate_scores uses) to be brought into L2; a hint, with no effect on any result.
  void prefetch(int layer) const;

 private:
  mutable int rope_pos_ = -1;
  mutable std::vector<float> rope_cos_, rope_sin_;
  struct LayerState {
    int len = 0;
    std::vector<std::vector<float>> entries;  // per kv head: [num_blocks, dg]
    std::vector<std::vector<uint16_t>> entries_bf16;  // the same in bf16, tiled (bf16_scoring)
    std::vector<float> remainder;             // [block_size, num_kv_heads, head_dim]
  };
  std::vector<std::vector<uint16_t>> linear_q_bf16_;  // per layer (bf16_scoring)
  void compress_block(LayerState& st, int layer, int block, int rope_pos);
  const GateSet* gates_;
  KCacheOptions opts_;
  std::vector<float> inv_freq_;
  float rope_scale_ = 1.0f;
  std::vector<LayerState> layers_;
};

struct DecodeGateScores {
  int num_kv_heads = 0;
  int num_blocks = 0;
  std::vector<float> scores;  // [num_kv_heads, num_blocks]: logits qg.kg/sqrt(dg), or softmax
};

// Scores one new token at position `pos` against the layer's cache, which must already hold it
// (cache.length(layer) == pos + 1). Softmax (when `probabilities`) runs over every block including
// the zero placeholder, as upstream.
Status decode_gate_scores(const KCompressionCache& cache, int layer,
                          const float* q_nope /*[num_qo_heads, head_dim]*/, int pos,
                          bool probabilities, DecodeGateScores* out, ThreadPool* pool = nullptr);

// The pooled query of the decode gate after head pooling, qnorm and RoPE: [num_kv_heads, dg].
// Exposed for tests and tools.
void decode_gate_query(const GateSet& gates, int layer, const float* q_nope /*[num_qo_heads, head_dim]*/,
                       int pos, float* qg /*[num_kv_heads, dg]*/);

}  // namespace seer
