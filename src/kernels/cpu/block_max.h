// Ground truth for gate training (SPEC §4.1, §4.2, §5.3): the causal softmax of post-RoPE queries
// against the K cache, reduced to the largest probability inside each key block, without
// materialising the attention matrix. A thread takes up to 64 query rows of one head and walks the
// keys in chunks of whole blocks (an sgemm into a 64 x 512 tile that stays in L2); per row it keeps
// the max logit of every block and, flash-attention style, the running row max and sum of exp2.
// fp32 throughout, scores in base 2.
//
// For query row p (absolute position) and key block j the value is
//   max_{c in block j, c <= p} P[p, c],  P = softmax_c(q_p . k_c * scale) over c <= p,
// or with AttentionParams::block_mass the block's mass sum_{c in block j, c <= p} P[p, c], and 0 for
// blocks that start after p. No normalisation over blocks happens here.
//
// Layouts: q [qo_len, num_qo_heads, head_dim], k_cache [num_kv_heads, max_context, head_dim]
// (AttentionParams; v_cache and out are not used). nb = ceil(kv_len / block_size).
#pragma once

#include "kernels/cpu/attention.h"

namespace seer {

class ThreadPool;

// 2-D (prefill ground truth): out [num_qo_heads, num_rows, nb], row r = query block
// start_pos/bs + r, the max over that block's query rows (the new tokens only).
void attention_block_max_2d(const AttentionParams& p, int block_size, float* out, ThreadPool& pool);

// 1-D (decode ground truth): for `n` query rows `rows` (indices into q, ascending), out
// [n, num_qo_heads, nb], one row per query token and head.
void attention_block_max_1d(const AttentionParams& p, int block_size, const int* rows, int n,
                            float* out, ThreadPool& pool);

// The reference is ref_attention_block_max (kernels/cpu/attention.h).

}  // namespace seer
