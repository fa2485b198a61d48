// The plan step on the GPU (flashinfer's plan/run split): turns what a gate's threshold produces,
// a dense block mask, into the CSR block lists the attention kernels consume, with no host round
// trip; and chooses the decode split count. SPEC §3 (selection) feeding §5.1/§5.2 (kernels).
//
// Layouts:
//   mask          [num_heads, num_rows, num_key_blocks]  uint8 (0 = skip, nonzero = visit), on the GPU
//   row_offsets   [num_heads * num_rows + 1]             int32, on the GPU (written)
//   block_indices [capacity]                             int32, on the GPU (written, ascending per row)
// Row (h, r) is h * num_rows + r, as in seer::BlockSelection. With `causal`, blocks above the row's
// query block (first_q_block + r) are dropped. The number of entries (row_offsets[last]) is only
// known on the device: size block_indices for the worst case, num_heads * num_rows * num_key_blocks
// (or the causal triangle), or read row_offsets back.
#pragma once

#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace seer {
class Status;
}

namespace seer::cuda {

struct MaskToCsrParams {
  const uint8_t* mask = nullptr;    // [num_heads, num_rows, num_key_blocks]
  int32_t* row_offsets = nullptr;   // [num_heads * num_rows + 1]
  int32_t* block_indices = nullptr; // [capacity]
  int64_t capacity = 0;             // entries block_indices can hold (checked on the host worst case)
  int num_heads = 0;
  int num_rows = 0;
  int num_key_blocks = 0;
  int first_q_block = 0;
  bool causal = true;
};

// Count per row → in-place exclusive scan → fill, three kernels on `stream`.
Status launch_mask_to_csr(const MaskToCsrParams& params, cudaStream_t stream);
cudaError_t run_mask_to_csr_kernels(const MaskToCsrParams& params, cudaStream_t stream);

// row_offsets[1..rows] hold row counts: turns them into CSR offsets in place (row_offsets[0] = 0 is
// written too). One CTA; also used by the gate selection (gate.cuh).
cudaError_t run_scan_row_offsets(int32_t* row_offsets, int64_t rows, cudaStream_t stream);

// Decode work partition: how many slices to cut each (sequence, kv head) selected list into so that
// rows * splits CTAs fill `num_sms * ctas_per_sm` slots with little wave quantisation, while each
// slice keeps >= 4 blocks (one per warp) and there are at most 64 splits. Pure function.
int choose_decode_splits(int num_rows, int max_blocks_per_row, int num_sms, int ctas_per_sm);

// The same for the current device and the decode kernel's occupancy.
Status plan_decode_splits(DType dtype, int head_dim, int batch_size, int num_kv_heads, int max_blocks_per_row,
                          int* num_splits);

}  // namespace seer::cuda
