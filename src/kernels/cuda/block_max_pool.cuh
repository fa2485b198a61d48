// Ground-truth reductions for gate training on the GPU (SPEC §4.1, §4.2), applied to the
// SparsePrefillParams::block_max output of a dense prefill (probabilities, fp32):
//   in [qo_len, num_qo_heads, nb], nb = ceil(kv_len / 64), queries at kv_len - qo_len .. kv_len - 1.
// 2-D (prefill gate): out [num_qo_heads, num_rows, nb], row r = query block first_q_block + r
//   (first_q_block = (kv_len - qo_len) / 64): the max over that block's query rows.
// 1-D (decode gate): out [num_rows, num_kv_heads, nb]: the max (group_sum: the sum, heads in order)
//   over the GQA group at query rows rows[0 .. num_rows) (indices into the queries; rows null: every
//   query, num_rows = qo_len).
// Normalisation and the loss masks stay with the trainer. CPU reference: reduce_block_max
// (kernels/cpu/attention.h).
#pragma once

#include "kernels/cuda/common.cuh"

namespace seer {
class Status;
}

namespace seer::cuda {

struct BlockMaxPoolParams {
  const float* in = nullptr;
  float* out = nullptr;
  int qo_len = 0, kv_len = 0;
  int num_qo_heads = 0, num_kv_heads = 0;
  const int32_t* rows = nullptr;  // group max only (device)
  int num_rows = 0;
  bool group_sum = false;  // group max only: GroupPool::kSum
};

Status launch_block_max_pool_2d(const BlockMaxPoolParams& p, cudaStream_t stream);
Status launch_block_max_group_max(const BlockMaxPoolParams& p, cudaStream_t stream);

cudaError_t run_block_max_pool_2d(const BlockMaxPoolParams& p, cudaStream_t stream);
cudaError_t run_block_max_group_max(const BlockMaxPoolParams& p, cudaStream_t stream);

}  // namespace seer::cuda
