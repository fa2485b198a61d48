// Block-sparse causal prefill attention; see sparse_prefill.cuh. SPEC §5.1.
//
// One CTA = one selection row (qo head, query block) = a 64-query tile; 4 warps, each owning 16
// query rows. Q fragments stay in registers; K/V tiles (64 keys × head_dim) are staged in swizzled
// shared memory with cp.async, double buffered (block i+1 loads while block i computes).
// S = Q·Kᵀ and O += P·V run on mma.sync m16n8k16 with fp32 accumulation; the softmax is online in
// base 2 with scale·log2(e) folded into one multiply. Only blocks that can violate
// key_pos <= query_pos or key_pos < kv_len pay for the element-wise mask. Rows are scheduled
// heaviest-first (last query block first) for causal load balance.
#include "kernels/cuda/sparse_prefill.cuh"

#include <cmath>

namespace seer::cuda {
namespace {

using namespace detail;

constexpr int kBlockM = 64;   // queries per CTA
constexpr int kBlockN = 64;   // keys per tile = selection block size
constexpr int kThreads = 128; // 4 warps × 16 query rows

template <int kHeadDim>
constexpr int prefill_smem_bytes() {
  return (kBlockM + 4 * kBlockN) * kHeadDim * 2;  // Q + 2 stages of K and V, 16-bit elements
}

template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kThreads) sparse_prefill_kernel(const SparsePrefillParams p) {
  constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per row
  extern __shared__ uint4 smem_raw[];
  T* sq = reinterpret_cast<T*>(smem_raw);  // [kBlockM][kHeadDim] swizzled; reused for the output
  T* sk = sq + kBlockM * kHeadDim;         // [2][kBlockN][kHeadDim]
  T* sv = sk + 2 * kBlockN * kHeadDim;     // [2][kBlockN][kHeadDim]

  const int h = blockIdx.x;
  const PrefillTile tile = prefill_tile(p, h, blockIdx.y, blockIdx.z);
  if (tile.n_q <= 0) return;
  const int kv_len = tile.kv_len, kvh = tile.kvh, pos0 = tile.pos0, n_q = tile.n_q, n_blocks = tile.n_blocks;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const T* qg = static_cast<const T*>(p.q) + tile.q_row0 * p.q_stride_token + int64_t(h) * p.q_stride_head;
  T* og = static_cast<T*>(p.out) + tile.q_row0 * p.o_stride_token + int64_t(h) * p.o_stride_head;
  const int64_t kv_off = int64_t(blockIdx.z) * p.kv_stride_batch + int64_t(kvh) * p.kv_stride_head;
  const T* kg = static_cast<const T*>(p.k_cache) + kv_off;
  const T* vg = static_cast<const T*>(p.v_cache) + kv_off;

  if (n_blocks == 0) {  // an empty selection row sees no key: zeros, like ref_attention
    for (int i = tid; i < n_q * kChunks; i += kThreads) {
      const int row = i / kChunks, c = i % kChunks;
      *reinterpret_cast<uint4*>(og + int64_t(row) * p.o_stride_token + c * 8) = make_uint4(0, 0, 0, 0);
    }
    return;
  }

  for (int i = tid; i < kBlockM * kChunks; i += kThreads) {
    const int row = i / kChunks, c = i % kChunks;
    const bool valid = row < n_q;
    cp_async_16(smem_addr(sq + swizzle<kHeadDim>(row, c * 8)), qg + int64_t(valid ? row : 0) * p.q_stride_token + c * 8,
                valid ? 16 : 0);
  }
  auto load_kv = [&](int stage, int blk) {
    T* dk = sk + stage * kBlockN * kHeadDim;
    T* dv = sv + stage * kBlockN * kHeadDim;
    for (int i = tid; i < kBlockN * kChunks; i += kThreads) {
      const int row = i / kChunks, c = i % kChunks;
      const int kp = blk * kBlockN + row;
      const bool valid = kp < kv_len;
      const int64_t off = int64_t(valid ? kp : 0) * p.kv_stride_token + c * 8;
      const int s = swizzle<kHeadDim>(row, c * 8);
      cp_async_16(smem_addr(dk + s), kg + off, valid ? 16 : 0);
      cp_async_16(smem_addr(dv + s), vg + off, valid ? 16 : 0);
    }
  };
  load_kv(0, tile_block(tile, 0));
  cp_async_commit();

  const int m0 = warp * 16;
  const float sl2 = p.scale * kLog2e;
  const int qpos_lo = pos0 + m0 + (lane >> 2);  // rows lane/4 and lane/4 + 8 of this warp
  uint32_t qf[kHeadDim / 16][4];
  float o[kHeadDim / 8][4];
#pragma unroll
  for (int i = 0; i < kHeadDim / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.0f, 0.0f};
  const int bm_blocks = (kv_len + kBlockN - 1) / kBlockN;

  for (int it = 0; it < n_blocks; ++it) {
    const int stage = it & 1;
    if (it + 1 < n_blocks) load_kv(stage ^ 1, tile_block(tile, it + 1));
    cp_async_commit();  // possibly empty: keeps the group count uniform
    cp_async_wait<1>();
    __syncthreads();
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < kHeadDim / 16; ++kk)
        ldmatrix_x4(qf[kk], smem_addr(sq + swizzle<kHeadDim>(m0 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                                             kk * 16 + (lane >> 4) * 8)));
    }
    const T* ks = sk + stage * kBlockN * kHeadDim;
    const T* vs = sv + stage * kBlockN * kHeadDim;

    float s[kBlockN / 8][4];
    warp_scores<T, kHeadDim, kBlockN>(s, qf, ks, lane);

    const int key0 = tile_block(tile, it) * kBlockN;
    const bool need_mask = key0 + kBlockN - 1 > pos0 || key0 + kBlockN > kv_len;
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = s[nt][e] * sl2;
        if (need_mask) {
          const int key = key0 + nt * 8 + (lane & 3) * 2 + (e & 1);
          const int qpos = qpos_lo + (e >> 1) * 8;
          if (key > qpos || key >= kv_len) v = -INFINITY;
        }
        s[nt][e] = v;
      }
    }

    // The row's max base-2 logit in this block (block_mass: log2 of its sum of 2^logit); turned into
    // a probability below.
    if (p.block_max) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kBlockN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
        mx = quad_max(mx);
        if (p.block_mass) {  // uniform over the warp: the quad's shuffles run on every lane
          const float ref = mx == -INFINITY ? 0.0f : mx;  // a row with no causal key here sums to 0
          float sum = 0.0f;
#pragma unroll
          for (int nt = 0; nt < kBlockN / 8; ++nt) sum += exp2f(s[nt][2 * i] - ref) + exp2f(s[nt][2 * i + 1] - ref);
          sum = quad_sum(sum);
          if (mx != -INFINITY) mx += log2f(sum);
        }
        const int row = qpos_lo + i * 8 - pos0;
        if ((lane & 3) == 0 && row < n_q)
          p.block_max[((tile.q_row0 + row) * p.num_qo_heads + h) * bm_blocks + tile_block(tile, it)] = mx;
      }
    }

    warp_online_softmax<kHeadDim, kBlockN>(s, m, l, o);

    warp_pv<T, kHeadDim, kBlockN>(o, s, vs, lane);
    __syncthreads();  // this stage is overwritten by the next iteration's prefetch
  }

  if (p.block_max) {  // block max probability (or mass) = 2^(stored - m) / l, by the quad's first lane
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const float lsum = quad_sum(l[i]);
      const int row = qpos_lo + i * 8 - pos0;
      if ((lane & 3) == 0 && row < n_q) {
        float* bm = p.block_max + ((tile.q_row0 + row) * p.num_qo_heads + h) * bm_blocks;
        const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
        for (int b = 0; b < n_blocks; ++b) {
          const int kb = tile_block(tile, b);
          bm[kb] = lsum > 0.0f ? fast_exp2(bm[kb] - m[i]) * inv : 0.0f;
        }
      }
    }
  }

  // Epilogue: normalise, stage the tile through shared memory (the Q buffer; every warp finished
  // reading it at it == 0), then store rows < n_q with 16-byte writes.
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const float lsum = quad_sum(l[i]);
    const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
    const int row = m0 + (lane >> 2) + i * 8;
#pragma unroll
    for (int dt = 0; dt < kHeadDim / 8; ++dt) {
      const int col = dt * 8 + (lane & 3) * 2;
      *reinterpret_cast<uint32_t*>(sq + swizzle<kHeadDim>(row, col)) =
          MmaType<T>::pack(o[dt][2 * i] * inv, o[dt][2 * i + 1] * inv);
    }
  }
  __syncthreads();
  for (int i = tid; i < n_q * kChunks; i += kThreads) {
    const int row = i / kChunks, c = i % kChunks;
    *reinterpret_cast<uint4*>(og + int64_t(row) * p.o_stride_token + c * 8) =
        *reinterpret_cast<const uint4*>(sq + swizzle<kHeadDim>(row, c * 8));
  }
}

template <typename T, int kHeadDim>
cudaError_t run(const SparsePrefillParams& p, cudaStream_t stream) {
  constexpr int smem = prefill_smem_bytes<kHeadDim>();
  // Set once per instantiation (per process: one device is assumed).
  static const cudaError_t attr_err =
      cudaFuncSetAttribute(sparse_prefill_kernel<T, kHeadDim>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (attr_err != cudaSuccess) return attr_err;
  const dim3 grid(p.num_qo_heads, p.max_rows, p.batch_size);
  sparse_prefill_kernel<T, kHeadDim><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t run_sparse_prefill_kernel(const SparsePrefillParams& p, cudaStream_t stream) {
  if (p.path == PrefillPath::kWgmma || (p.path == PrefillPath::kAuto && !p.block_max && sparse_prefill_sm90_available()))
    return run_sparse_prefill_sm90(p, stream);
  const bool bf16 = p.dtype == DType::kBF16;
  if (p.head_dim == 64) return bf16 ? run<__nv_bfloat16, 64>(p, stream) : run<__half, 64>(p, stream);
  return bf16 ? run<__nv_bfloat16, 128>(p, stream) : run<__half, 128>(p, stream);
}

}  // namespace seer::cuda
