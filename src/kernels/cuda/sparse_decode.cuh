// Sparse decode attention on the GPU (SPEC §5.2(b), reimplemented): one query token per sequence,
// one ascending selected-block list per (sequence, kv head) shared by the head's whole GQA group,
// split-KV over the *selected-index list* (paper §3.3) and a log-sum-exp merge. Empty splits write
// lse = -inf and are merged safely (no `lse == 0` sentinel: SPEC §5.2 bug). Semantics match
// seer::ref_attention with qo_len = 1 and per-kv-head rows: the query of sequence b sits at position
// kv_len[b]-1; keys >= kv_len[b] do not exist; a head that sees no key outputs zeros.
//
// Layouts (contiguous):
//   q             [batch_size, num_qo_heads, head_dim]
//   k, v          [batch_size, num_kv_heads, max_context, head_dim]
//   out           [batch_size, num_qo_heads, head_dim]
//   kv_len        [batch_size]                           int32, on the GPU
//   row_offsets   [batch_size * num_kv_heads + 1]        int32, on the GPU
//   block_indices [nnz]                                  int32, on the GPU, ascending within a row
// or, instead of row_offsets, fixed-stride rows (what the GPU gates write, with no scan): row r's
// blocks at block_indices + r * row_stride, row_counts[r] of them.
//   partial_o     [batch_size, num_qo_heads, num_splits, head_dim]  fp32 workspace (num_splits > 1)
//   partial_lse   [batch_size, num_qo_heads, num_splits]            fp32 workspace, base-2 LSE
// Block statistics (the oracle's, AttentionPolicy::scores_from_attention), when block_stat is set:
//   block_stat    [batch_size, num_kv_heads, stat_stride] fp32: for each block j of a row's list, the GQA
//                 group's max (group_sum: sum, heads in order) over its heads of the block's largest
//                 attention probability at the query (block_mass: the sum of its probabilities), under the
//                 softmax over the row's selected keys (0 for a block past kv_len, and for every block
//                 of a head that sees no key); other entries are not written. stat_stride > every
//                 listed block index (e.g. ceil(max_context / 64)).
//   block_logit   [batch_size, num_qo_heads, stat_stride] fp32 workspace: each head's base-2 block max
//                 (block_mass: log-sum-exp) of the scaled scores.
// The statistics need partial_lse also with one split (sparse_decode_workspace_floats(..., true)).
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace seer {
class Status;
}

namespace seer::cuda {

struct SparseDecodeParams {
  const void* q = nullptr;                // [batch_size, num_qo_heads, head_dim]
  const void* k_cache = nullptr;          // [batch_size, num_kv_heads, max_context, head_dim]
  const void* v_cache = nullptr;          // [batch_size, num_kv_heads, max_context, head_dim]
  void* out = nullptr;                    // [batch_size, num_qo_heads, head_dim]
  const int32_t* kv_len = nullptr;        // [batch_size]
  const int32_t* row_offsets = nullptr;   // [batch_size * num_kv_heads + 1]
  const int32_t* block_indices = nullptr; // [nnz]
  const int32_t* row_counts = nullptr;    // [batch_size * num_kv_heads]: fixed-stride rows (then no row_offsets)
  int64_t row_stride = 0;                 // entries between fixed-stride rows
  float* partial_o = nullptr;             // [batch_size, num_qo_heads, num_splits, head_dim]
  float* partial_lse = nullptr;           // [batch_size, num_qo_heads, num_splits]
  DType dtype = DType::kBF16;
  int batch_size = 0;
  int num_qo_heads = 0;
  int num_kv_heads = 0;  // group_size = num_qo_heads / num_kv_heads <= 16
  int head_dim = 0;      // 64 or 128
  int max_context = 0;
  int block_size = 64;   // only 64
  int num_splits = 1;    // splits of each row's selected list; see plan_decode_splits (plan.cuh)
  float scale = 0.0f;
  float* block_stat = nullptr;            // [batch_size, num_kv_heads, stat_stride], or null
  float* block_logit = nullptr;           // [batch_size, num_qo_heads, stat_stride] workspace
  int64_t stat_stride = 0;
  bool block_mass = false;  // block_stat: the block's probability mass instead of its largest probability
  bool group_sum = false;   // block_stat: the group's sum instead of its max
};

// Workspace floats needed for `num_splits` (0 when num_splits == 1 without block statistics: the
// kernel writes `out` itself). partial_lse starts batch_size * num_qo_heads * num_splits * head_dim in.
inline int64_t sparse_decode_workspace_floats(int batch_size, int num_qo_heads, int head_dim, int num_splits,
                                              bool block_stats = false) {
  if (num_splits <= 1 && !block_stats) return 0;
  return int64_t(batch_size) * num_qo_heads * std::max(num_splits, 1) * (head_dim + 1);
}

// Runs the split kernel, (num_splits > 1) the merge kernel and (block_stat) the statistics kernel on `stream`.
Status launch_sparse_decode(const SparseDecodeParams& params, cudaStream_t stream);

// The raw launches behind launch_sparse_decode (sparse_decode.cu): no validation.
cudaError_t run_sparse_decode_kernels(const SparseDecodeParams& params, cudaStream_t stream);
// CTAs of the split kernel that fit on one SM (for plan_decode_splits).
cudaError_t sparse_decode_ctas_per_sm(DType dtype, int head_dim, int* ctas);

}  // namespace seer::cuda
