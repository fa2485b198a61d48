// Ground-truth reductions; see block_max_pool.cuh. One thread per output element: these are
// memory-bound passes over a buffer the attention kernel just wrote.
#include "kernels/cuda/block_max_pool.cuh"

namespace seer::cuda {
namespace {

constexpr int kBlock = 64;

__global__ void pool_2d_kernel(const BlockMaxPoolParams p, int nb, int first_qb, int rows) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = int64_t(p.num_qo_heads) * rows * nb;
  if (idx >= total) return;
  const int j = int(idx % nb), r = int(idx / nb % rows), h = int(idx / nb / rows);
  const int start = p.kv_len - p.qo_len, qb = first_qb + r;
  const int t0 = max(qb * kBlock, start) - start, t1 = min((qb + 1) * kBlock, p.kv_len) - start;
  float m = 0.0f;
  for (int t = t0; t < t1; ++t) m = fmaxf(m, p.in[(int64_t(t) * p.num_qo_heads + h) * nb + j]);
  p.out[idx] = m;
}

__global__ void group_max_kernel(const BlockMaxPoolParams p, int nb) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = int64_t(p.rows ? p.num_rows : p.qo_len) * p.num_kv_heads * nb;
  if (idx >= total) return;
  const int j = int(idx % nb), hk = int(idx / nb % p.num_kv_heads), i = int(idx / nb / p.num_kv_heads);
  const int t = p.rows ? p.rows[i] : i;
  const int group = p.num_qo_heads / p.num_kv_heads;
  float m = 0.0f;  // heads in order, as reduce_block_max
  for (int g = 0; g < group; ++g) {
    const float x = p.in[(int64_t(t) * p.num_qo_heads + hk * group + g) * nb + j];
    m = p.group_sum ? __fadd_rn(m, x) : fmaxf(m, x);
  }
  p.out[idx] = m;
}

}  // namespace

cudaError_t run_block_max_pool_2d(const BlockMaxPoolParams& p, cudaStream_t stream) {
  const int nb = (p.kv_len + kBlock - 1) / kBlock, first_qb = (p.kv_len - p.qo_len) / kBlock;
  const int rows = (p.kv_len - 1) / kBlock - first_qb + 1;
  const int64_t total = int64_t(p.num_qo_heads) * rows * nb;
  pool_2d_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(p, nb, first_qb, rows);
  return cudaGetLastError();
}

cudaError_t run_block_max_group_max(const BlockMaxPoolParams& p, cudaStream_t stream) {
  const int nb = (p.kv_len + kBlock - 1) / kBlock;
  const int64_t total = int64_t(p.rows ? p.num_rows : p.qo_len) * p.num_kv_heads * nb;
  if (total == 0) return cudaSuccess;
  group_max_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(p, nb);
  return cudaGetLastError();
}

}  // namespace seer::cuda
