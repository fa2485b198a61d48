// Sparse decode attention kernels; see sparse_decode.cuh. SPEC §5.2.
//
// Split kernel: grid (num_splits, num_kv_heads, batch_size), 4 warps. The CTA takes a contiguous
// slice of its row's selected-block list; its warps take every 4th block of the slice, each with
// its own K/V staging buffers and its own online-softmax state, so four 16 KB block loads are in
// flight per CTA at once (decode is memory-bound: ~1 mma per 8 bytes loaded). The GQA group's
// queries (<= 16 heads, zero-padded to 16 rows) form the A operand of mma.sync m16n8k16, so a key
// block is read once for the whole group. Within a warp, K of the next block is fetched while the
// softmax runs and V of the next block while the next S is computed. The 4 warp states are merged
// in shared memory; with one split the CTA writes the output, otherwise a normalised partial and
// its base-2 LSE (−inf when the slice saw no key), which the merge kernel combines. With block_stat,
// each warp also writes its block's max (or log-sum-exp) per head to block_logit, and a third kernel
// turns them into probabilities with the heads' LSE and pools the group.
#include "kernels/cuda/sparse_decode.cuh"

#include <cmath>

namespace seer::cuda {
namespace {

using namespace detail;

constexpr int kRows = 16;      // query rows per tile (the GQA group, zero-padded)
constexpr int kBlockN = 64;    // keys per block
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;

template <int kHeadDim>
constexpr int decode_smem_bytes() {
  return (kRows + kWarps * 2 * kBlockN) * kHeadDim * 2;  // Q + per-warp K and V, 16-bit elements
}

// Where row `sel_row` (sequence * num_kv_heads + kv head) of the selection starts, and its length.
__device__ __forceinline__ void row_span(const SparseDecodeParams& p, int sel_row, int64_t* off0, int* n) {
  *off0 = p.row_counts ? sel_row * p.row_stride : int64_t(p.row_offsets[sel_row]);
  *n = p.row_counts ? p.row_counts[sel_row] : int(p.row_offsets[sel_row + 1] - *off0);
}

template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kThreads) sparse_decode_kernel(const SparseDecodeParams p) {
  constexpr int kChunks = kHeadDim / 8;
  extern __shared__ uint4 smem_raw[];
  T* sq = reinterpret_cast<T*>(smem_raw);  // [kRows][kHeadDim] swizzled
  T* skv = sq + kRows * kHeadDim;          // [kWarps][2 (K, V)][kBlockN][kHeadDim] swizzled

  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int group = p.num_qo_heads / p.num_kv_heads;
  const int kv_len = p.kv_len[b];
  int64_t off0;
  int n;
  row_span(p, b * p.num_kv_heads + kvh, &off0, &n);
  const int per_split = (n + p.num_splits - 1) / p.num_splits;
  const int lo = min(n, split * per_split);
  const int hi = min(n, lo + per_split);
  const int32_t* blocks = p.block_indices + off0;

  const T* qg = static_cast<const T*>(p.q) + (int64_t(b) * p.num_qo_heads + kvh * group) * kHeadDim;
  const int64_t kv_base = (int64_t(b) * p.num_kv_heads + kvh) * p.max_context * kHeadDim;
  const T* kg = static_cast<const T*>(p.k_cache) + kv_base;
  const T* vg = static_cast<const T*>(p.v_cache) + kv_base;
  T* wk = skv + warp * 2 * kBlockN * kHeadDim;
  T* wv = wk + kBlockN * kHeadDim;

  for (int i = tid; i < kRows * kChunks; i += kThreads) {
    const int row = i / kChunks, c = i % kChunks;
    const bool valid = row < group;
    cp_async_16(smem_addr(sq + swizzle<kHeadDim>(row, c * 8)), qg + (valid ? row : 0) * kHeadDim + c * 8,
                valid ? 16 : 0);
  }
  cp_async_commit();
  auto load_block = [&](T* dst, const T* src, int blk) {  // one warp, 64 rows
    for (int i = lane; i < kBlockN * kChunks; i += 32) {
      const int row = i / kChunks, c = i % kChunks;
      const int kp = blk * kBlockN + row;
      const bool valid = kp < kv_len;  // rows past kv_len read as zeros
      cp_async_16(smem_addr(dst + swizzle<kHeadDim>(row, c * 8)), src + int64_t(valid ? kp : 0) * kHeadDim + c * 8,
                  valid ? 16 : 0);
    }
  };
  int it = lo + warp;
  if (it < hi) load_block(wk, kg, blocks[it]);
  cp_async_commit();
  if (it < hi) load_block(wv, vg, blocks[it]);
  cp_async_commit();
  cp_async_wait<2>();  // Q
  __syncthreads();

  uint32_t qf[kHeadDim / 16][4];
#pragma unroll
  for (int kk = 0; kk < kHeadDim / 16; ++kk)
    ldmatrix_x4(qf[kk], smem_addr(sq + swizzle<kHeadDim>((lane & 7) + ((lane >> 3) & 1) * 8, kk * 16 + (lane >> 4) * 8)));

  const float sl2 = p.scale * kLog2e;
  float o[kHeadDim / 8][4];
#pragma unroll
  for (int i = 0; i < kHeadDim / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.0f, 0.0f};

  for (; it < hi; it += kWarps) {
    const int key0 = blocks[it] * kBlockN;
    const int next = it + kWarps;
    cp_async_wait<1>();  // K of this block (its V may still be in flight)
    __syncwarp();
    float s[kBlockN / 8][4];
    warp_scores<T, kHeadDim, kBlockN>(s, qf, wk, lane);
    __syncwarp();
    if (next < hi) load_block(wk, kg, blocks[next]);
    cp_async_commit();

    const bool need_mask = key0 + kBlockN > kv_len;
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = s[nt][e] * sl2;
        if (need_mask && key0 + nt * 8 + (lane & 3) * 2 + (e & 1) >= kv_len) v = -INFINITY;
        s[nt][e] = v;
      }
    }
    if (p.block_stat) {  // the block's base-2 max (block_mass: log-sum-exp) per head, before the softmax
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        float bm = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kBlockN / 8; ++nt) bm = fmaxf(bm, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
        bm = quad_max(bm);  // -inf only for a listed block wholly past kv_len
        float val = bm;
        if (p.block_mass && bm != -INFINITY) {
          float sum = 0.0f;
#pragma unroll
          for (int nt = 0; nt < kBlockN / 8; ++nt) sum += fast_exp2(s[nt][2 * i] - bm) + fast_exp2(s[nt][2 * i + 1] - bm);
          val = bm + log2f(quad_sum(sum));
        }
        const int row = (lane >> 2) + i * 8;
        if ((lane & 3) == 0 && row < group)
          p.block_logit[(int64_t(b) * p.num_qo_heads + kvh * group + row) * p.stat_stride + blocks[it]] = val;
      }
    }
    warp_online_softmax<kHeadDim, kBlockN>(s, m, l, o);

    cp_async_wait<1>();  // V of this block (K of the next may still be in flight)
    __syncwarp();
    warp_pv<T, kHeadDim, kBlockN>(o, s, wv, lane);
    __syncwarp();
    if (next < hi) load_block(wv, vg, blocks[next]);
    cp_async_commit();
  }
  cp_async_wait<0>();
  __syncthreads();  // every warp is done with its staging buffers: reuse them for the merge

  float* s_o = reinterpret_cast<float*>(skv);    // [kWarps][kRows][kHeadDim]
  float* s_m = s_o + kWarps * kRows * kHeadDim;  // [kWarps][kRows]
  float* s_l = s_m + kWarps * kRows;             // [kWarps][kRows]
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int row = (lane >> 2) + i * 8;
    const float lsum = quad_sum(l[i]);
#pragma unroll
    for (int dt = 0; dt < kHeadDim / 8; ++dt) {
      const int col = dt * 8 + (lane & 3) * 2;
      s_o[(warp * kRows + row) * kHeadDim + col] = o[dt][2 * i];
      s_o[(warp * kRows + row) * kHeadDim + col + 1] = o[dt][2 * i + 1];
    }
    if ((lane & 3) == 0) {
      s_m[warp * kRows + row] = m[i];
      s_l[warp * kRows + row] = lsum;
    }
  }
  __syncthreads();
  for (int idx = tid; idx < group * kHeadDim; idx += kThreads) {
    const int row = idx / kHeadDim, col = idx % kHeadDim;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, s_m[w * kRows + row]);
    float sum = 0.0f, acc = 0.0f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float f = fast_exp2(s_m[w * kRows + row] - mx);
        sum += s_l[w * kRows + row] * f;
        acc += s_o[(w * kRows + row) * kHeadDim + col] * f;
      }
    }
    const float val = sum > 0.0f ? acc / sum : 0.0f;
    const int64_t bh = int64_t(b) * p.num_qo_heads + kvh * group + row;
    if (p.num_splits == 1) {
      static_cast<T*>(p.out)[bh * kHeadDim + col] = T(val);
      if (p.block_stat && col == 0) p.partial_lse[bh] = sum > 0.0f ? mx + log2f(sum) : -INFINITY;
    } else {
      p.partial_o[(bh * p.num_splits + split) * kHeadDim + col] = val;
      if (col == 0) p.partial_lse[bh * p.num_splits + split] = sum > 0.0f ? mx + log2f(sum) : -INFINITY;
    }
  }
}

// out = Σ_s 2^(lse_s - M) o_s / Σ_s 2^(lse_s - M); splits with lse = -inf weigh nothing, and a head
// whose splits are all empty gets zeros.
template <typename T>
__global__ void merge_decode_kernel(const SparseDecodeParams p) {
  const int64_t bh = blockIdx.x;
  const int S = p.num_splits;
  const float* lse = p.partial_lse + bh * S;
  float mx = -INFINITY;
  for (int s = 0; s < S; ++s) mx = fmaxf(mx, lse[s]);
  for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
    float sum = 0.0f, acc = 0.0f;
    if (mx != -INFINITY) {
      for (int s = 0; s < S; ++s) {
        const float w = exp2f(lse[s] - mx);
        sum += w;
        acc += w * p.partial_o[(bh * S + s) * p.head_dim + d];
      }
    }
    static_cast<T*>(p.out)[bh * p.head_dim + d] = T(sum > 0.0f ? acc / sum : 0.0f);
  }
}

// Block statistics (block_stat): grid (num_kv_heads, batch_size). Each head's LSE from its splits'
// partial_lse, then for every block j of the row's list the group's max (sum) of 2^(logit - lse).
__global__ void decode_block_stats_kernel(const SparseDecodeParams p) {
  __shared__ float lse[16];
  const int kvh = blockIdx.x, b = blockIdx.y, group = p.num_qo_heads / p.num_kv_heads;
  const int64_t bh0 = int64_t(b) * p.num_qo_heads + kvh * group;
  if (int(threadIdx.x) < group) {
    const float* ls = p.partial_lse + (bh0 + threadIdx.x) * p.num_splits;
    float mx = -INFINITY;
    for (int s = 0; s < p.num_splits; ++s) mx = fmaxf(mx, ls[s]);
    float sum = 0.0f;
    if (mx != -INFINITY)
      for (int s = 0; s < p.num_splits; ++s) sum += exp2f(ls[s] - mx);
    lse[threadIdx.x] = mx != -INFINITY ? mx + log2f(sum) : -INFINITY;
  }
  __syncthreads();
  int64_t off0;
  int n;
  row_span(p, b * p.num_kv_heads + kvh, &off0, &n);
  float* out = p.block_stat + (int64_t(b) * p.num_kv_heads + kvh) * p.stat_stride;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int j = p.block_indices[off0 + i];
    float acc = 0.0f;  // heads in order, as reduce_block_max
    for (int g = 0; g < group; ++g) {
      // (a head that saw no key, lse = -inf, has a zero probability everywhere)
      const float x = lse[g] == -INFINITY ? 0.0f : exp2f(p.block_logit[(bh0 + g) * p.stat_stride + j] - lse[g]);
      acc = p.group_sum ? __fadd_rn(acc, x) : fmaxf(acc, x);
    }
    out[j] = acc;
  }
}

template <typename T, int kHeadDim>
cudaError_t set_smem_attr() {
  static const cudaError_t err = cudaFuncSetAttribute(
      sparse_decode_kernel<T, kHeadDim>, cudaFuncAttributeMaxDynamicSharedMemorySize, decode_smem_bytes<kHeadDim>());
  return err;
}

template <typename T, int kHeadDim>
cudaError_t run(const SparseDecodeParams& p, cudaStream_t stream) {
  cudaError_t err = set_smem_attr<T, kHeadDim>();
  if (err != cudaSuccess) return err;
  const dim3 grid(p.num_splits, p.num_kv_heads, p.batch_size);
  sparse_decode_kernel<T, kHeadDim><<<grid, kThreads, decode_smem_bytes<kHeadDim>(), stream>>>(p);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  if (p.num_splits > 1) {
    merge_decode_kernel<T><<<p.batch_size * p.num_qo_heads, kHeadDim, 0, stream>>>(p);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
  }
  if (!p.block_stat) return cudaSuccess;
  decode_block_stats_kernel<<<dim3(p.num_kv_heads, p.batch_size), 128, 0, stream>>>(p);
  return cudaGetLastError();
}

template <typename T, int kHeadDim>
cudaError_t occupancy(int* ctas) {
  cudaError_t err = set_smem_attr<T, kHeadDim>();
  if (err != cudaSuccess) return err;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(ctas, sparse_decode_kernel<T, kHeadDim>, kThreads,
                                                       decode_smem_bytes<kHeadDim>());
}

}  // namespace

cudaError_t run_sparse_decode_kernels(const SparseDecodeParams& p, cudaStream_t stream) {
  const bool bf16 = p.dtype == DType::kBF16;
  if (p.head_dim == 64) return bf16 ? run<__nv_bfloat16, 64>(p, stream) : run<__half, 64>(p, stream);
  return bf16 ? run<__nv_bfloat16, 128>(p, stream) : run<__half, 128>(p, stream);
}

cudaError_t sparse_decode_ctas_per_sm(DType dtype, int head_dim, int* ctas) {
  const bool bf16 = dtype == DType::kBF16;
  if (head_dim == 64) return bf16 ? occupancy<__nv_bfloat16, 64>(ctas) : occupancy<__half, 64>(ctas);
  return bf16 ? occupancy<__nv_bfloat16, 128>(ctas) : occupancy<__half, 128>(ctas);
}

}  // namespace seer::cuda
