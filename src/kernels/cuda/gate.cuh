// AttnGates on the GPU (issue 4 §3; SPEC §1-§3): block pooling of the pre-RoPE K and Q, RMSNorm and
// the gate RoPE of pooled rows, the decode gate's query, scores and K-compression cache update, and
// the selection (Top-K / threshold / budget with the SPEC §3 forcing rules) written straight into
// the CSR lists the attention kernels read. The projections and the prefill score matrix are GEMMs
// (cuBLAS, src/model/cuda_gate.cpp); everything else is here. The CPU references are
// seer::PrefillGate, seer::KCompressionCache, decode_gate_scores (src/seer/gates.cpp) and
// select_prefill / select_decode (src/seer/sparsity.cpp); tests/cuda/test_cuda_gate.cpp holds the
// kernels to them.
//
// Dimensions: Hq query heads, Hkv KV heads, d head_dim (64 or 128), dg gate hidden size (<= 256, even),
// bs block size, P the number of pools of a feature (1..3, order max | min | avg, SPEC §1.2).
// Layouts (fp32 unless said otherwise):
//   k stats  [3, Hkv, max_blocks, d]        running max | min | sum of the pre-RoPE K of each block of
//                                            one sequence (block j: tokens j*bs ..); the token count of a
//                                            block follows from the sequence length
//   k feat   [Hkv, head_blocks, P*d]        pooled key features of blocks b0 .. b0+nblk-1 (index i: b0+i)
//   q feat   [Hq, rows, P*d]                pooled new queries of the query blocks a chunk touches
//   rows     [heads, n, dg]                 projected features, normed and rotated in place
//   entries  [B][Hkv, max_blocks, dg]        the decode K-compression cache (zero for a partial block),
//                                            bf16, or int8 with scales [B][Hkv, max_blocks] (GateEntries)
//   qg       [B, Hkv, dg]                   the decode gate's query after pooling, projection, norm, RoPE
//   scores   [rows, row_stride]             one selection row each; overwritten by its selection
#pragma once

#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace seer::cuda {

// Pools of a feature: type[i] is 0 max, 1 min, 2 avg (seer::PoolType), in concatenation order.
struct GatePools {
  int count = 0;
  int8_t type[3] = {0, 0, 0};
};

// The gate RoPE (SPEC §1.4): rotate_half over dg dims, angle = float(pos) * inv_freq[i] in fp32,
// cos/sin in double, times `scale` (the base model's attention factor), as seer::rope_tables.
struct GateRope {
  const float* inv_freq = nullptr;  // [dg/2], on the GPU; null: no RoPE
  float scale = 1.0f;
  // Optional: the same at every block start, [max_blocks, dg] (cos | sin of position j * block_size),
  // computed once by the host with seer::rope_tables (used for rows at block positions).
  const float* block_table = nullptr;
  // Optional: cos | sin of every offset 0 .. block_size - 1 within a block, unscaled, [block_size, dg]
  // (with block_table, a position's table as a product of two rotations).
  const float* slot_table = nullptr;
};

struct GateKStats {
  float* stats = nullptr;  // [3, num_kv_heads, max_blocks, head_dim]
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 64;
  int max_blocks = 0;
};

// The model's RoPE tables of a chunk, cos / sin [n][head_dim/2] (those run_rope takes); null: none.
struct GateModelRope {
  const float* cos = nullptr;
  const float* sin = nullptr;
};

// Optional output of run_gate_pool: the key features (pools `pools`) of every block the chunk touches,
// from the statistics the pass leaves: feat [Hkv, blocks, P*d], block j at index j (the layout of
// run_gate_k_features with b0 = 0 and nblk = blocks; blocks > the chunk's last block).
struct GateKFeatures {
  float* feat = nullptr;  // null: none
  GatePools pools;
  int blocks = 0;
};

// Pools n new tokens at positions start .. start+n-1 of one sequence, one pass over the rows of each
// touched block: k [n][num_kv_heads, head_dim] (bf16, `k_stride` elements between tokens) joins the
// statistics (a block that already held tokens keeps them); with q_feat, the new queries
// q [n][num_q_heads, head_dim] of each touched block (query block start/bs + r, only its new tokens)
// are pooled into q_feat [num_q_heads, rows, P*head_dim]; with q_rope (one pool: P = 1, the gate's
// dg == head_dim) they leave rotated by the gate RoPE at their block's start, q_rope being
// GateRope::block_table. With rope.cos, k and q leave rotated by the model's RoPE (the bits of
// run_rope), in the same pass. With k_feat.feat, the touched blocks' key features too (bitwise those
// run_gate_k_features gives). Rows are read with 8-byte loads: strides and head_dim must be multiples
// of 8 elements (head_dim at most 256).
cudaError_t run_gate_pool(const GateKStats& s, __nv_bfloat16* k, int64_t k_stride, __nv_bfloat16* q, int64_t q_stride,
                          int num_q_heads, GatePools q_pools, float* q_feat, const float* q_rope, int n, int start,
                          GateModelRope rope, GateKFeatures k_feat, cudaStream_t stream);

// Key features of blocks [b0, b0 + nblk) of a sequence of kv_len tokens: feat [Hkv, head_blocks, P*d],
// block b0 + i at index i (head_blocks >= nblk).
cudaError_t run_gate_k_features(const GateKStats& s, GatePools pools, int kv_len, int b0, int nblk, float* feat,
                                int head_blocks, cudaStream_t stream);

// The decode gate's K-compression cache of one layer: dg values per (sequence, KV head, block), entry e
// (= (b * Hkv + h) * max_blocks + j) at values e * dg .. e * dg + dg - 1, in one of two formats:
//   bf16   the values rounded to bf16 (|error| <= 2^-9 |v| per value)
//   int8   q = round(v / s) with one fp32 scale s = max_i |v_i| / 127 per entry, read as s * q
//          (|error| <= s / 2 per value): half the bytes each decode step's scores stream
// A zero entry (a partial block's placeholder) is all zeros, scale 0 included.
struct GateEntries {
  __nv_bfloat16* bf16 = nullptr;  // [B][Hkv, max_blocks, dg]; either this or int8
  int8_t* int8 = nullptr;         // [B][Hkv, max_blocks, dg]
  float* scale = nullptr;         // int8: [B][Hkv, max_blocks]
  int64_t stride = 0;             // entries between sequences (Hkv * max_blocks)
  __host__ __device__ explicit operator bool() const { return bf16 || int8; }
  __host__ __device__ int value_bytes() const { return int8 ? 1 : 2; }
  __host__ __device__ void* values() const { return int8 ? static_cast<void*>(int8) : static_cast<void*>(bf16); }
  // The same cache from entry `first` on (b * stride: sequence b's entries).
  __host__ __device__ GateEntries from(int64_t first, int dg) const {
    GateEntries e = *this;
    if (e.bf16) e.bf16 += first * dg;
    if (e.int8) {
      e.int8 += first * dg;
      e.scale += first;
    }
    return e;
  }
};

// Rows x [heads][n, dg] (head h at x + h * head_stride): optional RMSNorm (weight norm_w [dg], eps
// 1e-6, as attngate_knorm) then the gate RoPE at position (first_block + i) * block_size for row i.
// Without `out`: in place; with it, row i of head h is written as entry h * out_head_stride +
// first_block + i of `out` (one sequence's entries: out.stride unused).
cudaError_t run_gate_norm_rope(float* x, int heads, int n, int dg, int64_t head_stride, const float* norm_w,
                               GateRope rope, int first_block, int block_size, GateEntries out,
                               int64_t out_head_stride, cudaStream_t stream);

// Gate RoPE of rows x [rows, dg] from a block table (GateRope::block_table): row R sits at block
// first_block + (R / group) % n (n positions, each repeated for `group` consecutive rows). In place, or
// with `out` to out [rows / (n * group), group, n, dg]: x [heads, n, group, dg] with its two inner
// dimensions swapped (a K-only gate's keys [Hkv, nb, g, dg] become one [nb, dg] matrix per query head).
cudaError_t run_gate_rope_rows(float* x, int64_t rows, int dg, int n, int group, int first_block,
                               const float* block_table, cudaStream_t stream, float* out = nullptr);

// The causal part of a chunk's prefill scores as square tiles of t query blocks by t key blocks, for one
// batched GEMM over pointer arrays: q [heads, rows, dg], k [heads, nb, dg], scores [heads, rows, nb].
// Row band b starts at min(b t, rows - t); its key tiles at min(c t, first_q_block + r0), up to the
// band's last row's causal keys (tiles may overlap at the ends; they write the same values). rows >= t.
// score_tiles_per_head gives the count per head; run_gate_score_tiles writes heads * that many pointers
// to each array.
int score_tiles_per_head(int rows, int first_q_block, int t);
cudaError_t run_gate_score_tiles(const float* q, const float* k, float* scores, int heads, int rows, int nb,
                                 int first_q_block, int dg, int t, const float** q_tiles, const float** k_tiles,
                                 float** s_tiles, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// Decode gate (SPEC §2), a batch of B sequences; sequence b's newest token sits at kv_lens[b] - 1.
// Two kernels per step:
//   step:   the matrix-vector products, cut into `slices` CTAs per (sequence, KV head) so that a
//           batch of one still spreads the weight reads over the GPU: the query projection (when
//           scoring) and, for a sequence whose new token completes its block, linear_k of the
//           block's pooled K (its statistics plus the new token), as partial sums; the last CTA of
//           each (sequence, KV head) sums them and writes the state (the block's statistics; the
//           completed block's entry = knorm -> RoPE, or a new block's zero placeholder) and the query
//           (qnorm -> RoPE at the token's position)
//   scores: every KV head's query against its compressed entries; on sm_90+ it starts while the step
//           kernel runs (programmatic dependent launch) and streams the entries the step does not
//           write, then waits for the query and the row's last entry; with a query the model's Q
//           product made (q_folded), the step makes none: each CTA makes the query itself, CTA 0 of a
//           row writes it to qg, and only the CTA of a row's last entry waits for the step kernel

constexpr int kGateMaxSlices = 16;  // GateDecodeParams::slices at most

struct GateDecodeParams {
  int batch_size = 0;
  int num_qo_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int hidden = 0;  // dg (0 without a decode gate: statistics only)
  int block_size = 64;
  int max_blocks = 0;
  const int32_t* kv_lens = nullptr;  // [B], after the new token
  // The new token's pre-RoPE k [B][Hkv, d] bf16, k_stride elements between sequences.
  const __nv_bfloat16* k = nullptr;
  int64_t k_stride = 0;
  float* stats = nullptr;        // [B][3, Hkv, max_blocks, d]
  int64_t stats_stride = 0;      // floats between sequences
  GateEntries entries;  // none: statistics only (prefill gate)
  GatePools k_pools;
  const float* linear_k = nullptr;  // [Hkv, P*d, dg]
  const float* k_norm = nullptr;    // [dg] or null
  bool upstream_rope_position = false;  // rotate a completed block at its last token (SPEC §2.3)
  // Query: q [B][Hq, d] bf16, q_stride elements between sequences.
  const __nv_bfloat16* q = nullptr;
  int64_t q_stride = 0;
  int q_pooling = 0;                 // 0 Qproj, 1 Qavgproj, 2 Qavg (seer::QHeadPooling)
  const float* linear_q = nullptr;   // Qproj [Hkv, g, d, dg] | Qavgproj [Hkv, d, dg] | null
  const float* q_norm = nullptr;     // [dg] or null
  GateRope rope;
  bool scoring = true;               // false: state only (a dense layer)
  int slices = 1;                    // CTAs per (sequence, KV head) of the projections, 1 .. kGateMaxSlices
  float* q_partial = nullptr;        // [B, Hkv, slices, dg] workspace
  float* e_partial = nullptr;        // [B, Hkv, slices, dg] workspace
  unsigned* done = nullptr;          // [B, Hkv] slice counters, zero between steps (left zero)
  float* qg = nullptr;               // [B, Hkv, dg] the query, written by the step kernel (q_folded: the scores kernel)
  // The query's projection made by the model's own Q product (run_gate_fold_query's weights):
  // [B][Hkv, dg] bf16, q_folded_stride elements between sequences, plus q_folded_bias [Hkv, dg] fp32 or
  // null. When set, the step makes no query: the scores kernel adds the bias, then qnorm -> RoPE (fp32; the
  // position's rotation from rope.block_table and rope.slot_table), and CTA 0 of each row writes it to qg.
  const __nv_bfloat16* q_folded = nullptr;
  int64_t q_folded_stride = 0;
  const float* q_folded_bias = nullptr;
};

cudaError_t run_gate_decode_step(const GateDecodeParams& p, cudaStream_t stream);

// The decode gate's query projection folded into the model's Q weights, one layer: the model's pre-RoPE
// q = Wq · x + bq (no q norm) makes the gate's query map E_h (per KV head h, [g * d, dg]: Qproj's
// linear_q[h]; Qavgproj's linear_q[h] [d, dg] over the group mean; Qavg's group mean) a product with x:
//   w_out[h * dg + o, :] = Σ_{r < g d} E_h[r, o] · wq[h * g * d + r, :]       bf16 [Hkv * dg, in] (fp32 sums)
//   b_out[h * dg + o]    = Σ_{r < g d} E_h[r, o] · bq[h * g * d + r]          fp32 [Hkv * dg] (when bq)
// wq: [Hq * d, in] bf16; linear_q as GateDecodeParams (null for Qavg, where dg = d).
cudaError_t run_gate_fold_query(const __nv_bfloat16* wq, const float* bq, const float* linear_q, int q_pooling,
                                int num_qo_heads, int num_kv_heads, int head_dim, int hidden, int in,
                                __nv_bfloat16* w_out, float* b_out, cudaStream_t stream);
// scores[(b * Hkv + h) * row_stride + j] = qg[b, h] . entries[b][h, j] / sqrt(dg), j < ceil(kv_lens[b] / bs);
// num_blocks bounds ceil(kv_lens[b] / bs) (the grid).
cudaError_t run_gate_decode_scores(const GateDecodeParams& p, float* scores, int64_t row_stride, int num_blocks,
                                   cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// Selection (SPEC §3, exactly seer::select_prefill / select_decode on the same scores): each row's
// selected key blocks, ascending, into CSR; counts of selected / dense / forced blocks added to
// `counts` [3] (BlockCounts order). The scores are logits (a threshold takes the softmax over the
// row first); NaN ranks below every number, Top-K ties go to the lower block index.

struct GateSelectParams {
  float* scores = nullptr;  // row R at scores + R * row_stride (overwritten with its int32 selection)
  int64_t row_stride = 0;
  int num_rows = 0;         // all rows
  bool decode = false;
  // Prefill rows: R = head * rows_per_head + r, query block qb = first_q_block + r, entries 0..qb;
  // the sequence so far has num_blocks query blocks (last_block_dense: rows qb >= num_blocks - 2 on).
  int rows_per_head = 0;
  int first_q_block = 0;
  int num_blocks = 0;
  bool last_block_dense = false;
  // The sink rule (seer::PrefillSparsity::keep_sink): block 0 in every prefill row; Top-K with k >= 2
  // ranks it first (one of its k slots; the row's entry 0 in `scores` is overwritten), a threshold
  // row gets it added when it is left out (counted as forced).
  bool keep_sink = false;
  // A gate trained without block 0 (GateConfig::sink_excluded; both kinds of row): entry 0 is not a
  // score. Every row keeps block 0 as one of its picks (what the CPU gates' +inf there does): Top-K
  // ranks it first (one of its k slots; entry 0 in `scores` is overwritten), a threshold takes the
  // softmax over entries 1.. and passes block 0 (never forced).
  bool sink_excluded = false;
  // Decode rows: R = b * num_heads + h, entries 0 .. ceil(kv_lens[b] / block_size) - 1; the sink
  // block 0 and the current block are always kept. num_blocks bounds every row's length.
  const int32_t* kv_lens = nullptr;
  int num_heads = 0;
  int block_size = 64;
  // Method: Top-K of k per row (k >= the row's entries: all of them), or softmax probability > tau,
  // or (mass) the fewest highest blocks holding a share tau of the row's softmax (seer::PrefillSparsity
  // and seer::DecodeSparsity mass:P; block 0 of a sink_excluded row is passed and weighs nothing).
  bool top_k = true;
  bool mass = false;
  int k = 1;
  // Top-K only: k of each head (seer::share_budget's counts of the layer; null: k for every row).
  // Decode: [num_heads], row R takes head_k[R % num_heads] (KV heads), and k bounds them all.
  // Prefill: [num_rows / rows_per_head], row R takes head_k[R / rows_per_head] (query heads).
  const int32_t* head_k = nullptr;
  double tau = 0.0;
  int32_t* row_offsets = nullptr;    // [num_rows + 1]
  int32_t* block_indices = nullptr;  // capacity: every row's entries
  // Decode only, instead of CSR (no scan): row R's blocks at block_indices + R * index_stride,
  // row_counts[R] of them (sparse_decode reads this form).
  int32_t* row_counts = nullptr;
  int64_t index_stride = 0;
  unsigned long long* counts = nullptr;  // [3] selected, dense, forced (added to); may be null
};

// Prefill rows: one warp per row; Top-K lists have closed-form offsets and counts and go straight
// to CSR (one kernel), threshold rows are selected in place, then scanned and compacted (three
// kernels). Decode rows: one CTA per row, launched like the scores kernel (early, waiting for what
// the kernel before it writes); fixed-stride output is that kernel alone, CSR adds the scan and
// compaction. Top-K finds the k-th largest score without sorting: one counting pass over 256 bins
// linear in the score between the row's extremes (a monotone map, so the bin holding the answer is
// exact), then, only while more than 32 candidates remain, 8-bit radix passes over them; the last
// <= 32 candidates are ranked directly. Prefill rows of up to 512 blocks also keep each bin's
// smallest score (the answer, when its bin holds exactly the scores still needed) and span their bins
// below a +inf block 0 (a gate trained without it); see kth_largest in gate.cu.
cudaError_t run_gate_select(const GateSelectParams& p, cudaStream_t stream);

}  // namespace seer::cuda
