// Host launchers of the ground-truth reductions (block_max_pool.cu): validation and errors.
#include "kernels/cuda/block_max_pool.cuh"

#include "kernels/cuda/check.h"

namespace seer::cuda {
namespace {

Status check(const BlockMaxPoolParams& p, const char* op) {
  if (!p.in || !p.out) return Status::error("{}: in and out must be set", op);
  if (p.qo_len < 1 || p.kv_len < p.qo_len)
    return Status::error("{}: qo_len {} and kv_len {} are inconsistent", op, p.qo_len, p.kv_len);
  if (p.num_qo_heads <= 0 || p.num_kv_heads <= 0 || p.num_qo_heads % p.num_kv_heads != 0)
    return Status::error("{}: num_qo_heads {} is not a multiple of num_kv_heads {}", op, p.num_qo_heads,
                         p.num_kv_heads);
  return Status::ok();
}

}  // namespace

Status launch_block_max_pool_2d(const BlockMaxPoolParams& p, cudaStream_t stream) {
  SEER_RETURN_IF_ERROR(check(p, "block_max_pool_2d"));
  SEER_CUDA_CHECK(run_block_max_pool_2d(p, stream));
  SEER_CUDA_CHECK_LAUNCH("block_max_pool_2d", stream);
  return Status::ok();
}

Status launch_block_max_group_max(const BlockMaxPoolParams& p, cudaStream_t stream) {
  SEER_RETURN_IF_ERROR(check(p, "block_max_group_max"));
  if (p.rows && (p.num_rows < 0 || p.num_rows > p.qo_len))
    return Status::error("block_max_group_max: num_rows {} is outside [0, qo_len {}]", p.num_rows, p.qo_len);
  SEER_CUDA_CHECK(run_block_max_group_max(p, stream));
  SEER_CUDA_CHECK_LAUNCH("block_max_group_max", stream);
  return Status::ok();
}

}  // namespace seer::cuda
