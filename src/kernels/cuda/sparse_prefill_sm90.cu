// Block-sparse causal prefill attention, Hopper path (sm_90a): TMA tile loads and wgmma. Same
// semantics, parameters and selection format as the mma.sync kernel in sparse_prefill.cu (see
// sparse_prefill.cuh, batched variable-length mode included); run_sparse_prefill_kernel picks it
// when the device is an sm_90 part, the binary carries sm_90a code and no block maxima are asked for.
//
// One CTA = one selection row (query block of one sequence) for kWG query heads: one consumer
// warpgroup (128 threads) per head, each owning a 64-query tile, and one producer warpgroup whose
// first thread issues every copy. Two variants:
//   kWG = 1, kPair = 1   rows per query head; 2 CTAs per SM (80 KB of shared memory each at d = 128)
//   kWG = 2, kPair = 2   two heads of one KV head share the row (per_kv_head, even group): each K/V
//                        tile holds two listed blocks (128 keys) and serves 128 query rows; 1 CTA per SM
// The producer loads the Q tiles once, then K and V tiles into two-stage rings: a "full" mbarrier per
// stage (the copy's bytes) and an "empty" one (one arrival per consumer warp once its wgmma has read
// the tile), so K runs up to two tiles ahead of the consumers and nobody waits for the whole CTA.
// It gives most of its registers to the consumers (setmaxnreg). Per tile j, in each consumer:
//   S_j = Q·K_jᵀ            wgmma m64n{64·kPair}k16, A = Q from registers, B = K from shared memory
//                           (K-major)
//   O += P_{j-1}·V_{j-1}    wgmma m64n{d}k16, A = P from registers, B = V from shared memory (MN-major)
//   softmax of S_j          in registers (base 2, the scale inside the exponent's FFMA) while the tensor
//                           cores still run P_{j-1}·V_{j-1}; only blocks that cross the diagonal or kv_len
//                           are masked
// With kWG = 2 the two consumers take turns to issue their wgmmas (named barriers, FA3's "ping-pong"):
// one warpgroup's softmax runs while the other's products keep the tensor cores busy.
//
// Shared memory (each box [64 rows][64 elements], 128-byte rows, TMA 128-byte swizzle, 1024-aligned):
//   q   [kWG][d/64 boxes]                      query rows pos0 .. pos0+63 of each head
//   k,v [2 stages][d/64 boxes][kPair blocks]   keys of the listed blocks, channels 64·box ..
//   bar [1 + 4·2]                              Q; K full, V full, K empty, V empty per stage
// Rows past the query rows and keys past the maps' extents arrive as zeros (see run() for the maps).
#include <cuda.h>

#include <cmath>

#include "kernels/cuda/hopper.cuh"
#include "kernels/cuda/sparse_prefill.cuh"

namespace seer::cuda {
namespace {

constexpr int kBlockM = 64;    // queries per CTA
constexpr int kBlockN = 64;    // keys per tile = selection block size
constexpr int kStages = 2;  // K/V ring depth: 3 stages (2 CTAs/SM still) and 4 measured slower on the H100
constexpr int kBoxBytes = 64 * 64 * 2;  // one [64][64] 16-bit box

template <int kHeadDim, int kWG, int kPair>
constexpr int sm90_smem_bytes() {
  return (kWG + 2 * kStages * kPair) * (kHeadDim / 64) * kBoxBytes + 8 * (1 + 4 * kStages) /* barriers */ +
         1024 /* alignment slack */;
}

template <typename T, int kHeadDim, int kWG, int kPair>
__global__ void __launch_bounds__(128 * (kWG + 1), kWG == 1 ? 2 : 1)
    sparse_prefill_sm90_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
                               const __grid_constant__ CUtensorMap tm_v, const SparsePrefillParams p) {
#ifdef SEER_SM90A_DEVICE
  using namespace detail;
  using namespace sm90;
  // Registers per thread: the launch gives every thread 65536 / (threads · CTAs per SM); the producer
  // keeps 24 and the consumers take the rest.
  //   kWG = 2: 384 threads, 1 CTA per SM:  168 at launch; (24 + 2 · 240) · 128 = 64512
  //   kWG = 1: 256 threads, 2 CTAs per SM: 128 at launch; 2 · (24 + 232) · 128 = 65536
  constexpr int kProducerRegs = 24, kConsumerRegs = kWG == 2 ? 240 : 232;
  // Named barriers (0 is __syncthreads): 1 all consumers; 2 + w consumer w's turn to issue;
  // 4 + w consumer w alone.
  constexpr int kBarConsumers = 1;
  constexpr int kBoxes = kHeadDim / 64;
  constexpr int kTileN = kPair * kBlockN;             // keys per K/V tile: kPair listed blocks
  constexpr int kQBytes = kBoxes * kBoxBytes;         // one [64][kHeadDim] Q tile
  constexpr int kBoxStride = kPair * kBoxBytes;       // channel box c of a K/V tile: [kTileN][64]
  constexpr int kKVBytes = kBoxes * kBoxStride;       // one [kTileN][kHeadDim] K or V tile
  extern __shared__ uint8_t smem_raw[];
  uint8_t* base = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  uint8_t* sq_all = base;  // [kWG] Q tiles
  uint8_t* sk = sq_all + kWG * kQBytes;
  uint8_t* sv = sk + kStages * kKVBytes;
  uint64_t* bar = reinterpret_cast<uint64_t*>(sv + kStages * kKVBytes);  // Q, K/V full, K/V empty

  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const bool producer = wg == kWG;
  // kWG > 1: heads of one KV head sharing one selection row; the producer works for all of them
  const int h = blockIdx.x * kWG + (producer ? 0 : wg);
  uint8_t* sq = sq_all + (producer ? 0 : wg) * kQBytes;
  const PrefillTile tile = prefill_tile(p, h, blockIdx.y, blockIdx.z);  // the same for every warpgroup
  if (tile.n_q <= 0) return;
  const int kv_len = tile.kv_len, kvh = tile.kvh, pos0 = tile.pos0, n_q = tile.n_q, n_blocks = tile.n_blocks;
  const int q_row0 = int(tile.q_row0);

  T* og = static_cast<T*>(p.out) + int64_t(q_row0) * p.o_stride_token + int64_t(h) * p.o_stride_head;
  constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per output row
  if (n_blocks == 0) {  // an empty selection row sees no key: zeros, like ref_attention
    if (producer) return;
    for (int i = tid & 127; i < n_q * kChunks; i += 128) {
      const int row = i / kChunks, c = i % kChunks;
      *reinterpret_cast<uint4*>(og + int64_t(row) * p.o_stride_token + c * 8) = make_uint4(0, 0, 0, 0);
    }
    return;
  }

  // Tile j holds listed blocks kPair·j .. kPair·j + kPair-1; past the list's end, a block wholly
  // beyond kv_len (the copy engine fills it with zeros; the mask hides it).
  const int n_tiles = (n_blocks + kPair - 1) / kPair;
  const int oob_block = (kv_len + kBlockN - 1) / kBlockN;
  auto block_of = [&](int idx) { return idx < n_blocks ? tile_block(tile, idx) : oob_block; };
  // Copies, all issued by the producer's first thread. K_j and V_j go to stage j % 2 of their own
  // ring, each with its own full barrier (phase parity (j / 2) & 1); before a stage is refilled, its
  // empty barrier says that every consumer warp is done with the tile it held.
  uint64_t* kfull = bar + 1;
  uint64_t* vfull = kfull + kStages;
  uint64_t* kempty = vfull + kStages;
  uint64_t* vempty = kempty + kStages;
  auto load = [&](const CUtensorMap* map, uint8_t* ring, uint64_t* bars, int j) {
    uint64_t* b = bars + j % kStages;
    mbar_expect_tx(b, kKVBytes);
#pragma unroll
    for (int half = 0; half < kPair; ++half) {
      const int blk = block_of(j * kPair + half);
#pragma unroll
      for (int c = 0; c < kBoxes; ++c)
        tma_load_4d(ring + (j % kStages) * kKVBytes + c * kBoxStride + half * kBoxBytes, map, b, c * 64,
                    blk * kBlockN, kvh, blockIdx.z);
    }
  };
  if (tid == 0) {
    mbar_init(bar, 1);
    for (int i = 0; i < kStages; ++i) {
      mbar_init(kfull + i, 1);
      mbar_init(vfull + i, 1);
      mbar_init(kempty + i, 4 * kWG);
      mbar_init(vempty + i, 4 * kWG);
    }
    fence_barrier_init();
  }
  __syncthreads();  // barriers initialised before anyone waits on them

  if (producer) {
    regs_dec<kProducerRegs>();
    if (tid == kWG * 128) {
      mbar_expect_tx(bar, kWG * kQBytes);
      for (int w = 0; w < kWG; ++w)
#pragma unroll
        for (int c = 0; c < kBoxes; ++c)
          tma_load_3d(sq_all + w * kQBytes + c * kBoxBytes, &tm_q, bar, c * 64, h + w, q_row0);
      for (int j = 0; j < n_tiles; ++j) {
        const uint32_t freed = ((j / kStages) - 1) & 1;  // phase of the release of tile j - kStages
        if (j >= kStages) mbar_wait(kempty + j % kStages, freed);
        load(&tm_k, sk, kfull, j);
        if (j >= kStages) mbar_wait(vempty + j % kStages, freed);
        load(&tm_v, sv, vfull, j);
      }
    }
    return;
  }
  regs_inc<kConsumerRegs>();
  // A consumer warp gives a stage back once its wgmmas that read it have completed.
  auto release = [&](uint64_t* b) {
    __syncwarp();
    if (lane == 0) mbar_arrive(b);
  };
  // Issue turns (kWG = 2): consumer w issues after `turn_begin` and lets the other one go at
  // `turn_end`. Every consumer issues n_tiles + 1 times (S_0; S_j with P_{j-1}·V_{j-1}; the last
  // P·V); consumer 1 opens with an arrival and skips its last one, so both barriers end balanced.
  int turns_left = n_tiles + 1;
  auto turn_begin = [&] {
    if constexpr (kWG == 2) {
      if (wg == 0)
        named_sync<2>(256);
      else
        named_sync<3>(256);
    }
  };
  auto turn_end = [&] {
    if constexpr (kWG == 2) {
      if (wg == 0)
        named_arrive<3>(256);
      else if (--turns_left > 0)
        named_arrive<2>(256);
    }
  };
  if constexpr (kWG == 2)
    if (wg == 1) named_arrive<2>(256);
  auto own_sync = [&] {  // this consumer's four warps
    if (kWG == 1 || wg == 0)
      named_sync<4>(128);
    else
      named_sync<5>(128);
  };

  const float sl2 = p.scale * kLog2e;
  const int qpos_lo = pos0 + warp * 16 + (lane >> 2);  // rows lane/4 and lane/4 + 8 of this warp
  float o[kHeadDim / 8][4];
#pragma unroll
  for (int i = 0; i < kHeadDim / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.0f, 0.0f};
  float s[kTileN / 8][4];
  uint32_t pa[kTileN / 16][4];  // P of the previous tile: the register A operand of P·V

  // Descriptors of stage 0's K and V tiles; a byte offset `off` inside the ring is `+ (off >> 4)`
  // on the descriptor (its address field counts 16-byte units), so the loop does no descriptor math.
  const uint64_t kdesc0 = desc_sw128(sk, 16, 1024), vdesc0 = desc_sw128(sv, kBoxStride, 1024);
  // S = Q·K_jᵀ, issued (not waited for), A = Q from registers: k-steps of 16 channels, B = K
  // 32 bytes apart inside a box, the next box after 4 steps.
  uint32_t qa[kHeadDim / 16][4];
  auto issue_scores = [&](int j) {
    const uint64_t kd = kdesc0 + uint64_t(((j % kStages) * kKVBytes) >> 4);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kHeadDim / 16; ++kk)
      wgmma_rs<T, kTileN, false>(s, qa[kk], kd + uint64_t(((kk / 4) * kBoxStride + (kk % 4) * 32) >> 4), kk > 0 ? 1 : 0);
    wgmma_commit();
  };
  // O += P·V_j, issued: k-steps of 16 keys (2048 bytes apart); channel boxes kBoxBytes apart (lbo).
  auto issue_pv = [&](int j) {
    const uint64_t vd = vdesc0 + uint64_t(((j % kStages) * kKVBytes) >> 4);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kTileN / 16; ++kk) wgmma_rs<T, kHeadDim, true>(o, pa[kk], vd + uint64_t((kk * 16 * 128) >> 4), 1);
    wgmma_commit();
  };
  // Scale and mask S of block j, fold it into the running max and sum, leave P (fp32) in s; returns
  // the factor alpha by which the output accumulated so far must be rescaled.
  // Scores are scaled inside the exponent (one FFMA per element); m is kept in the scaled base-2
  // domain. Only blocks that can violate key <= query or key < kv_len (in practice the row's last)
  // pay for the element-wise mask, as a separate pass behind a CTA-uniform branch.
  auto softmax = [&](int j, float (&alpha)[2]) {
#pragma unroll
    for (int half = 0; half < kPair; ++half) {
      const int key0 = block_of(j * kPair + half) * kBlockN;
      if (key0 + kBlockN - 1 > pos0 || key0 + kBlockN > kv_len) {
        const int lim = qpos_lo - key0 - (lane & 3) * 2;    // column c of row lo is visible iff c <= lim
        const int kv_lim = kv_len - key0 - (lane & 3) * 2;  // ... and c < kv_lim
#pragma unroll
        for (int nt = 0; nt < kBlockN / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int c = nt * 8 + (e & 1);
            if (c > lim + (e >> 1) * 8 || c >= kv_lim) s[half * (kBlockN / 8) + nt][e] = -INFINITY;
          }
      }
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < kTileN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
      const float m_new = fmaxf(m[i], quad_max(mx) * sl2);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with no visible key yet
      alpha[i] = fast_exp2(m[i] - m_use);
      m[i] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int nt = 0; nt < kTileN / 8; ++nt) {
        s[nt][2 * i] = fast_exp2(fmaf(s[nt][2 * i], sl2, -m_use));
        s[nt][2 * i + 1] = fast_exp2(fmaf(s[nt][2 * i + 1], sl2, -m_use));
        sum += s[nt][2 * i] + s[nt][2 * i + 1];
      }
      l[i] = l[i] * alpha[i] + sum;
    }
  };
  // P (fp32 in s) → pa, once the P·V that read the previous pa has completed: writing the input
  // registers of a wgmma in flight would make the compiler serialise the pipeline.
  auto pack_p = [&] {
#pragma unroll
    for (int kk = 0; kk < kTileN / 16; ++kk) {
      pa[kk][0] = MmaType<T>::pack(s[2 * kk][0], s[2 * kk][1]);
      pa[kk][1] = MmaType<T>::pack(s[2 * kk][2], s[2 * kk][3]);
      pa[kk][2] = MmaType<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[kk][3] = MmaType<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
  };
  auto rescale_o = [&](const float (&alpha)[2]) {
    // Once a row's max has settled alpha is 1: skip the 64 multiplies when the whole warp agrees.
    if (!__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) return;
#pragma unroll
    for (int dt = 0; dt < kHeadDim / 8; ++dt) {
      o[dt][0] *= alpha[0];
      o[dt][1] *= alpha[0];
      o[dt][2] *= alpha[1];
      o[dt][3] *= alpha[1];
    }
  };

  // Batched mode reads K/V through maps that end at max_context, not at this sequence's kv_len:
  // V rows at keys >= kv_len hold whatever the cache holds there, and 0 · NaN would poison P·V.
  // Zero them in shared memory (K needs nothing: those scores are masked to -inf). Listed blocks
  // lie below kv_len (sparse_prefill.cuh), so only the last tile can hold such rows.
  auto zero_v_tail = [&](int j) {
    bool any = false;
#pragma unroll
    for (int half = 0; half < kPair; ++half) any |= block_of(j * kPair + half) * kBlockN + kBlockN > kv_len;
    if (!any) return;  // CTA-uniform
    uint8_t* vt = sv + (j % kStages) * kKVBytes;
#pragma unroll
    for (int half = 0; half < kPair; ++half) {
      const int first = min(max(kv_len - block_of(j * kPair + half) * kBlockN, 0), kBlockN);
      for (int i = tid; i < (kBlockN - first) * kBoxes * 8; i += 128 * kWG) {
        const int row = first + i / (kBoxes * 8), c = (i / 8) % kBoxes, chunk = i % 8;
        *reinterpret_cast<uint4*>(vt + c * kBoxStride + half * kBoxBytes + row * 128 + chunk * 16) =
            make_uint4(0, 0, 0, 0);
      }
    }
    fence_proxy_async();
    named_sync<kBarConsumers>(128 * kWG);
  };

  // Q → registers in the A-operand layout (that of mma.sync): this warp's rows 16·warp .. +15,
  // channels 16·kk .. +15; ldmatrix lane l addresses row (l & 7) + 8·((l >> 3) & 1), chunk 2·kk + l/16.
  mbar_wait(bar, 0);
#pragma unroll
  for (int kk = 0; kk < kHeadDim / 16; ++kk) {
    const int row = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, chunk = (kk % 4) * 2 + (lane >> 4);
    ldmatrix_x4(qa[kk], smem_u32(sq + (kk / 4) * kBoxBytes + sw128_offset(row, chunk)));
  }

  // Block 0: scores and softmax alone (the output is still zero).
  float alpha[2];
  mbar_wait(kfull, 0);
  turn_begin();
  issue_scores(0);
  turn_end();
  wgmma_wait<0>();
  fence_regs(s);
  release(kempty);
  softmax(0, alpha);
  pack_p();

  // Block j >= 1: S_j = Q·K_jᵀ and O += P_{j-1}·V_{j-1} run on the tensor cores while the softmax
  // of S_j waits only for the first. O is rescaled by the previous softmax's alpha before the P·V
  // that continues it is issued.
  for (int j = 1; j < n_tiles; ++j) {
    rescale_o(alpha);
    mbar_wait(kfull + j % kStages, (j / kStages) & 1);
    mbar_wait(vfull + (j - 1) % kStages, ((j - 1) / kStages) & 1);
    turn_begin();
    issue_scores(j);
    issue_pv(j - 1);
    turn_end();
    wgmma_wait<1>();  // S_j
    fence_regs(s);
    release(kempty + j % kStages);
    softmax(j, alpha);
    wgmma_wait<0>();  // P_{j-1}·V_{j-1}
    fence_regs(o);
    release(vempty + (j - 1) % kStages);
    pack_p();
  }
  rescale_o(alpha);
  mbar_wait(vfull + (n_tiles - 1) % kStages, ((n_tiles - 1) / kStages) & 1);
  if (p.q_start) zero_v_tail(n_tiles - 1);
  turn_begin();
  issue_pv(n_tiles - 1);
  turn_end();
  wgmma_wait<0>();
  fence_regs(o);
  own_sync();  // every warp of this warpgroup is past its reads of the Q buffer

  // Epilogue: normalise, stage the tile through shared memory (the Q buffer), then store rows < n_q
  // with 16-byte writes. The staging layout is the [64][kHeadDim] chunk swizzle of common.cuh.
  T* so = reinterpret_cast<T*>(sq);
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const float lsum = quad_sum(l[i]);
    const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
    const int row = warp * 16 + (lane >> 2) + i * 8;
#pragma unroll
    for (int dt = 0; dt < kHeadDim / 8; ++dt) {
      const int col = dt * 8 + (lane & 3) * 2;
      *reinterpret_cast<uint32_t*>(so + swizzle<kHeadDim>(row, col)) =
          MmaType<T>::pack(o[dt][2 * i] * inv, o[dt][2 * i + 1] * inv);
    }
  }
  own_sync();
  for (int i = tid & 127; i < n_q * kChunks; i += 128) {
    const int row = i / kChunks, c = i % kChunks;
    *reinterpret_cast<uint4*>(og + int64_t(row) * p.o_stride_token + c * 8) =
        *reinterpret_cast<const uint4*>(so + swizzle<kHeadDim>(row, c * 8));
  }
#endif  // SEER_SM90A_DEVICE
}

// cuTensorMapEncodeTiled from the driver, found through the runtime (no link against libcuda).
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      return EncodeTiled(nullptr);
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

// A map over 16-bit elements: dim 0 = channels (contiguous), dims 1 .. rank-1 with element strides;
// boxes of 64 channels × box[1] × ..., 128-byte swizzle, zeros outside the extents.
bool make_map(CUtensorMap* map, DType t, const void* ptr, int rank, const int64_t* extents, const int64_t* strides,
              const int* box) {
  const EncodeTiled encode = encode_tiled();
  if (!encode) return false;
  cuuint64_t dims[4], bytes[3];
  cuuint32_t boxes[4], elem_strides[4];
  for (int i = 0; i < rank; ++i) {
    dims[i] = cuuint64_t(extents[i]);
    boxes[i] = cuuint32_t(box[i]);
    elem_strides[i] = 1;
    if (i > 0) bytes[i - 1] = cuuint64_t(strides[i - 1]) * 2;
  }
  return encode(map, t == DType::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                cuuint32_t(rank), const_cast<void*>(ptr), dims, bytes, boxes, elem_strides,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// kWG = 2 (one CTA per SM) takes tiles of two listed blocks; kWG = 1 (two CTAs per SM) one block.
template <typename T, int kHeadDim, int kWG, int kPair = kWG>
cudaError_t run(const SparsePrefillParams& p, cudaStream_t stream) {
  constexpr int smem = sm90_smem_bytes<kHeadDim, kWG, kPair>();
  static const cudaError_t attr_err = cudaFuncSetAttribute(sparse_prefill_sm90_kernel<T, kHeadDim, kWG, kPair>,
                                                           cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (attr_err != cudaSuccess) return attr_err;
  CUtensorMap tq, tk, tv;
  // q [rows, Hq, d]: dims (d, Hq, rows), box 64 × 1 × 64 rows.
  // k, v [batch][Hkv, max_context, d]: dims (d, keys, Hkv, batch), box 64 × 64 keys × 1 × 1. One
  // sequence: keys end at kv_len, so the copy engine zero-fills keys >= kv_len; batched: at
  // max_context (the kernel zeroes V's tail rows itself).
  const int64_t q_ext[3] = {kHeadDim, p.num_qo_heads, p.qo_len}, q_str[2] = {p.q_stride_head, p.q_stride_token};
  const int64_t kv_ext[4] = {kHeadDim, p.q_start ? p.max_context : p.kv_len, p.num_kv_heads, p.batch_size};
  const int64_t kv_str[3] = {p.kv_stride_token, p.kv_stride_head, p.kv_stride_batch};
  const int q_box[3] = {64, 1, kBlockM}, kv_box[4] = {64, kBlockN, 1, 1};
  if (!make_map(&tq, p.dtype, p.q, 3, q_ext, q_str, q_box) || !make_map(&tk, p.dtype, p.k_cache, 4, kv_ext, kv_str, kv_box) ||
      !make_map(&tv, p.dtype, p.v_cache, 4, kv_ext, kv_str, kv_box))
    return cudaErrorInvalidValue;
  const dim3 grid(p.num_qo_heads / kWG, p.max_rows, p.batch_size);
  sparse_prefill_sm90_kernel<T, kHeadDim, kWG, kPair><<<grid, 128 * (kWG + 1), smem, stream>>>(tq, tk, tv, p);
  return cudaGetLastError();
}

}  // namespace

bool sparse_prefill_sm90_available() {
#ifdef SEER_CUDA_SM90A
  static const bool ok = [] {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    return major == 9 && minor == 0 && encode_tiled() != nullptr;
  }();
  return ok;
#else
  return false;
#endif
}

cudaError_t run_sparse_prefill_sm90(const SparsePrefillParams& p, cudaStream_t stream) {
  const bool bf16 = p.dtype == DType::kBF16;
  // Two query heads per CTA when they share a selection row (and so every K/V tile).
  if (p.per_kv_head && (p.num_qo_heads / p.num_kv_heads) % 2 == 0) {
    if (p.head_dim == 64) return bf16 ? run<__nv_bfloat16, 64, 2>(p, stream) : run<__half, 64, 2>(p, stream);
    return bf16 ? run<__nv_bfloat16, 128, 2>(p, stream) : run<__half, 128, 2>(p, stream);
  }
  if (p.head_dim == 64) return bf16 ? run<__nv_bfloat16, 64, 1>(p, stream) : run<__half, 64, 1>(p, stream);
  return bf16 ? run<__nv_bfloat16, 128, 1>(p, stream) : run<__half, 128, 1>(p, stream);
}

}  // namespace seer::cuda
