// Mask → CSR plan kernels; see plan.cuh.
//
// One warp per selection row: the count kernel and the fill kernel both walk the row's mask 32 key
// blocks at a time with a ballot, so the fill writes indices in ascending order without atomics.
// The scan is one CTA (rows ≤ a few hundred thousand: heads × query blocks), each thread scanning a
// contiguous chunk, then a block-wide scan of the chunk sums.
#include "kernels/cuda/plan.cuh"

namespace seer::cuda {
namespace {

constexpr int kWarpsPerCta = 8;
constexpr int kScanThreads = 1024;

__device__ __forceinline__ int row_limit(const MaskToCsrParams& p, int row) {
  if (!p.causal) return p.num_key_blocks;
  return min(p.num_key_blocks, p.first_q_block + row % p.num_rows + 1);
}

__global__ void count_mask_rows_kernel(const MaskToCsrParams p) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  const int64_t num_rows = int64_t(p.num_heads) * p.num_rows;
  if (row == 0 && lane == 0) p.row_offsets[0] = 0;
  if (row >= num_rows) return;
  const uint8_t* m = p.mask + row * p.num_key_blocks;
  const int limit = row_limit(p, int(row));
  int count = 0;
  for (int j0 = 0; j0 < limit; j0 += 32) {
    const int j = j0 + lane;
    count += __popc(__ballot_sync(0xffffffffu, j < limit && m[j] != 0));
  }
  if (lane == 0) p.row_offsets[row + 1] = count;
}

// In-place inclusive scan of row_offsets[1..n] (row_offsets[0] = 0 makes it the exclusive one).
__global__ void __launch_bounds__(kScanThreads) scan_row_offsets_kernel(int32_t* offsets, int64_t n) {
  __shared__ int32_t warp_sums[kScanThreads / 32];
  int32_t* a = offsets + 1;
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  const int64_t chunk = (n + kScanThreads - 1) / kScanThreads;
  const int64_t b = min(n, t * chunk), e = min(n, b + chunk);
  int32_t local = 0;
  for (int64_t i = b; i < e; ++i) local += a[i];
  int32_t x = local;  // inclusive warp scan
  for (int d = 1; d < 32; d <<= 1) {
    const int32_t y = __shfl_up_sync(0xffffffffu, x, d);
    if (lane >= d) x += y;
  }
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int32_t w = warp_sums[lane];
    for (int d = 1; d < 32; d <<= 1) {
      const int32_t y = __shfl_up_sync(0xffffffffu, w, d);
      if (lane >= d) w += y;
    }
    warp_sums[lane] = w;
  }
  __syncthreads();
  int32_t run = x - local + (warp > 0 ? warp_sums[warp - 1] : 0);
  for (int64_t i = b; i < e; ++i) {
    run += a[i];
    a[i] = run;
  }
}

__global__ void fill_mask_rows_kernel(const MaskToCsrParams p) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= int64_t(p.num_heads) * p.num_rows) return;
  const uint8_t* m = p.mask + row * p.num_key_blocks;
  const int limit = row_limit(p, int(row));
  int32_t pos = p.row_offsets[row];
  for (int j0 = 0; j0 < limit; j0 += 32) {
    const int j = j0 + lane;
    const bool on = j < limit && m[j] != 0;
    const uint32_t bits = __ballot_sync(0xffffffffu, on);
    if (on) p.block_indices[pos + __popc(bits & ((1u << lane) - 1u))] = j;
    pos += __popc(bits);
  }
}

}  // namespace

cudaError_t run_scan_row_offsets(int32_t* row_offsets, int64_t rows, cudaStream_t stream) {
  cudaError_t err = cudaMemsetAsync(row_offsets, 0, sizeof(int32_t), stream);
  if (err != cudaSuccess || rows == 0) return err;
  scan_row_offsets_kernel<<<1, kScanThreads, 0, stream>>>(row_offsets, rows);
  return cudaGetLastError();
}

cudaError_t run_mask_to_csr_kernels(const MaskToCsrParams& p, cudaStream_t stream) {
  const int64_t rows = int64_t(p.num_heads) * p.num_rows;
  const int64_t ctas = (rows + kWarpsPerCta - 1) / kWarpsPerCta;
  if (rows == 0) return cudaMemsetAsync(p.row_offsets, 0, sizeof(int32_t), stream);
  count_mask_rows_kernel<<<unsigned(ctas), kWarpsPerCta * 32, 0, stream>>>(p);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  scan_row_offsets_kernel<<<1, kScanThreads, 0, stream>>>(p.row_offsets, rows);
  if ((err = cudaGetLastError()) != cudaSuccess) return err;
  fill_mask_rows_kernel<<<unsigned(ctas), kWarpsPerCta * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace seer::cuda
