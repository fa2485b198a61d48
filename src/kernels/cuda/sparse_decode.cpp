// Host launcher of the sparse decode attention: validation and error reporting; the kernels are
// in sparse_decode.cu. See sparse_decode.cuh for layouts and semantics.
#include "kernels/cuda/sparse_decode.cuh"

#include "kernels/cuda/check.h"

namespace seer::cuda {

Status launch_sparse_decode(const SparseDecodeParams& p, cudaStream_t stream) {
  if (p.head_dim != 64 && p.head_dim != 128)
    return Status::error("sparse_decode: head_dim {} is not supported (64 or 128)", p.head_dim);
  if (p.block_size != 64) return Status::error("sparse_decode: block_size {} is not supported (64)", p.block_size);
  if (p.num_qo_heads <= 0 || p.num_kv_heads <= 0 || p.num_qo_heads % p.num_kv_heads != 0)
    return Status::error("sparse_decode: num_qo_heads {} is not a multiple of num_kv_heads {}", p.num_qo_heads,
                         p.num_kv_heads);
  if (p.num_qo_heads / p.num_kv_heads > 16)
    return Status::error("sparse_decode: group_size {} exceeds 16", p.num_qo_heads / p.num_kv_heads);
  if (p.num_splits < 1 || p.num_splits > 65535)
    return Status::error("sparse_decode: num_splits {} is out of range [1, 65535]", p.num_splits);
  if (p.num_kv_heads > 65535 || p.batch_size > 65535)
    return Status::error("sparse_decode: num_kv_heads {} or batch_size {} exceeds 65535", p.num_kv_heads,
                         p.batch_size);
  if (p.batch_size == 0) return Status::ok();
  if (!p.q || !p.k_cache || !p.v_cache || !p.out || !p.kv_len || !(p.row_offsets || p.row_counts) || !p.block_indices)
    return Status::error("sparse_decode: a required pointer is null");
  if (p.row_counts && p.row_stride < 1)
    return Status::error("sparse_decode: fixed-stride rows need row_stride >= 1 (got {})", p.row_stride);
  if (p.num_splits > 1 && (!p.partial_o || !p.partial_lse))
    return Status::error("sparse_decode: num_splits {} needs the partial_o/partial_lse workspace", p.num_splits);
  if (p.block_stat) {
    if (!p.block_logit) return Status::error("sparse_decode: block_stat needs the block_logit workspace (null)");
    if (!p.partial_lse)
      return Status::error("sparse_decode: block_stat needs partial_lse (null), also with num_splits {}", p.num_splits);
    if (p.stat_stride < 1) return Status::error("sparse_decode: block_stat needs stat_stride >= 1 (got {})", p.stat_stride);
  } else if (p.block_mass || p.group_sum || p.block_logit) {
    return Status::error("sparse_decode: block_mass, group_sum and block_logit are block_stat options, and block_stat "
                         "is null");
  }
  for (const void* ptr : {p.q, p.k_cache, p.v_cache})
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) return Status::error("sparse_decode: q, k and v must be 16-byte aligned");
  SEER_CUDA_CHECK(run_sparse_decode_kernels(p, stream));
  SEER_CUDA_CHECK_LAUNCH("sparse_decode_kernel", stream);
  return Status::ok();
}

}  // namespace seer::cuda
