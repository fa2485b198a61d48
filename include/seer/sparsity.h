// Sparsity methods: soft block scores -> binary block selection (SPEC §3), and density accounting.
//
// Prefill (SPEC §3.1), per (qo head, query block) row:
//   scores [num_heads, num_rows, num_blocks]; row r is query block qb = first_q_block + r and only
//   its causal entries 0..qb are read (entries of key blocks > qb are ignored).
//   * threshold:τ  keep prob > τ, where prob is the softmax over the row's causal blocks when the
//                  scores are logits, or the score itself when they are already probabilities;
//   * density:ρ    Top-K with k = max(1, int((1 - sqrt(1 - ρ)) * nb)), nb = num_blocks, the query
//                  blocks of the whole sequence so far; ρ is the density relative to the causal
//                  triangle and ρ = 1 gives k = nb (dense); or, with per-head counts
//                  (PrefillSelectArgs::head_blocks, prefill_budget_blocks of that k), head h's own k;
//   * mass:P       the fewest highest-scoring blocks that hold a share P of the row's weight (top-p,
//                  a project rule): weights w = float(exp(s - max)) for logits (NaN: 0), the scores
//                  themselves for probabilities (a +inf one is kept and weighs nothing); the cut c is
//                  the largest weight with Σ_{w_j >= c} w_j >= P Σ w_j (sums in double, index order),
//                  and the row keeps every w_j >= c, ties included. Like a threshold it spends more
//                  blocks on flat rows; unlike one, it never leaves a row with less than P of its
//                  weight. Logits with a +inf entry keep the +inf entries; all -inf or NaN keeps none;
//   * keep_sink:   block 0 (the attention sink) is kept in every row, as in every decode step
//                  (SPEC §2.3). A project rule, on by default; ",nosink" gives upstream's selection.
//                  Top-K with k >= 2 gives it one of the row's k slots (block 0 ranks first; the
//                  counts do not change; with k = 1 the one slot stays the method's own pick, which
//                  is usually the diagonal); a threshold or mass:P adds it when the gate leaves it out
//                  (counted as forced).
//                  Measured: with the shipped gates at 8k, density:0.1 +12.2% -> +10.1% perplexity,
//                  and at 2k density:0.2 +34% -> +14% (docs/TRAINING.md);
//   * last_block_dense: rows qb >= nb - 2 (the last two query blocks of the sequence so far; in a
//                  chunked prefill, of the chunk's end) fully on;
//   * then block-causal (only blocks <= qb exist in a row).
//   Rule against empty rows (SPEC §3.1 [AMBIG]): a row that the method leaves empty gets its
//   diagonal block qb. Only a threshold without the sink rule can empty a row; the added block is
//   counted as selected and as forced.
// Decode (SPEC §3.2, §2.3), per KV head (shared by its GQA group):
//   scores [num_kv_heads, num_blocks]
//   * budget:N     Top-K with k = N / block_size blocks (every block when num_blocks <= k); or, with
//                  per-head block counts (DecodeSelectArgs::head_blocks, from share_budget), head h's
//                  own count, the counts averaging N / block_size over the model's KV heads;
//   * threshold:τ  keep prob > τ (softmax over all num_blocks when the scores are logits);
//   * then the sink block 0 and the current (last) block num_blocks-1 are always kept, so a budget
//     gives between N/block_size and N/block_size + 2 blocks.
// Top-K ties go to the lower block index (a stable sort by descending score); a NaN score ranks
// below every number and never passes a threshold.
//
// Accounting (SPEC §3.3, deliberately widened): `selected` counts every block the kernel visits,
// forced ones included (the diagonal rule, last_block_dense rows, and in decode the sink and current
// blocks, which SPEC §3.3 leaves out for the sink), so that density and speed agree. `forced` counts
// the blocks that only a forcing rule added. Upstream counts some of those (its own forced current
// block, last_block_dense rows) and not the sink, so its figure is selected minus the forced sinks,
// which these counts do not separate. `dense` is the
// causal block count of the same rows: Σ (qb + 1) per prefill row, num_blocks per decode row.
#pragma once

#include <seer/attention.h>
#include <seer/status.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seer {

struct PrefillSparsity {
  enum class Kind { kDense, kThreshold, kDensity, kMass };
  Kind kind = Kind::kDense;
  double value = 0.0;             // τ for kThreshold, ρ for kDensity, P for kMass
  bool last_block_dense = false;  // the last two query-block rows fully on
  bool keep_sink = true;          // block 0 in every row (see above); ",nosink" turns it off

  // "dense", "threshold:τ" (τ in [0, 1)), "density:ρ" (ρ in (0, 1]), "mass:P" (P in (0, 1]), any
  // but the first with ",nosink" and/or ",lastdense" (last_block_dense). Errors name the flag value.
  static Result<PrefillSparsity> parse(const std::string& text);
  std::string to_string() const;  // parse(to_string()) gives back the same kind, value, keep_sink, last_block_dense
  // threshold and mass:P read the row's softmax (a scorer then hands probabilities; a policy with
  // no probabilities, streaming, refuses them); dense and density:ρ only rank.
  bool reads_softmax() const { return kind == Kind::kThreshold || kind == Kind::kMass; }
};

struct DecodeSparsity {
  enum class Kind { kDense, kBudget, kThreshold, kMass };
  Kind kind = Kind::kDense;
  double value = 0.0;  // tokens for kBudget, τ for kThreshold, P for kMass

  // "dense", "budget:N" (N >= 1 tokens), "threshold:τ" (τ in [0, 1)), "mass:P" (P in (0, 1]: per step and KV
  // head the fewest highest blocks holding a share P of the scores' softmax, as the prefill's mass:P; a project
  // rule). Errors name the flag value.
  static Result<DecodeSparsity> parse(const std::string& text);
  std::string to_string() const;
  // threshold and mass:P read the step's softmax (a scorer then hands probabilities).
  bool reads_softmax() const { return kind == Kind::kThreshold || kind == Kind::kMass; }
};

// k of the density Top-K (SPEC §3.1): max(1, int((1 - sqrt(1 - density)) * num_blocks)).
int density_top_k(double density, int num_blocks);

struct BlockCounts {
  int64_t selected = 0;  // blocks the kernel visits (forced ones included)
  int64_t dense = 0;     // causal blocks of the same rows
  int64_t forced = 0;    // blocks present only because of a forcing rule
  double density() const { return dense > 0 ? double(selected) / double(dense) : 1.0; }
  BlockCounts& operator+=(const BlockCounts& o) {
    selected += o.selected;
    dense += o.dense;
    forced += o.forced;
    return *this;
  }
};

struct PrefillSelectArgs {
  int num_heads = 0;      // num_qo_heads
  int first_q_block = 0;  // absolute query block of row 0
  int num_rows = 0;       // query blocks in this forward
  int num_blocks = 0;     // key blocks = query blocks of the whole sequence (first_q_block + num_rows)
  int block_size = 64;
  bool scores_are_probs = false;
  // density:ρ only: [num_heads] k of each head's Top-K (prefill_budget_blocks' counts of this layer
  // for density_top_k(ρ, num_blocks)); null: that k for every head.
  const int* head_blocks = nullptr;
};

// scores: [num_heads, num_rows, num_blocks]. Fills `sel` (per qo head, ascending indices) and,
// when `counts` is given, adds this selection's counts to it. `head_counts`, when given,
// [num_heads]: each head's counts are added to its entry.
Status select_prefill(const PrefillSparsity& sp, const PrefillSelectArgs& args, const float* scores,
                      BlockSelection* sel, BlockCounts* counts = nullptr, BlockCounts* head_counts = nullptr);

struct DecodeSelectArgs {
  int num_heads = 0;   // num_kv_heads
  int num_blocks = 0;  // ceil(kv_len / block_size)
  int block_size = 64;
  bool scores_are_probs = false;
  // budget:N only: [num_heads] blocks of each head's Top-K (share_budget's counts of this layer);
  // null: N / block_size for every head.
  const int* head_blocks = nullptr;
};

// scores: [num_heads, num_blocks]. Fills `sel` with one row per KV head (per_kv_head, num_rows 1,
// first_q_block = num_blocks - 1). `head_counts`, when given, [num_heads]: each head's counts are
// added to its entry.
Status select_decode(const DecodeSparsity& sp, const DecodeSelectArgs& args, const float* scores,
                     BlockSelection* sel, BlockCounts* counts = nullptr, BlockCounts* head_counts = nullptr);

// A decode budget split over KV heads by shares (a project rule, docs/TRAINING.md *Budget shares*):
// shares [n] (n = num_layers * num_kv_heads, layer-major; positive), blocks_per_head = N / block_size.
// Entry i gets about blocks_per_head * n * shares[i] / Σ shares blocks: the floors, then one more for
// the largest remainders (ties: the lower index) so that the entries add up to blocks_per_head * n
// exactly; then every entry below 1 gets 1, taken from the largest entry (ties: the lower index).
// Every step of every layer then reads as many blocks in all as a uniform budget would (the sink and
// current blocks forced on top, as there). The same counts on the CPU and the GPU.
std::vector<int> share_budget(const std::vector<float>& shares, int64_t blocks_per_head);
// The per-head counts a decode policy uses: shares [num_layers * num_kv_heads]; layers below
// start_layer are dense and take no part (their entries are blocks_per_head, unused), so the sparse
// layers' counts add up to the uniform budget's over those layers.
std::vector<int> layer_budget_blocks(const std::vector<float>& shares, int num_kv_heads, int start_layer,
                                     int64_t blocks_per_head);

// The per-head k a policy uses for a prefill density:ρ forward over query blocks [first_q_block,
// num_blocks) with Top-K's k = density_top_k(ρ, num_blocks), split by shares [num_layers * num_heads]
// (layers below start_layer dense and out of it, their entries k). A head of k' picks
// P(k') = Σ_rows min(k', qb + 1) blocks, so a head's k beyond its short rows buys nothing there: the
// counts are chosen so that the sparse heads together pick as many blocks as the uniform k would
// (n P(k)) or a few fewer, never more. Each head gets clamp(round(c x_i), m, num_blocks), x_i its exact
// share of the uniform total (k n s_i / Σ s) and c the largest scale that fits; then one more block
// for the heads nearest to rounding up (ties: the lower index) while it fits. (Floors in place of the
// nearest integer would hand the small heads' remainders to the large ones through c: measured, +7% ->
// +15% at density 0.1 with the shipped gates.) m = min(k, kPrefillShareFloor): whatever its spread, a
// head's rows need their sink and local blocks (measured: with m = 2, density 0.1 +6.81% and k = 5
// +24.6% against the uniform k's +8.05% and +10.2%; with m = 4, +5.95% and +8.54%). Shares all equal
// give k everywhere. The same counts on the CPU and the GPU.
inline constexpr int kPrefillShareFloor = 4;
std::vector<int> prefill_budget_blocks(const std::vector<float>& shares, int num_heads, int start_layer, int k,
                                       int first_q_block, int num_blocks);

// Counts of one phase of one layer, accumulated over forwards until reset().
struct LayerDensity {
  BlockCounts prefill;
  BlockCounts decode;
  std::vector<BlockCounts> prefill_heads;  // [num_qo_heads] prefill per query head (host selections only)
  std::vector<BlockCounts> decode_heads;   // [num_kv_heads] decode per KV head (host selections only)
};

class DensityStats {
 public:
  void reset(int num_layers);
  void add_prefill(int layer, const BlockCounts& c);
  void add_decode(int layer, const BlockCounts& c);
  void add_prefill_heads(int layer, const BlockCounts* heads, int num_heads);  // [num_heads]
  void add_decode_heads(int layer, const BlockCounts* heads, int num_heads);   // [num_heads]
  const std::vector<LayerDensity>& layers() const { return layers_; }
  // Sums over layers >= first_layer (SPEC §3.3 sums decode over layers >= start_layer).
  BlockCounts prefill_total(int first_layer = 0) const;
  BlockCounts decode_total(int first_layer = 0) const;
  // {"prefill": {"selected":..,"dense":..,"forced":..,"density":..}, "decode": {..},
  //  "layers": [{"layer": 0, "prefill": {..}, "decode": {..}, "prefill_heads": [density, ..],
  //              "decode_heads": [density, ..]}, ..]}
  //  (the "_heads" lists only where per-head counts were added)
  std::string to_json() const;

 private:
  void grow(int layer);
  std::vector<LayerDensity> layers_;
};

}  // namespace seer
