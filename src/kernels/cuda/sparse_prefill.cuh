// Block-sparse causal prefill attention on the GPU (SPEC §5.1(c), reimplemented: FA2-style tiles,
// mma.sync m16n8k16, native GQA, bf16 and fp16, an ascending CSR block list instead of the
// upstream descending −1-padded list). Semantics are exactly those of seer::ref_attention
// (src/kernels/cpu/attention.h): selection row (head, query block) visits its listed key blocks;
// inside a visited block key_pos <= query_pos and key_pos < kv_len are applied element-wise; a
// query row that sees no key outputs zeros; queries sit at positions kv_len-qo_len .. kv_len-1.
//
// Layouts (element strides are given explicitly; fill_contiguous_strides() sets the dense ones):
//   q     [qo_len, num_qo_heads, head_dim]
//   k, v  [num_kv_heads, max_context, head_dim]   the layer's cache, valid up to kv_len
//   out   [qo_len, num_qo_heads, head_dim]
//   row_offsets   [num_sel_heads * num_rows + 1]  int32, on the GPU (num_sel_heads = num_qo_heads,
//                                                 or num_kv_heads when per_kv_head)
//   block_indices [nnz]                           int32, on the GPU, ascending within a row
// qo head h reads kv head h / (num_qo_heads / num_kv_heads).
//
// Batched variable-length prefill (q_start != nullptr): batch_size sequences in one launch.
//   q, out        [total_q, num_qo_heads, head_dim]   sequence b owns rows q_start[b] .. q_start[b+1]-1
//   k, v          [batch_size][num_kv_heads, max_context, head_dim]   (kv_stride_batch apart)
//   kv_lens       [batch_size]     keys of sequence b; its queries sit at kv_lens[b] - qo_len_b ..
//   row_start     [batch_size + 1] sequence b's selection rows are row_start[b] .. row_start[b+1]-1
//                                  of every selection head, for query blocks first_q_block_b = (kv_lens[b] -
//                                  qo_len_b) / 64 onwards; num_rows = row_start[batch_size] (all rows)
// All three arrays are int32 on the GPU. qo_len = total_q, max_rows = the largest number of
// 64-query tiles of one sequence (the grid's height; its selection rows when block_size is 64). Per-sequence consistency (qo_len_b <= kv_lens[b] <=
// max_context, rows covering the queries, listed blocks below ceil(kv_lens[b] / 64)) is the
// caller's contract: the arrays are not read on the host. No block maxima in this mode.
#pragma once

#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace seer {
class Status;
}

namespace seer::cuda {

// Which kernel runs the op. kAuto: the Hopper kernel (sparse_prefill_sm90.cu: TMA + wgmma) when
// sparse_prefill_sm90_available() and no block maxima are asked for, else the mma.sync kernel.
enum class PrefillPath { kAuto, kMmaSync, kWgmma };

struct SparsePrefillParams {
  const void* q = nullptr;                // [qo_len, num_qo_heads, head_dim]
  const void* k_cache = nullptr;          // [num_kv_heads, max_context, head_dim]
  const void* v_cache = nullptr;          // [num_kv_heads, max_context, head_dim]
  void* out = nullptr;                    // [qo_len, num_qo_heads, head_dim]
  const int32_t* row_offsets = nullptr;   // [num_sel_heads * num_rows + 1]
  const int32_t* block_indices = nullptr; // [nnz]
  DType dtype = DType::kBF16;
  int qo_len = 0;
  int kv_len = 0;  // keys at [0, kv_len); queries at [kv_len - qo_len, kv_len)
  int num_qo_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // 64 or 128
  int max_context = 0;
  int block_size = 64;     // selection block: 64 or 128 (query rows and key blocks of the lists)
  int first_q_block = 0;   // absolute query block (of block_size) of selection row 0
  int num_rows = 0;        // selection rows per head
  bool per_kv_head = false;  // selection rows per kv head (shared by the GQA group)
  float scale = 0.0f;        // softmax scale, usually 1/sqrt(head_dim)
  PrefillPath path = PrefillPath::kAuto;
  // Batched variable-length mode (see the top of this file); all null / 1 for one sequence.
  int batch_size = 1;
  const int32_t* q_start = nullptr;    // [batch_size + 1]
  const int32_t* kv_lens = nullptr;    // [batch_size]
  const int32_t* row_start = nullptr;  // [batch_size + 1]
  int max_rows = 0;                    // batched: see above; one sequence: set by the launcher
  int64_t kv_stride_batch = 0;         // elements; 0 = num_kv_heads * kv_stride_head
  // Optional, gate-training ground truth (SPEC §4, §5.3), fp32 on the GPU:
  //   block_max [qo_len, num_qo_heads, ceil(kv_len / 64)]
  // per query row and qo head, the largest attention probability inside each visited key block
  // (0 for blocks the row does not visit), as seer::ref_attention_block_max computes for a dense
  // selection. The launcher zeroes it first. Costs one fp32 write per row and visited block.
  // With block_mass, each block's share of the row's attention (the sum of its probabilities)
  // instead of its largest probability (seer::GroundTruthRequest::stat).
  float* block_max = nullptr;
  bool block_mass = false;
  // Element strides; 0 means "contiguous in the layout above".
  int64_t q_stride_token = 0, q_stride_head = 0;
  int64_t kv_stride_head = 0, kv_stride_token = 0;
  int64_t o_stride_token = 0, o_stride_head = 0;

  void fill_contiguous_strides() {
    if (!q_stride_head) q_stride_head = head_dim;
    if (!q_stride_token) q_stride_token = int64_t(num_qo_heads) * head_dim;
    if (!kv_stride_token) kv_stride_token = head_dim;
    if (!kv_stride_head) kv_stride_head = int64_t(max_context) * head_dim;
    if (!kv_stride_batch) kv_stride_batch = int64_t(num_kv_heads) * kv_stride_head;
    if (!o_stride_head) o_stride_head = head_dim;
    if (!o_stride_token) o_stride_token = int64_t(num_qo_heads) * head_dim;
  }
};

#ifdef __CUDACC__
// What one CTA of either kernel works on: query head h, 64-query tile `grid_row` (heaviest first)
// of sequence b (blockIdx.z in batched mode; the single sequence otherwise). With block_size 128 a
// selection row serves two tiles and every listed block is two 64-key blocks: tile_block() returns
// the listed 64-key blocks, ascending.
struct PrefillTile {
  int kv_len;            // keys of the tile's sequence
  int kvh;               // the head's KV head
  int pos0, n_q;         // the tile's queries sit at positions pos0 .. pos0+n_q-1; n_q <= 0: no work
  int64_t q_row0;        // row of pos0 in q and out
  const int32_t* blocks; // the selection row's listed blocks (of block_size), ascending
  int n_blocks;          // 64-key blocks: listed blocks × sub
  int sub;               // block_size / 64
};
__device__ __forceinline__ int tile_block(const PrefillTile& t, int i) {
  return t.sub == 1 ? t.blocks[i] : t.blocks[i >> 1] * 2 + (i & 1);
}
__device__ __forceinline__ PrefillTile prefill_tile(const SparsePrefillParams& p, int h, int grid_row, int b) {
  int q0 = 0, qo_len = p.qo_len, kv_len = p.kv_len, row0 = 0, first_q_block = p.first_q_block;
  if (p.q_start) {
    q0 = p.q_start[b], qo_len = p.q_start[b + 1] - q0, kv_len = p.kv_lens[b], row0 = p.row_start[b];
    first_q_block = (kv_len - qo_len) / p.block_size;
  }
  PrefillTile t{};
  const int start = kv_len - qo_len, first_tile = start / 64, tiles = (kv_len - 1) / 64 - first_tile + 1;
  if (qo_len <= 0 || grid_row >= tiles) return t;
  const int qt = first_tile + tiles - 1 - grid_row;  // absolute 64-query tile
  t.sub = p.block_size / 64;
  t.kv_len = kv_len;
  t.kvh = h / (p.num_qo_heads / p.num_kv_heads);
  t.pos0 = max(qt * 64, start);
  t.n_q = min((qt + 1) * 64, kv_len) - t.pos0;
  t.q_row0 = q0 + t.pos0 - start;
  const int sel_row = (p.per_kv_head ? t.kvh : h) * p.num_rows + row0 + qt / t.sub - first_q_block;
  t.blocks = p.block_indices + p.row_offsets[sel_row];
  t.n_blocks = (p.row_offsets[sel_row + 1] - p.row_offsets[sel_row]) * t.sub;
  return t;
}
#endif

// Runs the op on `stream`. Validates shapes, strides (multiples of 8 elements) and 16-byte
// alignment; zero strides are filled as contiguous.
Status launch_sparse_prefill(SparsePrefillParams params, cudaStream_t stream);

// The raw launch behind launch_sparse_prefill (sparse_prefill.cu): no validation; returns the
// first CUDA error of the attribute setup or the launch. Dispatches on params.path.
cudaError_t run_sparse_prefill_kernel(const SparsePrefillParams& params, cudaStream_t stream);

// The Hopper kernel (sparse_prefill_sm90.cu) can run: this binary carries sm_90a code, the current
// device is compute capability 9.0 and the driver offers cuTensorMapEncodeTiled.
bool sparse_prefill_sm90_available();
// Its raw launch (no validation, no block maxima); cudaErrorInvalidValue when a tensor map cannot be
// encoded.
cudaError_t run_sparse_prefill_sm90(const SparsePrefillParams& params, cudaStream_t stream);

}  // namespace seer::cuda
