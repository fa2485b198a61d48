// Host side of the plan step: validation, and the decode split heuristic; see plan.cuh.
#include "kernels/cuda/plan.cuh"

#include <algorithm>

#include "kernels/cuda/check.h"
#include "kernels/cuda/sparse_decode.cuh"

namespace seer::cuda {

Status launch_mask_to_csr(const MaskToCsrParams& p, cudaStream_t stream) {
  if (p.num_heads < 0 || p.num_rows < 0 || p.num_key_blocks < 0 || p.first_q_block < 0)
    return Status::error("mask_to_csr: negative shape (heads {}, rows {}, key blocks {}, first_q_block {})",
                         p.num_heads, p.num_rows, p.num_key_blocks, p.first_q_block);
  if (!p.row_offsets || (p.num_heads * int64_t(p.num_rows) > 0 && (!p.mask || !p.block_indices)))
    return Status::error("mask_to_csr: a required pointer is null");
  int64_t worst = 0;
  for (int r = 0; r < p.num_rows; ++r)
    worst += p.causal ? std::min(p.num_key_blocks, p.first_q_block + r + 1) : p.num_key_blocks;
  worst *= p.num_heads;
  if (worst > INT32_MAX) return Status::error("mask_to_csr: {} possible entries overflow int32 offsets", worst);
  if (p.capacity < worst)
    return Status::error("mask_to_csr: block_indices holds {} entries but the mask may select {}", p.capacity, worst);
  SEER_CUDA_CHECK(run_mask_to_csr_kernels(p, stream));
  SEER_CUDA_CHECK_LAUNCH("mask_to_csr", stream);
  return Status::ok();
}

int choose_decode_splits(int num_rows, int max_blocks_per_row, int num_sms, int ctas_per_sm) {
  if (num_rows <= 0 || max_blocks_per_row <= 0) return 1;
  const int slots = std::max(1, num_sms * std::max(1, ctas_per_sm));
  const int max_splits = std::clamp((max_blocks_per_row + 3) / 4, 1, 64);
  // Efficiency of s splits: busy slots over slots held, counted over whole waves.
  auto efficiency = [&](int s) {
    const int64_t ctas = int64_t(num_rows) * s;
    const int64_t waves = (ctas + slots - 1) / slots;
    return double(ctas) / double(waves * slots);
  };
  if (int64_t(num_rows) >= slots) {  // already a full wave: split only to fix quantisation
    double best = efficiency(1);
    int best_s = 1;
    for (int s = 2; s <= std::min(max_splits, 4); ++s)
      if (efficiency(s) > best + 0.1) best = efficiency(s), best_s = s;
    return best_s;
  }
  // Fewest splits that reach >= 85% of the best efficiency among those filling at least one wave.
  double best = 0.0;
  for (int s = 1; s <= max_splits; ++s) best = std::max(best, efficiency(s));
  for (int s = 1; s <= max_splits; ++s)
    if (efficiency(s) >= 0.85 * best) return s;
  return max_splits;
}

Status plan_decode_splits(DType dtype, int head_dim, int batch_size, int num_kv_heads, int max_blocks_per_row,
                          int* num_splits) {
  int device = 0, sms = 0, ctas = 0;
  SEER_CUDA_CHECK(cudaGetDevice(&device));
  SEER_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  if (head_dim != 64 && head_dim != 128)
    return Status::error("plan_decode_splits: head_dim {} is not supported (64 or 128)", head_dim);
  SEER_CUDA_CHECK(sparse_decode_ctas_per_sm(dtype, head_dim, &ctas));
  *num_splits = choose_decode_splits(batch_size * num_kv_heads, max_blocks_per_row, sms, ctas);
  return Status::ok();
}

}  // namespace seer::cuda
