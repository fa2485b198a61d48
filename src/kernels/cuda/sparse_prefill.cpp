// Host launcher of the block-sparse prefill attention: validation and error reporting; the
// kernel is in sparse_prefill.cu. See sparse_prefill.cuh for layouts and semantics.
#include "kernels/cuda/sparse_prefill.cuh"

#include "kernels/cuda/check.h"

namespace seer::cuda {
namespace {

constexpr int kBlockM = 64;
constexpr int kBlockN = 64;

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

}  // namespace

Status launch_sparse_prefill(SparsePrefillParams p, cudaStream_t stream) {
  p.fill_contiguous_strides();
  if (p.head_dim != 64 && p.head_dim != 128)
    return Status::error("sparse_prefill: head_dim {} is not supported (64 or 128)", p.head_dim);
  if (p.block_size != 64 && p.block_size != 128)
    return Status::error("sparse_prefill: block_size {} is not supported (64 or 128)", p.block_size);
  if (p.block_max && p.block_size != kBlockN)
    return Status::error("sparse_prefill: block maxima need block_size 64, not {}", p.block_size);
  if (p.num_qo_heads <= 0 || p.num_kv_heads <= 0 || p.num_qo_heads % p.num_kv_heads != 0)
    return Status::error("sparse_prefill: num_qo_heads {} is not a multiple of num_kv_heads {}", p.num_qo_heads,
                         p.num_kv_heads);
  if (p.q_start) {  // batched: per-sequence lengths live on the GPU (the caller's contract)
    if (!p.kv_lens || !p.row_start)
      return Status::error("sparse_prefill: batched mode needs q_start, kv_lens and row_start");
    if (p.batch_size < 1 || p.batch_size > 65535)
      return Status::error("sparse_prefill: batch_size {} is not in [1, 65535]", p.batch_size);
    if (p.max_rows < 0 || p.max_rows > 65535)
      return Status::error("sparse_prefill: max_rows {} is not in [0, 65535]", p.max_rows);
    if (p.qo_len < 0) return Status::error("sparse_prefill: qo_len (total query rows) {} is negative", p.qo_len);
    if (p.block_max) return Status::error("sparse_prefill: block maxima are not written in batched mode");
    if (p.qo_len == 0 || p.max_rows == 0 || p.num_rows == 0) return Status::ok();
  } else {
    if (p.batch_size != 1)
      return Status::error("sparse_prefill: batch_size {} needs q_start, kv_lens and row_start", p.batch_size);
    if (p.qo_len < 0 || p.kv_len < p.qo_len || p.kv_len > p.max_context)
      return Status::error("sparse_prefill: qo_len {}, kv_len {}, max_context {} are inconsistent", p.qo_len,
                           p.kv_len, p.max_context);
    if (p.num_rows > 65535) return Status::error("sparse_prefill: num_rows {} exceeds 65535", p.num_rows);
    if (p.qo_len == 0 || p.num_rows == 0) return Status::ok();
    if (p.first_q_block < 0 || p.first_q_block * p.block_size > p.kv_len - p.qo_len ||
        (p.first_q_block + p.num_rows) * p.block_size < p.kv_len)
      return Status::error("sparse_prefill: selection rows [{}, {}) of {} queries do not cover query positions [{}, {})",
                           p.first_q_block, p.first_q_block + p.num_rows, p.block_size, p.kv_len - p.qo_len, p.kv_len);
    p.max_rows = (p.kv_len - 1) / kBlockM - (p.kv_len - p.qo_len) / kBlockM + 1;  // 64-query tiles
  }
  if (!p.q || !p.k_cache || !p.v_cache || !p.out || !p.row_offsets || !p.block_indices)
    return Status::error("sparse_prefill: a required pointer is null");
  if (!aligned16(p.q) || !aligned16(p.k_cache) || !aligned16(p.v_cache) || !aligned16(p.out))
    return Status::error("sparse_prefill: q, k, v and out must be 16-byte aligned");
  for (int64_t s : {p.q_stride_token, p.q_stride_head, p.kv_stride_head, p.kv_stride_token, p.o_stride_token,
                    p.o_stride_head, p.kv_stride_batch})
    if (s % 8 != 0) return Status::error("sparse_prefill: stride {} is not a multiple of 8 elements", s);
  if (p.path == PrefillPath::kWgmma && !sparse_prefill_sm90_available())
    return Status::error("sparse_prefill: the wgmma path needs an sm_90 device and a binary built for sm_90a");
  if (p.path == PrefillPath::kWgmma && p.block_max)
    return Status::error("sparse_prefill: the wgmma path does not write block maxima; use the mma.sync path");
  if (p.block_max)
    SEER_CUDA_CHECK(cudaMemsetAsync(p.block_max, 0,
                                    sizeof(float) * size_t(p.qo_len) * p.num_qo_heads * ((p.kv_len + kBlockN - 1) / kBlockN),
                                    stream));
  SEER_CUDA_CHECK(run_sparse_prefill_kernel(p, stream));
  SEER_CUDA_CHECK_LAUNCH("sparse_prefill_kernel", stream);
  return Status::ok();
}

}  // namespace seer::cuda
