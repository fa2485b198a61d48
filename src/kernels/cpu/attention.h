// Block-sparse causal attention on the CPU, prefill and decode, with native GQA.
//
// The key blocks visited by each (head, query block) row come from a BlockSelection
// (seer/attention.h). Inside a visited block the causal rule key_pos <= query_pos is applied
// element-wise; positions >= kv_len do not exist. A query row that sees no key (an empty
// selection row) outputs zeros. Dense attention is the selection with every causal block.
//
// Layouts:
//   q   [qo_len, num_qo_heads, head_dim]        post-RoPE, token-major (as the projections write it)
//   k,v [num_kv_heads, max_context, head_dim]   the layer's KV cache
//   out [qo_len, num_qo_heads, head_dim]
// qo head h reads kv head h / group_size.
#pragma once

#include <seer/attention.h>

#include <cstdint>

namespace seer {

class ThreadPool;

struct AttentionParams {
  const float* q = nullptr;        // [qo_len, num_qo_heads, head_dim]
  const float* k_cache = nullptr;  // [num_kv_heads, max_context, head_dim]
  const float* v_cache = nullptr;  // [num_kv_heads, max_context, head_dim]
  float* out = nullptr;            // [qo_len, num_qo_heads, head_dim]
  int qo_len = 0;
  int kv_len = 0;     // keys at positions [0, kv_len); queries at [kv_len - qo_len, kv_len)
  int num_qo_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int max_context = 0;
  float scale = 0.0f;  // softmax scale, usually 1/sqrt(head_dim)
  // Optional (gate-training ground truth, SPEC §4): for every query row and qo head, the largest
  // attention probability inside each key block of block_max_size tokens (a multiple of 64), 0 for
  // blocks the row did not visit. [qo_len, num_qo_heads, ceil(kv_len / block_max_size)]. Prefill
  // rows only (the split decode path does not fill it).
  float* block_max = nullptr;
  int block_max_size = 64;
  // With block_mass, block_max holds each block's share of the row's attention (the sum of its
  // probabilities) instead of its largest probability (GroundTruthRequest::stat).
  bool block_mass = false;
  int start_pos() const { return kv_len - qo_len; }
};

// Fast kernel: 64-key tiles, online softmax in base 2, 16-wide vectors, parallel over rows
// (and over chunks of selected blocks with a log-sum-exp merge when there are few rows).
void attention(const AttentionParams& p, const BlockSelection& sel, ThreadPool& pool);

// Reference: a direct loop over the selected blocks, double accumulation.
void ref_attention(const AttentionParams& p, const BlockSelection& sel);

// Reference of AttentionParams::block_max for a dense selection (and of kernels/cpu/block_max.h):
// every query row and qo head from the full causal probability row, double precision; the largest
// probability in each block, or with p.block_mass their sum.
// out [qo_len, num_qo_heads, ceil(kv_len / block_size)].
void ref_attention_block_max(const AttentionParams& p, int block_size, float* out);

// Gate training's reductions of AttentionParams::block_max (block size req.block_size) as a
// GroundTruthRequest (seer/attention.h) asks: the 2-D pool per query block and the group max at
// req.rows. The CPU engine's path, and the reference of the GPU's kernels/cuda/block_max_pool.
void reduce_block_max(const float* block_max, int qo_len, int kv_len, int num_qo_heads, int num_kv_heads,
                      const GroundTruthRequest& req);

}  // namespace seer
