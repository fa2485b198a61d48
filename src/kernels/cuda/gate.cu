// AttnGate kernels; see gate.cuh. Small, memory-bound kernels: the pooling pass (a CTA per block and
// slice of the heads, which can also apply the model's RoPE), one warp per prefill selection row, one
// CTA per decode row. Arithmetic follows the CPU references step for step (fp32 sums in token order,
// RMSNorm sums in double, RoPE angles in fp32 with cos/sin in double) so that the GPU and CPU gates
// agree to rounding.
#include "kernels/cuda/gate.cuh"
#include "kernels/cuda/plan.cuh"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace seer::cuda {
namespace {

using bf16 = __nv_bfloat16;
constexpr float kNormEps = 1e-6f;  // attngate_qnorm / knorm (SPEC §2.1)
constexpr int kSelectWarps = 8;    // selection rows per CTA
constexpr int kMaxHidden = 256;    // dg

__device__ __forceinline__ float ld(const bf16* p) { return __bfloat162float(*p); }

// Programmatic dependent launch (sm_90+; no-ops before): a kernel launched by launch_early may start
// while the kernel before it on the stream still runs, once every CTA of that kernel has called
// pdl_allow_next(); pdl_wait() then blocks until that kernel has completed and its writes are visible.
// Without the launch attribute, pdl_wait() returns at once (the stream already ordered the kernels).
__device__ __forceinline__ void pdl_allow_next() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

bool pdl_supported() {
  static int known[64] = {};  // per device: 0 not asked yet, 1 no, 2 yes
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
  if (known[dev] == 0) {
    int major = 0;
    known[dev] = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 9
                     ? 2
                     : 1;
  }
  return known[dev] == 2;
}

// kernel<<<grid, block, 0, stream>>>(args...), allowed to start early (see pdl_wait) where the GPU can.
template <typename... KArgs, typename... Args>
cudaError_t launch_early(void (*kernel)(KArgs...), dim3 grid, dim3 block, cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_supported() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

// One feature value: pool `type` of channel c from max / min / sum, avg divided by the count
// (inv = 1 / count in fp32 first, as write_features).
constexpr int kPoolMax = 0, kPoolMin = 1, kPoolAvg = 2;  // GatePools::type (PoolType's values)
__device__ __forceinline__ float feature(int type, float mx, float mn, float sum, float inv) {
  return type == kPoolMax ? mx : type == kPoolMin ? mn : sum * inv;
}

// Block-wide sum in double (blockDim.x <= 1024); every thread gets the result.
__device__ double block_sum(double v, double* red /*[32]*/) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = (blockDim.x + 31) >> 5;
  __syncthreads();  // `red` may still be read from a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  double t = 0.0;
  for (int w = 0; w < warps; ++w) t += red[w];
  return t;
}

// The gate RoPE table of position `pos` into cs / sn [dg/2] (threads < dg/2 write; caller syncs).
__device__ __forceinline__ void rope_table(int pos, int dg, GateRope rope, float* cs, float* sn) {
  const int i = threadIdx.x;
  if (rope.inv_freq && i < dg / 2) {
    const float angle = float(pos) * rope.inv_freq[i];
    cs[i] = float(cos(double(angle))) * rope.scale;
    sn[i] = float(sin(double(angle))) * rope.scale;
  }
}

// x [dg] in shared memory (all threads of the block call this; threads >= dg idle): optional
// RMSNorm (eps 1e-6, the sum in double as rmsnorm_vec), then, with a table, rotate_half RoPE.
__device__ void norm_rope_apply(float* x, int dg, const float* norm_w, const float* cs, const float* sn,
                                double* red) {
  const int o = threadIdx.x;
  if (norm_w) {
    const float v = o < dg ? x[o] : 0.0f;
    const double ss = block_sum(double(v) * double(v), red);
    const float r = float(1.0 / sqrt(ss / dg + double(kNormEps)));
    if (o < dg) x[o] = v * r * norm_w[o];
    __syncthreads();
  }
  if (cs) {
    const int half = dg / 2;
    float a = 0.0f, b = 0.0f;
    if (o < half) {
      a = x[o];
      b = x[o + half];
    }
    __syncthreads();
    if (o < half) {
      x[o] = a * cs[o] - b * sn[o];
      x[o + half] = b * cs[o] + a * sn[o];
    }
  }
  __syncthreads();
}

// Writes x [dg] (shared memory, or null for a zero entry) as entry `e` of `to` (GateEntries); every
// thread of the block calls it (whole warps). int8: each warp finds the entry's largest |value| itself
// (no barrier), so all agree on the scale.
__device__ void store_entry(const GateEntries& to, int64_t e, const float* x, int dg) {
  const int t = threadIdx.x, n = blockDim.x;
  if (to.bf16) {
    for (int o = t; o < dg; o += n) to.bf16[e * dg + o] = __float2bfloat16(x ? x[o] : 0.0f);
    return;
  }
  float amax = 0.0f;
  if (x) {
    for (int o = t & 31; o < dg; o += 32) amax = fmaxf(amax, fabsf(x[o]));
    for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int o = t; o < dg; o += n) to.int8[e * dg + o] = x ? int8_t(fminf(fmaxf(rintf(x[o] * inv), -127.0f), 127.0f)) : 0;
  if (t == 0) to.scale[e] = amax / 127.0f;
}

// out[o] = sum_{i < rows} x[i] * w[i * dg + o] (x, out and red in shared memory; 8 warps of a
// 256-thread block; warp w takes rows w, w + 8, .. in order, 16 rows' loads in flight at a time; lane
// l columns 4l + 128c with float4 loads). stage() writes x (every thread, then a barrier) while the first
// rows' weights are on their way to L1 (prefetches: the two reads overlap, and no registers wait).
template <class Stage>
__device__ __forceinline__ void matvec(Stage&& stage, const float* x, int rows, const float* __restrict__ w, int dg,
                       float* red /*[8][256]*/, float* out) {
  constexpr int kRows = 16;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane * 4 < dg)
    for (int r = 0; r < kRows && warp + 8 * r < rows; ++r)
      asm volatile("prefetch.global.L1 [%0];" ::"l"(w + int64_t(warp + 8 * r) * dg + lane * 4));
  stage();
  __syncthreads();
  for (int c = 0; c < 2; ++c) {
    const int col = c * 128 + lane * 4;
    if (col >= dg) break;
    float acc[4] = {};
    for (int i0 = warp; i0 < rows; i0 += 8 * kRows) {
      float4 v[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int i = i0 + 8 * r;
        v[r] = i < rows ? *reinterpret_cast<const float4*>(w + int64_t(i) * dg + col) : make_float4(0, 0, 0, 0);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int i = i0 + 8 * r;
        if (i < rows) {
          const float xi = x[i];
          acc[0] += xi * v[r].x;
          acc[1] += xi * v[r].y;
          acc[2] += xi * v[r].z;
          acc[3] += xi * v[r].w;
        }
      }
    }
    for (int u = 0; u < 4; ++u) red[warp * kMaxHidden + col + u] = acc[u];
  }
  __syncthreads();
  for (int o = threadIdx.x; o < dg; o += blockDim.x) {
    float t = 0.0f;
    for (int k = 0; k < 8; ++k) t += red[k * kMaxHidden + o];
    out[o] = t;
  }
  __syncthreads();
}

// ---------------------------------------------------------------------------------------------
// Pooling: a CTA of 128 threads per (touched block, kPoolHeads heads), taking the heads in turn, or
// two query heads whose pools are the average alone (the released gate's) at once: each token's RoPE
// table is then read once for both (H200, 32k tokens, gate+rope - rope: 0.118 -> 0.110 ms; four heads at
// once spill even at 80 registers).
// Thread = (token lane `sub`, unit): a unit is eight channels of the head, c .. c+3 and
// c + d/2 .. c + d/2 + 3 (the pairs the model's RoPE rotates together); `units` = d/8 rounded up to a
// power of two (units past d/8 idle); lane `sub` takes the block's new tokens t0 + sub, t0 + sub +
// subs, .. with 8-byte loads, a few tokens' loads in flight at a time. Max and min stay packed bf16
// pairs (exact in any order: the inputs are bf16); sums are fp32, each lane's in token order, then
// across the lanes in a fixed tree. The CTAs are short (32k tokens: ~10 waves) and the heads of one
// CTA share their block's RoPE tables in L1. (H200, 32k tokens, gate+rope - rope: 0.121 ms, against
// 0.128 ms for a CTA per block over 64 units of every head, each going over all the block's tokens
// through a cp.async ring.)

// The model's RoPE of the four pairs (a[i], b[i]) = (x[c + i], x[c + d/2 + i]) of one token, with its
// cos / sin c[i], s[i], stored as bf16 at p and p + half: the operations of the RoPE kernels of
// model_ops.cu, hence their bits.
__device__ __forceinline__ void model_rope_store(bf16* p, int half, const float (&a)[4], const float (&b)[4],
                                                 const float (&c)[4], const float (&s)[4]) {
  __nv_bfloat162 oa[2], ob[2];
#pragma unroll
  for (int e = 0; e < 2; ++e) {
    const int x = 2 * e, y = 2 * e + 1;
    oa[e] = __floats2bfloat162_rn(detail::rope_lo(a[x], b[x], c[x], s[x]), detail::rope_lo(a[y], b[y], c[y], s[y]));
    ob[e] = __floats2bfloat162_rn(detail::rope_hi(a[x], b[x], c[x], s[x]), detail::rope_hi(a[y], b[y], c[y], s[y]));
  }
  *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(oa);
  *reinterpret_cast<uint2*>(p + half) = *reinterpret_cast<const uint2*>(ob);
}

// kPoolHeads heads per CTA; tokens in flight per lane: 2 with the model's RoPE (more registers would
// cost occupancy, which that pass needs), 4 without (for a head pair: 1 and 2; 2 with the RoPE spills).
// H200, gate+rope - rope at 8k / 32k tokens, before the head pairs: 1 head 0.037 / 0.128 ms, 2 heads
// 0.037 / 0.121, 4 heads 0.045 / 0.120 (too few CTAs at 8k); 4 or 8 tokens with the RoPE: 0.158 / 0.218
// ms at 32k.
constexpr int kPoolThreads = 128, kPoolWarps = kPoolThreads / 32, kPoolHeads = 2;

__device__ __forceinline__ uint32_t bits(__nv_bfloat162 v) { return *reinterpret_cast<uint32_t*>(&v); }
__device__ __forceinline__ __nv_bfloat162 bf2(uint32_t u) { return *reinterpret_cast<__nv_bfloat162*>(&u); }

// grid (head groups of kPoolHeads) x touched blocks, group fastest; heads over the K heads, then (with
// q_feat or the RoPE) the Q heads. Block j's K statistics, merged with what the block held (with
// kf.feat, also its key features), and, with q_feat, its pooled new queries; with rope.cos, every K
// and Q row of the block's new tokens is rotated in place as it is pooled, from its pre-RoPE values.
// (At most 64 registers: 8 CTAs per SM.)
template <bool kRope>
__global__ void __launch_bounds__(kPoolThreads, 8)
    gate_pool_kernel(GateKStats s, bf16* k, int64_t k_stride, bf16* q, int64_t q_stride, int heads,
                     GatePools q_pools, float* __restrict__ q_feat, const float* __restrict__ q_rope, int n,
                     int start, GateModelRope rope, GateKFeatures kf) {
  __shared__ uint32_t red[kPoolWarps][16][32];  // [warp][value: 4 max, 4 min, 8 sums][unit]
  const int bs = s.block_size, d = s.head_dim, half = d / 2, per_head = half / 4, Hkv = s.num_kv_heads;
  const int units = per_head <= 1 ? 1 : 1 << (32 - __clz(per_head - 1));
  const int unit = threadIdx.x & (units - 1), sub = threadIdx.x / units, subs = kPoolThreads / units;
  const int groups = (heads + kPoolHeads - 1) / kPoolHeads;
  const int g = int(blockIdx.x % unsigned(groups)), r = int(blockIdx.x / unsigned(groups)),
            rows = int(gridDim.x / unsigned(groups));
  const int j = start / bs + r, first = j * bs;
  const int t0 = max(start, first), t1 = min(start + n, first + bs);
  const bool active = unit < per_head;
  const int c = active ? unit * 4 : 0;
  bool q_extremes = false;  // the Q pools need max or min (not the usual average alone)
  for (int p = 0; p < q_pools.count; ++p) q_extremes |= q_pools.type[p] != kPoolAvg;
  // A head's running pools: pair e of the unit is channels c + 2e, c + 2e + 1 (e < 2), c + half + 2(e - 2)
  // .. (e >= 2). They start empty (max -inf, min +inf, sum 0: the first token then gives the values
  // PrefillGate starts from, but for a NaN, which max / min skip, and the sign of a zero sum).
  struct Pools {
    __nv_bfloat162 mx[4], mn[4];
    float sm[8];
  };
  // The lane's tokens of NH heads at once, in token order (each token's RoPE table read once for the NH
  // heads); NH > 1 only for heads that need no max / min. Tokens in flight per lane: kChunk.
  auto accumulate = [&](auto nh, auto ext, int h0, Pools (&pl)[decltype(nh)::value]) {
    constexpr int NH = decltype(nh)::value;
    constexpr bool kExt = decltype(ext)::value;  // max and min wanted
    constexpr int kChunk = kRope ? 2 / NH : 4 / NH;
    // Head h0 + u's token t at x + (t - start) * stride + u * d (NH > 1: query heads, side by side).
    bf16* const x = h0 < Hkv ? k + h0 * d + c : q + (h0 - Hkv) * d + c;
    const int64_t stride = h0 < Hkv ? k_stride : q_stride;
#pragma unroll
    for (int u = 0; u < NH; ++u) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        pl[u].mx[e] = __floats2bfloat162_rn(-INFINITY, -INFINITY);
        pl[u].mn[e] = __floats2bfloat162_rn(INFINITY, INFINITY);
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) pl[u].sm[i] = 0.0f;
    }
    for (int tb = t0 + sub; tb < t1; tb += kChunk * subs) {
      uint2 lo[kChunk][NH], hi[kChunk][NH];  // the chunk's loads first, then its arithmetic
#pragma unroll
      for (int i = 0; i < kChunk; ++i) {
        const int t = tb + i * subs;
#pragma unroll
        for (int u = 0; u < NH; ++u) {
          lo[i][u] = hi[i][u] = make_uint2(0u, 0u);
          if (active && t < t1) {
            const bf16* p = x + int64_t(t - start) * stride + u * d;
            lo[i][u] = *reinterpret_cast<const uint2*>(p);
            hi[i][u] = *reinterpret_cast<const uint2*>(p + half);
          }
        }
      }
#pragma unroll
      for (int i = 0; i < kChunk; ++i) {
        const int t = tb + i * subs;
        if (!active || t >= t1) continue;
        [[maybe_unused]] float cs[4], sn[4];  // the token's RoPE table (kRope)
        if constexpr (kRope) {
          const int64_t o = int64_t(t - start) * half + c;
          const float4 c4 = __ldg(reinterpret_cast<const float4*>(rope.cos + o)),
                       s4 = __ldg(reinterpret_cast<const float4*>(rope.sin + o));
          cs[0] = c4.x, cs[1] = c4.y, cs[2] = c4.z, cs[3] = c4.w;
          sn[0] = s4.x, sn[1] = s4.y, sn[2] = s4.z, sn[3] = s4.w;
        }
#pragma unroll
        for (int u = 0; u < NH; ++u) {
          __nv_bfloat162 v[4];
          *reinterpret_cast<uint2*>(v) = lo[i][u];
          *reinterpret_cast<uint2*>(v + 2) = hi[i][u];
          float f[8];
#pragma unroll
          for (int e = 0; e < 4; ++e) {  // running max / min, this lane's running sum in token order
            if constexpr (kExt) {
              pl[u].mx[e] = __hmax2(pl[u].mx[e], v[e]);
              pl[u].mn[e] = __hmin2(pl[u].mn[e], v[e]);
            }
            const float2 fv = __bfloat1622float2(v[e]);
            f[2 * e] = fv.x;
            f[2 * e + 1] = fv.y;
            pl[u].sm[2 * e] += fv.x;
            pl[u].sm[2 * e + 1] += fv.y;
          }
          if constexpr (kRope)
            model_rope_store(x + int64_t(t - start) * stride + u * d, half, {f[0], f[1], f[2], f[3]},
                             {f[4], f[5], f[6], f[7]}, cs, sn);
        }
      }
    }
  };
  // The pools of NH heads across the lanes of a unit: within the warp (butterfly: every lane gets the
  // same bits), then over the warps in order, through red (one head's max, min and sums, or two heads'
  // sums). True for the lanes that then hold the unit's totals: lanes 0 .. units - 1 of warp 0 (red
  // holds only those lanes' slots).
  auto reduce = [&](auto nh, auto ext, Pools (&pl)[decltype(nh)::value]) -> bool {
    constexpr int NH = decltype(nh)::value;
    constexpr bool kExt = decltype(ext)::value;  // without max / min they stay as they started
    static_assert(NH == 1 || !kExt, "red holds the max and min of one head");
    for (int o = units; o < 32; o <<= 1) {
#pragma unroll
      for (int u = 0; u < NH; ++u) {
#pragma unroll
        for (int e = 0; e < 4 && kExt; ++e) {
          pl[u].mx[e] = __hmax2(pl[u].mx[e], bf2(__shfl_xor_sync(0xffffffffu, bits(pl[u].mx[e]), o)));
          pl[u].mn[e] = __hmin2(pl[u].mn[e], bf2(__shfl_xor_sync(0xffffffffu, bits(pl[u].mn[e]), o)));
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) pl[u].sm[i] += __shfl_xor_sync(0xffffffffu, pl[u].sm[i], o);
      }
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int sums = NH == 1 ? 8 : 0;  // red[.][sums + 8u + i]: head u's sum i
    if (lane < units) {
#pragma unroll
      for (int e = 0; e < 4 && kExt; ++e) {
        red[warp][e][lane] = bits(pl[0].mx[e]);
        red[warp][4 + e][lane] = bits(pl[0].mn[e]);
      }
#pragma unroll
      for (int u = 0; u < NH; ++u)
#pragma unroll
        for (int i = 0; i < 8; ++i) red[warp][sums + 8 * u + i][lane] = __float_as_uint(pl[u].sm[i]);
    }
    __syncthreads();
    if (warp != 0 || lane >= units || !active) return false;
    for (int w = 1; w < kPoolWarps; ++w) {
#pragma unroll
      for (int e = 0; e < 4 && kExt; ++e) {
        pl[0].mx[e] = __hmax2(pl[0].mx[e], bf2(red[w][e][lane]));
        pl[0].mn[e] = __hmin2(pl[0].mn[e], bf2(red[w][4 + e][lane]));
      }
#pragma unroll
      for (int u = 0; u < NH; ++u)
#pragma unroll
        for (int i = 0; i < 8; ++i) pl[u].sm[i] += __uint_as_float(red[w][sums + 8 * u + i][lane]);
    }
    return true;
  };
  // Head h's statistics and key features (K heads) or pooled queries, from the unit's totals.
  auto store = [&](int h, Pools& pl, auto q_only) {
    const bool is_k = !decltype(q_only)::value && h < Hkv;
    auto& mx = pl.mx;
    auto& mn = pl.mn;
    auto& sm = pl.sm;
    auto stat_at = [&](int e) { return e < 2 ? 2 * e : half + 2 * (e - 2); };  // channel offset of pair e
    // Pool `type` of the unit's channels, v = channels c .. c+3, then c + half .. (inv: 1 / tokens).
    auto unit_feature = [&](int type, float inv, float (&v)[8]) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 a = __bfloat1622float2(mx[e]), b = __bfloat1622float2(mn[e]);
        v[2 * e] = feature(type, a.x, b.x, sm[2 * e], inv);
        v[2 * e + 1] = feature(type, a.y, b.y, sm[2 * e + 1], inv);
      }
    };
    if (is_k) {
      // A block that already held tokens of an earlier forward keeps them (its statistics: bf16 values,
      // exact; the sums add).
      const int64_t plane = int64_t(Hkv) * s.max_blocks * d;
      float* st = s.stats + (int64_t(h) * s.max_blocks + j) * d + c;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float* p = st + stat_at(e);
        if (t0 > first) {
          mx[e] = __hmax2(mx[e], __floats2bfloat162_rn(p[0], p[1]));
          mn[e] = __hmin2(mn[e], __floats2bfloat162_rn(p[plane], p[plane + 1]));
          sm[2 * e] = p[2 * plane] + sm[2 * e];
          sm[2 * e + 1] = p[2 * plane + 1] + sm[2 * e + 1];
        }
        const float2 a = __bfloat1622float2(mx[e]), b = __bfloat1622float2(mn[e]);
        p[0] = a.x;
        p[1] = a.y;
        p[plane] = b.x;
        p[plane + 1] = b.y;
        p[2 * plane] = sm[2 * e];
        p[2 * plane + 1] = sm[2 * e + 1];
      }
      if (kf.feat) {  // the block's key features, as gate_k_features_kernel computes them from these stats
        const float inv = 1.0f / float(t1 - first);
        float* f = kf.feat + (int64_t(h) * kf.blocks + j) * kf.pools.count * d + c;
        for (int p = 0; p < kf.pools.count; ++p) {
          float v[8];
          unit_feature(kf.pools.type[p], inv, v);
          *reinterpret_cast<float4*>(f + p * d) = make_float4(v[0], v[1], v[2], v[3]);
          *reinterpret_cast<float4*>(f + p * d + half) = make_float4(v[4], v[5], v[6], v[7]);
        }
      }
    } else if (q_feat) {
      const float inv = 1.0f / float(t1 - t0);
      float* fq = q_feat + (int64_t(h - Hkv) * rows + r) * q_pools.count * d + c;
      for (int p = 0; p < q_pools.count; ++p) {
        float v[8];
        unit_feature(q_pools.type[p], inv, v);
        if (q_rope) {  // one pool, dg == d: the gate RoPE's pairs are this unit's (c + i, c + half + i)
          const float* cs = q_rope + int64_t(j) * d + c;
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            const float a = v[i], b = v[4 + i], co = cs[i], si = cs[half + i];
            v[i] = a * co - b * si;
            v[4 + i] = b * co + a * si;
          }
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          fq[p * d + i] = v[i];
          fq[p * d + half + i] = v[4 + i];
        }
      }
    }
  };
  for (int i = 0; i < kPoolHeads;) {
    const int h = g * kPoolHeads + i;
    if (h >= heads) break;
    if (i > 0) __syncthreads();  // red is read before it is written again
    using One = std::integral_constant<int, 1>;
    using Two = std::integral_constant<int, 2>;
    using Yes = std::true_type;
    using No = std::false_type;
    if (i + 1 < kPoolHeads && h + 1 < heads && h >= Hkv && !q_extremes) {  // two query heads, average only
      Pools pl[2];
      accumulate(Two{}, No{}, h, pl);
      if (reduce(Two{}, No{}, pl)) {
        store(h, pl[0], Yes{});
        store(h + 1, pl[1], Yes{});
      }
      i += 2;
    } else {
      Pools pl[1];
      if (h < Hkv || q_extremes) {  // max and min wanted
        accumulate(One{}, Yes{}, h, pl);
        if (reduce(One{}, Yes{}, pl)) store(h, pl[0], No{});
      } else {
        accumulate(One{}, No{}, h, pl);
        if (reduce(One{}, No{}, pl)) store(h, pl[0], No{});
      }
      i += 1;
    }
  }
}

// grid (nblk, Hkv), block head_dim threads.
__global__ void gate_k_features_kernel(GateKStats s, GatePools pools, int kv_len, int b0, int head_blocks,
                                       float* __restrict__ feat) {
  const int d = s.head_dim, h = blockIdx.y, c = threadIdx.x, j = b0 + blockIdx.x;
  const int64_t plane = int64_t(s.num_kv_heads) * s.max_blocks * d;
  const int64_t o = (int64_t(h) * s.max_blocks + j) * d + c;
  const int count = min(s.block_size, kv_len - j * s.block_size);
  const float inv = 1.0f / float(count);
  const float mx = s.stats[o], mn = s.stats[plane + o], sm = s.stats[2 * plane + o];
  float* f = feat + (int64_t(h) * head_blocks + blockIdx.x) * pools.count * d + c;
  for (int p = 0; p < pools.count; ++p) f[p * d] = feature(pools.type[p], mx, mn, sm, inv);
}

constexpr int kRopeHeads = 8;  // heads per CTA of gate_norm_rope_kernel (one RoPE table each)

// grid (n, ceil(heads / kRopeHeads)), block max(dg, 32) threads.
__global__ void gate_norm_rope_kernel(float* x, int heads, int dg, int64_t head_stride, const float* norm_w,
                                      GateRope rope, int first_block, int bs, GateEntries out,
                                      int64_t out_head_stride) {
  __shared__ float row[kMaxHidden], cs[kMaxHidden / 2], sn[kMaxHidden / 2];
  __shared__ double red[32];
  const int i = blockIdx.x, o = threadIdx.x;
  if (rope.block_table && o < dg / 2) {  // precomputed at the block starts
    cs[o] = rope.block_table[int64_t(first_block + i) * dg + o];
    sn[o] = rope.block_table[int64_t(first_block + i) * dg + dg / 2 + o];
  } else {
    rope_table((first_block + i) * bs, dg, rope, cs, sn);
  }
  for (int h = blockIdx.y * kRopeHeads; h < min(heads, (blockIdx.y + 1) * kRopeHeads); ++h) {
    float* xr = x + int64_t(h) * head_stride + int64_t(i) * dg;
    __syncthreads();
    if (o < dg) row[o] = xr[o];
    __syncthreads();
    norm_rope_apply(row, dg, norm_w, rope.inv_freq ? cs : nullptr, sn, red);
    if (out)
      store_entry(out, int64_t(h) * out_head_stride + first_block + i, row, dg);
    else if (o < dg)
      xr[o] = row[o];
  }
}

// One thread per V rotated pairs (V = 4: float4 loads, dg % 8 == 0): row R of x [rows, dg] sits at
// block first_block + (R / group) % n. 256 threads = 512 V / dg rows of dg / (2 V) threads each (32-bit
// index arithmetic: rows < 2^31).
template <int V>
__global__ void __launch_bounds__(256) gate_rope_rows_kernel(float* __restrict__ x, int rows, int dg, int n, int group,
                                                             int first_block, const float* __restrict__ table,
                                                             float* __restrict__ out) {
  using Vec = std::conditional_t<V == 4, float4, float>;
  const int half = dg / 2, lanes = half / V, per_cta = 256 / lanes;
  const int r = blockIdx.x * per_cta + threadIdx.x / lanes, o = (threadIdx.x % lanes) * V;
  if (r >= rows) return;
  const float* t = table + int64_t(first_block + (r / group) % n) * dg;
  float* v = x + int64_t(r) * dg;
  const Vec a = *reinterpret_cast<const Vec*>(v + o), b = *reinterpret_cast<const Vec*>(v + half + o);
  const Vec c = *reinterpret_cast<const Vec*>(t + o), sn = *reinterpret_cast<const Vec*>(t + half + o);
  const float* af = reinterpret_cast<const float*>(&a);
  const float* bf = reinterpret_cast<const float*>(&b);
  const float* cf = reinterpret_cast<const float*>(&c);
  const float* sf = reinterpret_cast<const float*>(&sn);
  Vec lo, hi;
  float* lf = reinterpret_cast<float*>(&lo);
  float* hf = reinterpret_cast<float*>(&hi);
#pragma unroll
  for (int i = 0; i < V; ++i) {
    lf[i] = af[i] * cf[i] - bf[i] * sf[i];
    hf[i] = bf[i] * cf[i] + af[i] * sf[i];
  }
  // In place, or to out [heads, group, n, dg] (row R of x is (head * n + block) * group + i).
  float* w = out ? out + (int64_t(r / (group * n)) * group * n + int64_t(r % group) * n + (r / group) % n) * dg : v;
  *reinterpret_cast<Vec*>(w + o) = lo;
  *reinterpret_cast<Vec*>(w + half + o) = hi;
}

// ---------------------------------------------------------------------------------------------
// Decode gate

// sum_{k < slices} part[k * stride], in slice order, with every load in flight at once.
__device__ __forceinline__ float slice_sum(const float* part, int slices, int stride) {
  float v[kGateMaxSlices];
#pragma unroll
  for (int k = 0; k < kGateMaxSlices; ++k) v[k] = k < slices ? __ldcg(part + k * stride) : 0.0f;
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kGateMaxSlices; ++k) sum += v[k];
  return sum;
}

// Channel c's block statistics [max | min | sum] (planes plane apart in st) with the new token's value v
// merged in; a block's first token (slot 0) starts them afresh.
__device__ __forceinline__ void merge_stats(float v, const float* st, int64_t plane, int c, int slot, float& mx,
                                            float& mn, float& sm) {
  mx = mn = sm = v;
  if (slot > 0) {
    mx = v > st[c] ? v : st[c];
    mn = v < st[plane + c] ? v : st[plane + c];
    sm = st[2 * plane + c] + v;
  }
}

// grid (slices, Hkv, B), 256 threads: partial sums of the query projection and of a completed
// block's linear_k over this CTA's slice of the input rows; the last CTA of a (sequence, KV head) to
// finish sums them and writes the state and the query. The step is a chain of dependent reads, so what
// does not depend on the projections starts at once: the finishing's inputs (the new key, the block's
// statistics) and the RoPE tables; and with one slice the sums stay in shared memory. 64 registers (the
// bound): the scores kernel, launched early, keeps two CTAs per SM beside this one (left to itself, ptxas
// takes 48 and spills).
__global__ void __launch_bounds__(256, 4) gate_decode_project_kernel(const GateDecodeParams p) {
  __shared__ float x[2048];
  __shared__ float red[8 * kMaxHidden];
  __shared__ float qout[kMaxHidden], eout[kMaxHidden];  // the query's and the entry's projections
  __shared__ float qcs[kMaxHidden / 2], qsn[kMaxHidden / 2], ecs[kMaxHidden / 2], esn[kMaxHidden / 2];
  __shared__ double dred[32];
  __shared__ bool last;
  pdl_allow_next();  // the scores kernel may start streaming the compressed cache (gate_decode_scores_kernel)
  const int s = blockIdx.x, h = blockIdx.y, b = blockIdx.z, t = threadIdx.x;
  const int d = p.head_dim, bs = p.block_size, dg = p.hidden, g = p.num_qo_heads / p.num_kv_heads;
  const int pos = p.kv_lens[b] - 1, j = pos / bs, slot = pos % bs;
  const int64_t head = int64_t(b) * p.num_kv_heads + h;
  const int64_t plane = int64_t(p.num_kv_heads) * p.max_blocks * d;
  float* st = p.stats + b * p.stats_stride + (int64_t(h) * p.max_blocks + j) * d;
  const bf16* kr = p.k + b * p.k_stride + int64_t(h) * d;
  const bool compress = p.entries && slot == bs - 1;
  // Channel t's statistics with the new token (thread t < d; every slice reads the old ones, the last
  // writes these), and the RoPE tables of the query's and of the completed block's positions.
  float mx = 0.0f, mn = 0.0f, sm = 0.0f;
  // With the model's folded query (q_folded) the step makes no query: the scores kernel makes its own
  // and publishes it to qg (CudaGates::decode_query). H100, int8 cache, graph: batch 1 x 128k 11.6 ->
  // 9.5 us a mid-block step, batch 16 22.1 -> 22.8 us (docs/runs/h100-session31/c2).
  const bool make_q = p.scoring && p.entries && !p.q_folded;
  const bool project_q = make_q && p.q_pooling != 2;  // Qavg makes its query from the group mean alone
  if (t < d) merge_stats(ld(kr + t), st, plane, t, slot, mx, mn, sm);
  if (make_q) rope_table(pos, dg, p.rope, qcs, qsn);
  if (compress) rope_table(p.upstream_rope_position ? pos : j * bs, dg, p.rope, ecs, esn);
  if (project_q) {  // Qproj rows: the group's g*d query values; Qavgproj: their mean
    const int rows = p.q_pooling == 0 ? g * d : d;
    const int chunk = (rows + p.slices - 1) / p.slices, r0 = min(rows, s * chunk), r1 = min(rows, r0 + chunk);
    const bf16* q = p.q + b * p.q_stride + int64_t(h) * g * d;
    auto stage = [&] {
      for (int i = t; i < r1 - r0; i += blockDim.x) {
        const int idx = r0 + i;
        if (p.q_pooling == 0) {
          x[i] = ld(q + idx);
        } else {
          float sum = 0.0f;
          for (int k = 0; k < g; ++k) sum += ld(q + int64_t(k) * d + idx);
          x[i] = sum / float(g);
        }
      }
    };
    matvec(stage, x, r1 - r0, p.linear_q + (int64_t(h) * rows + r0) * dg, dg, red, qout);
    if (p.slices > 1)
      for (int o = t; o < dg; o += blockDim.x) p.q_partial[(head * p.slices + s) * dg + o] = qout[o];
  }
  if (compress) {  // the new token completes its block: pool (statistics + token) -> linear_k
    const int rows = p.k_pools.count * d;
    const int chunk = (rows + p.slices - 1) / p.slices, r0 = min(rows, s * chunk), r1 = min(rows, r0 + chunk);
    const float inv = 1.0f / float(slot + 1);
    __syncthreads();  // x may still be read by the query's matvec
    auto stage = [&] {
      for (int i = t; i < r1 - r0; i += blockDim.x) {
        const int idx = r0 + i, c = idx % d;
        float cmx, cmn, csm;
        merge_stats(ld(kr + c), st, plane, c, slot, cmx, cmn, csm);
        x[i] = feature(p.k_pools.type[idx / d], cmx, cmn, csm, inv);
      }
    };
    matvec(stage, x, r1 - r0, p.linear_k + (int64_t(h) * rows + r0) * dg, dg, red, eout);
    if (p.slices > 1)
      for (int o = t; o < dg; o += blockDim.x) p.e_partial[(head * p.slices + s) * dg + o] = eout[o];
  }
  // The last CTA of this (sequence, KV head) finishes the step (threadFenceReduction pattern).
  if (p.slices > 1) {
    __threadfence();
    __syncthreads();
    if (t == 0) last = atomicAdd(&p.done[head], 1u) == unsigned(p.slices - 1);
    __syncthreads();
    if (!last) return;
    __threadfence();
  }
  // State: the block's statistics (every slice has read the old ones), then its entry.
  if (t < d) {
    st[t] = mx;
    st[plane + t] = mn;
    st[2 * plane + t] = sm;
  }
  if (p.entries) {
    const int64_t entry = b * p.entries.stride + int64_t(h) * p.max_blocks + j;
    if (compress) {
      if (p.slices > 1)
        for (int o = t; o < dg; o += blockDim.x) eout[o] = slice_sum(p.e_partial + head * p.slices * dg + o, p.slices, dg);
      __syncthreads();
      norm_rope_apply(eout, dg, p.k_norm, p.rope.inv_freq ? ecs : nullptr, esn, dred);
      store_entry(p.entries, entry, eout, dg);
    } else if (slot == 0) {
      store_entry(p.entries, entry, nullptr, dg);
    }
  }
  if (make_q) {  // the query: summed partials (Qproj / Qavgproj) or the group mean (Qavg)
    if (p.q_pooling == 2 || p.slices > 1) {
      __syncthreads();
      for (int o = t; o < dg; o += blockDim.x) {
        float sum = 0.0f;
        if (p.q_pooling == 2) {
          const bf16* q = p.q + b * p.q_stride + int64_t(h) * g * d + o;
          for (int k = 0; k < g; ++k) sum += ld(q + int64_t(k) * d);
          sum /= float(g);
        } else {
          sum = slice_sum(p.q_partial + head * p.slices * dg + o, p.slices, dg);
        }
        qout[o] = sum;
      }
    }
    __syncthreads();
    norm_rope_apply(qout, dg, p.q_norm, p.rope.inv_freq ? qcs : nullptr, qsn, dred);
    for (int o = t; o < dg; o += blockDim.x) p.qg[head * dg + o] = qout[o];
  }
  if (t == 0 && p.slices > 1) p.done[head] = 0;  // ready for the next step
}

// grid (ceil((in + 1) / 256), dg, Hkv), 256 threads: thread c of output row h * dg + o computes column c
// of run_gate_fold_query's w_out (c < in) or the row's bias (c == in), summing over the group's g * d
// rows of wq in fp32. Once per layer when the gates are attached (Llama-3.1-8B shapes: ~1 ms a layer).
__global__ void __launch_bounds__(256) gate_fold_query_kernel(const bf16* __restrict__ wq, const float* __restrict__ bq,
                                                              const float* __restrict__ linear_q, int q_pooling, int g,
                                                              int d, int dg, int in, bf16* __restrict__ w_out,
                                                              float* __restrict__ b_out) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x, o = blockIdx.y, h = blockIdx.z;
  if (c > in || (c == in && !bq)) return;
  const int64_t r0 = int64_t(h) * g * d;  // the group's first row of wq
  const auto x = [&](int64_t r) { return c < in ? __bfloat162float(wq[r * in + c]) : bq[r]; };
  float acc = 0.0f;
  if (q_pooling == 2) {  // Qavg: the group mean of channel o (dg = d)
    for (int i = 0; i < g; ++i) acc += x(r0 + int64_t(i) * d + o);
    acc /= float(g);
  } else if (q_pooling == 1) {  // Qavgproj: linear_q[h] [d, dg] over the group mean
    for (int ch = 0; ch < d; ++ch) {
      float s = 0.0f;
      for (int i = 0; i < g; ++i) s += x(r0 + int64_t(i) * d + ch);
      acc += linear_q[(int64_t(h) * d + ch) * dg + o] * (s / float(g));
    }
  } else {  // Qproj: linear_q[h] [g * d, dg]
    for (int r = 0; r < g * d; ++r) acc += linear_q[(r0 + r) * dg + o] * x(r0 + r);
  }
  if (c < in)
    w_out[(int64_t(h) * dg + o) * in + c] = __float2bfloat16(acc);
  else
    b_out[h * dg + o] = acc;
}

// The dot product of 16 bytes of an entry (8 bf16, or 16 int8 values) with the query's matching values.
__device__ __forceinline__ float dot16(const uint4& raw, const float* qv, bf16) {
  const __nv_bfloat162* e2 = reinterpret_cast<const __nv_bfloat162*>(&raw);
  float a = 0.0f;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 f = __bfloat1622float2(e2[e]);
    a += qv[2 * e] * f.x;
    a += qv[2 * e + 1] * f.y;
  }
  return a;
}
__device__ __forceinline__ float dot16(const uint4& raw, const float* qv, int8_t) {
  // Each byte x + 128 (sign bit flipped) placed in the mantissa of 2^23: the float 2^23 + 128 + x.
  const uint32_t w[4] = {raw.x ^ 0x80808080u, raw.y ^ 0x80808080u, raw.z ^ 0x80808080u, raw.w ^ 0x80808080u};
  float a = 0.0f;
#pragma unroll
  for (int e = 0; e < 16; ++e) {
    const float x = __uint_as_float(__byte_perm(w[e / 4], 0x4B000000u, 0x7540u + e % 4)) - 8388736.0f;
    a += qv[e] * x;
  }
  return a;
}

// grid (ceil(num_blocks / (8 E)), Hkv, B), 256 threads: 8 warps of E blocks. T = dg / V threads share
// an entry, each with one 16-byte load of its V values (V = 8 bf16 or 16 int8: dims V i .. V i + V - 1);
// a warp loads 32 / T entries at once and has all of its E in flight before the first sum.
template <typename Elem, int T, int E>
__global__ void __launch_bounds__(256) gate_decode_scores_kernel(const GateDecodeParams p, float* scores,
                                                                  int64_t row_stride) {
  constexpr bool kInt8 = sizeof(Elem) == 1;
  constexpr int V = 16 / sizeof(Elem), kPer = 32 / T, kLoads = E / kPer;  // values per load; entries per
  constexpr int dg = V * T;                                                // warp-load; loads per thread
  const int h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int i = lane % T, sub = lane / T;
  pdl_allow_next();  // the selection may launch; it waits for these scores
  const int nb = (p.kv_lens[b] + p.block_size - 1) / p.block_size;
  const int j0 = blockIdx.x * 8 * E + warp * E + sub;  // this thread's entries: j0 + kPer u
  // With the model's folded query (q_folded) every CTA makes the query itself (warp 0, below), and only
  // the CTA of the row's last entry waits for the step kernel: the others need nothing it writes and
  // finish while it runs, so that later waves of CTAs stream the cache meanwhile (H200, batch 16 x 128k,
  // int8, graph: 22.2 -> 20.8 us against every CTA waiting for the step kernel's query).
  const bool own = p.q_folded != nullptr;
  if (!own && j0 - sub >= nb) return;
  // Launched early (launch_early), this kernel streams the entries while the step kernel runs: all but
  // the row's last, which the step kernel writes (a completed block's entry, or a new block's zeros),
  // and which is read after pdl_wait through L2, like the query.
  const int64_t e0 = b * p.entries.stride + int64_t(h) * p.max_blocks;  // the row's first entry
  const Elem* eh = static_cast<const Elem*>(p.entries.values()) + e0 * dg + V * i;
  // ld.global.cg (__ldcg), not .nc (__ldg): ptxas moved every .nc load of this loop past the wait below
  // (griddepcontrol.wait, SASS ACQBULK; checked with cuobjdump), so the early launch streamed nothing
  // while the step kernel ran (H200, batch 16 x 128k, int8, graph: 28.9 -> 26.8 us with .cg).
  uint4 raw[kLoads];
  float sc[kLoads];
#pragma unroll
  for (int u = 0; u < kLoads; ++u) {
    const int j = j0 + kPer * u;
    raw[u] = j < nb - 1 ? __ldcg(reinterpret_cast<const uint4*>(eh + int64_t(j) * dg)) : make_uint4(0, 0, 0, 0);
    if (kInt8) sc[u] = j < nb - 1 && i == 0 ? __ldcg(p.entries.scale + e0 + j) : 0.0f;
  }
  __shared__ float qs[dg];
  if (own) {  // bias, qnorm (fp32 sum), RoPE at the token's position (block_table x slot_table), by warp 0
    if (warp == 0) {
      constexpr int P = dg / 32;  // dims per lane: lane + 32 u
      const int pos = p.kv_lens[b] - 1;
      const bf16* qf = p.q_folded + b * p.q_folded_stride + int64_t(h) * dg;
      float x[P], ss = 0.0f;
#pragma unroll
      for (int u = 0; u < P; ++u) {
        const int o = lane + 32 * u;
        x[u] = ld(qf + o) + (p.q_folded_bias ? p.q_folded_bias[h * dg + o] : 0.0f);
        ss += x[u] * x[u];
      }
      if (p.q_norm) {
        for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
        const float r = rsqrtf(ss / float(dg) + kNormEps);
#pragma unroll
        for (int u = 0; u < P; ++u) x[u] *= r * p.q_norm[lane + 32 * u];
      }
#pragma unroll
      for (int u = 0; u < P; ++u) qs[lane + 32 * u] = x[u];
      __syncwarp();
      if (p.rope.inv_freq) {
        constexpr int half = dg / 2;
        const float* bt = p.rope.block_table + int64_t(pos / p.block_size) * dg;
        const float* st = p.rope.slot_table + int64_t(pos % p.block_size) * dg;
        float a[P / 2], c[P / 2];
#pragma unroll
        for (int u = 0; u < P / 2; ++u) {
          const int o = lane + 32 * u;
          a[u] = qs[o];
          c[u] = qs[o + half];
        }
        __syncwarp();
#pragma unroll
        for (int u = 0; u < P / 2; ++u) {
          const int o = lane + 32 * u;
          const float cb = bt[o], sb = bt[half + o], cs = st[o], sn = st[half + o];
          const float co = cb * cs - sb * sn, si = sb * cs + cb * sn;
          qs[o] = a[u] * co - c[u] * si;
          qs[o + half] = c[u] * co + a[u] * si;
        }
      }
    }
    __syncthreads();
    if (blockIdx.x == 0)  // published for CudaGates::decode_query (the step makes none)
      for (int o = threadIdx.x; o < dg; o += blockDim.x) p.qg[(int64_t(b) * p.num_kv_heads + h) * dg + o] = qs[o];
    if (j0 - sub >= nb) return;
  }
  if (!own || int(blockIdx.x) == (nb - 1) / (8 * E)) pdl_wait();
#pragma unroll
  for (int u = 0; u < kLoads; ++u)
    if (j0 + kPer * u == nb - 1) {
      raw[u] = __ldcg(reinterpret_cast<const uint4*>(eh + int64_t(nb - 1) * dg));
      if (kInt8 && i == 0) sc[u] = __ldcg(p.entries.scale + e0 + nb - 1);
    }
  float qv[V];
  if (own) {
#pragma unroll
    for (int v = 0; v < V; ++v) qv[v] = qs[V * i + v];
  } else {
    const float4* qg = reinterpret_cast<const float4*>(p.qg + (int64_t(b) * p.num_kv_heads + h) * dg + V * i);
#pragma unroll
    for (int v = 0; v < V / 4; ++v) {
      const float4 f = __ldcg(qg + v);
      qv[4 * v] = f.x;
      qv[4 * v + 1] = f.y;
      qv[4 * v + 2] = f.z;
      qv[4 * v + 3] = f.w;
    }
  }
  float acc[kLoads];
#pragma unroll
  for (int u = 0; u < kLoads; ++u) acc[u] = dot16(raw[u], qv, Elem{});
#pragma unroll
  for (int u = 0; u < kLoads; ++u)
    for (int off = T / 2; off > 0; off >>= 1) acc[u] += __shfl_xor_sync(0xffffffffu, acc[u], off);
  float* out = scores + (int64_t(b) * p.num_kv_heads + h) * row_stride;
  const float scale = rsqrtf(float(dg));
  if (i == 0) {
#pragma unroll
    for (int u = 0; u < kLoads; ++u)
      if (j0 + kPer * u < nb) out[j0 + kPer * u] = kInt8 ? acc[u] * sc[u] * scale : acc[u] * scale;
  }
}

// ---------------------------------------------------------------------------------------------
// Selection: one warp per row.

// Order-preserving key of a score: larger score, larger key; NaN as -inf; -0 as +0.
__device__ __forceinline__ uint32_t order_key(float f) {
  // In integers: the build flushes denormals in floating-point arithmetic, and they have keys too.
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) u = 0xff800000u;  // NaN -> -inf
  if ((u << 1) == 0) u = 0;                             // -0 -> +0
  return u ^ (uint32_t(int32_t(u) >> 31) | 0x80000000u);  // negative: every bit flipped; else the sign bit
}

constexpr uint32_t kInfKey = 0xff800000u;  // order_key(+inf), the largest key

// The score of an order key (order_key's inverse; NaN came back as -inf).
__device__ __forceinline__ float key_value(uint32_t key) {
  return __uint_as_float(key ^ (uint32_t(int32_t(~key) >> 31) | 0x80000000u));
}

__device__ __forceinline__ bool is_nan(float f) { return (__float_as_uint(f) & 0x7fffffffu) > 0x7f800000u; }

__device__ __forceinline__ uint32_t warp_max(uint32_t v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ uint32_t warp_min(uint32_t v) {
  for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// A selection row held by one warp: entry j = 32 c + lane is chunk c of the lane, in register c
// (R registers: rows up to 32 R entries; indexed only with compile-time c so that they stay
// registers) or, with R = 0, read from memory. Chunks hold raw score bits, or, for Top-K, order
// keys (0 past the row's end: no key is 0, NaN being mapped to -inf).
template <int R>
struct RowView {
  uint32_t reg[R > 0 ? R : 1];
  const float* mem = nullptr;
  int n = 0;
  bool keys = false;
  __device__ void load(const float* s, int count, bool as_keys) {
    mem = s;
    n = count;
    keys = as_keys;
    if constexpr (R > 0) {
      const int lane = threadIdx.x & 31;
#pragma unroll
      for (int c = 0; c < R; ++c) {
        const int j = 32 * c + lane;
        const float v = j < n ? s[j] : 0.0f;
        reg[c] = j < n ? (keys ? order_key(v) : __float_as_uint(v)) : 0u;
      }
    }
  }
  // Entry 0 takes the row's largest key (the sink rule under Top-K: ties go to the lowest index, so
  // entry 0 ranks first and the other k - 1 slots go to the rest as before). A row read from memory
  // gets the key's float written back to s[0] (scratch: Top-K writes its lists elsewhere). Keys only.
  __device__ void raise_first(float* s) {
    uint32_t mx = 0;  // below every key (past-the-end entries read as 0)
    for_each([&](int, uint32_t bits) { mx = max(mx, bits); });
    set_first(warp_max(mx), s);
  }
  // Entry 0 takes `key` (every lane passes the same); as raise_first for a row read from memory.
  __device__ void set_first(uint32_t key, float* s) {
    if constexpr (R > 0) {
      if ((threadIdx.x & 31) == 0) reg[0] = key;
    } else {
      if ((threadIdx.x & 31) == 0) s[0] = key_value(key);
      __syncwarp();
    }
  }
  // Every entry's bits replaced by fn(j, bits) (j < n; in the registers, or in the row in memory,
  // which then holds raw bits: not for keys).
  template <typename Fn>
  __device__ void map(Fn&& fn) {
    const int lane = threadIdx.x & 31;
    if constexpr (R > 0) {
#pragma unroll
      for (int c = 0; c < R; ++c) {
        if (32 * c >= n) break;
        if (32 * c + lane < n) reg[c] = fn(32 * c + lane, reg[c]);
      }
    } else {
      float* m = const_cast<float*>(mem);
      for (int j = lane; j < n; j += 32) m[j] = __uint_as_float(fn(j, __float_as_uint(m[j])));
      __syncwarp();
    }
  }
  // fn(c, bits) for every chunk in order (bits of lane's entry 32 c + lane; 0 past the end).
  template <typename Fn>
  __device__ __forceinline__ void for_each(Fn&& fn) const {
    if constexpr (R > 0) {
#pragma unroll
      for (int c = 0; c < R; ++c) {
        if (32 * c >= n) break;
        fn(c, reg[c]);
      }
    } else {
      const int lane = threadIdx.x & 31;
      for (int c = 0; 32 * c < n; ++c) {
        const int j = 32 * c + lane;
        const float v = j < n ? mem[j] : 0.0f;
        fn(c, j < n ? (keys ? order_key(v) : __float_as_uint(v)) : 0u);
      }
    }
  }
};

// The largest digit D such that at least `need` (>= 1) of the keys counted in hist[256] (shared
// memory, 16-byte aligned; every lane of the calling warp reads it) have a digit >= D; *above = how
// many have a digit > D, *in_bin how many have D. Lane l scans the bins 255 - 8 l down to 248 - 8 l.
__device__ __forceinline__ int top_digit(const int* hist, int need, int* above, int* in_bin) {
  const int lane = threadIdx.x & 31;
  const int4 lo = reinterpret_cast<const int4*>(hist)[2 * (31 - lane)];
  const int4 hi = reinterpret_cast<const int4*>(hist)[2 * (31 - lane) + 1];
  const int c[8] = {hi.w, hi.z, hi.y, hi.x, lo.w, lo.z, lo.y, lo.x};  // bins from the top down
  int sum = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) sum += c[i];
  int incl = sum;  // keys in the bins of lanes 0..lane
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int v = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += v;
  }
  const int owner = __ffs(__ballot_sync(0xffffffffu, incl >= need)) - 1;
  int acc = incl - sum, digit = -1, ab = 0, ib = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    if (digit < 0 && acc + c[i] >= need) {
      digit = 255 - 8 * lane - i;
      ab = acc;
      ib = c[i];
    }
    acc += c[i];
  }
  *above = __shfl_sync(0xffffffffu, ab, owner);
  *in_bin = __shfl_sync(0xffffffffu, ib, owner);
  return __shfl_sync(0xffffffffu, digit, owner);
}

// The need-th largest (1 <= need <= m) of m <= 32 keys list[0..m) in shared memory, ranked by every
// warp that calls it (lane l takes key l); *greater = how many of them are larger, *equal how many
// equal it.
__device__ __forceinline__ uint32_t rank_few(const uint32_t* list, int m, int need, int* greater, int* equal) {
  const int lane = threadIdx.x & 31;
  const uint32_t mine = lane < m ? list[lane] : 0u;
  int gt = 0, eq = 0;
  for (int i = 0; i < m; ++i) {
    const uint32_t o = __shfl_sync(0xffffffffu, mine, i);
    gt += o > mine;
    eq += o == mine;
  }
  const int at = __ffs(__ballot_sync(0xffffffffu, lane < m && gt < need && need <= gt + eq)) - 1;
  *greater = __shfl_sync(0xffffffffu, gt, at);
  *equal = __shfl_sync(0xffffffffu, eq, at);
  return __shfl_sync(0xffffffffu, mine, at);
}

// The k-th largest of the n keys of a row held by a group of `size` threads (a warp, or the CTA;
// this thread is `rank`), 1 <= k <= n; hi / lo, the row's largest and smallest key (lo >= 1: key 0
// marks a place past the row's end).
//   1. With finite extremes, one pass over 256 bins linear in the score from lo to hi: the map is
//      monotone (a larger key never lands in a lower bin), so the answer lies in the bin where the
//      counts from the top reach k, and that bin usually holds a handful of keys. kShort (set by
//      kth_largest_key for rows of up to 512 blocks, short_rows(R)) adds two exact shortcuts:
//      - the pass also keeps each bin's smallest key, and when the answer's bin holds exactly the keys
//        still needed (about 2/3 of rows of N(0, 1) scores), that key is the answer: steps 2-3 are
//        skipped (H200: the 32k select 0.0332 -> 0.031 ms);
//      - kInfBins (kShort's default; the decode rows' CTA sets it too): a row whose largest keys are
//        +inf (block 0 of a gate trained without it, sink_excluded) has its bins span lo to its largest
//        finite key, the +inf keys joining the top bin, instead of going to the radix passes (the 32k
//        `0 out` select 0.0345 -> 0.033 ms; the decode step of such a gate in a graph, batch 16 x 128k
//        0.0361 -> 0.0356 ms, batch 1 0.0134 -> 0.0128 ms).
//      Rows of up to 2048 blocks (8 keys per bin) go without both, and the decode rows' CTA without the
//      first: there they cost more than they saved (128k select 0.530 -> 0.546 ms and 0.531 -> 0.550 ms;
//      decode, batch 1, 0.021 -> 0.024 ms).
//   2. Otherwise, or while more than 32 keys remain, 8-bit radix passes over the remaining keys (those
//      in [lo, hi], lo and hi narrowed to the chosen bin's keys) from the highest bit where lo and hi
//      differ.
//   3. Once at most 32 keys remain, every warp ranks them directly (rank_few).
// Callbacks: count(digit, mins) adds every key of this thread with digit(key) >= 0 to hist[digit(key)]
// and, with mins, min-reduces it into mins[digit(key)] (count_digit); gather(in, list) writes this
// thread's keys with in(key) to list[0..) (any order; at most 32); bounds(in, &hi, &lo) gives every
// thread the group's largest and smallest key with in(key); sync() orders the group's shared-memory
// writes. hist: 256 shared bins (16-byte aligned), also the list's storage, then, with kShort, 256
// words for the first pass's smallest keys. *ties: how many keys equal to the answer are taken (k
// minus those above it), the lowest indices first; *equal: how many keys equal it.
template <bool kShort, bool kInfBins = kShort, class Count, class Gather, class Bounds, class Sync>
__device__ uint32_t kth_largest(uint32_t hi, uint32_t lo, int n, int k, int rank, int size, int* hist, Count&& count,
                                Gather&& gather, Bounds&& bounds, Sync&& sync, int* ties, int* equal) {
  int need = k, left = n;  // the answer is the need-th largest of the `left` keys remaining
  // One counting pass: the digit of the need-th largest counted key; need and left then refer to the keys
  // of that digit.
  uint32_t* const mins = reinterpret_cast<uint32_t*>(hist + 256);
  auto pass = [&](auto&& digit, uint32_t* with_mins) {
    for (int i = rank; i < 256; i += size) {
      hist[i] = 0;
      if (with_mins) with_mins[i] = ~0u;
    }
    sync();
    count(digit, with_mins);
    sync();
    int above;
    const int d = top_digit(hist, need, &above, &left);
    need -= above;
    sync();  // every warp has read the histogram before it is written again
    return d;
  };
  auto rank_left = [&](auto&& in) {
    uint32_t* list = reinterpret_cast<uint32_t*>(hist);
    gather(in, list);
    sync();
    int greater;
    const uint32_t key = rank_few(list, left, need, &greater, equal);
    *ties = need - greater;
    return key;
  };
  uint32_t bins_hi = hi;  // the bins' upper end
  if (kInfBins && hi == kInfKey && lo < hi) {
    uint32_t finite, unused;
    sync();  // (a CTA's bounds go through shared memory: the caller's call has been read everywhere)
    bounds([](uint32_t key) { return key != 0 && key != kInfKey; }, &finite, &unused);
    if (finite > lo) bins_hi = finite;  // (0 when every key is +inf)
  }
  if (hi != lo) {
    const float flo = key_value(lo), scale = 256.0f / (key_value(bins_hi) - flo);
    if (isfinite(flo) && isfinite(scale) && scale > 0.0f) {
      // (cvt.rzi saturates: a +inf key above bins_hi lands in bin 255.)
      auto bin = [=](uint32_t key) { return min(255, __float2int_rz((key_value(key) - flo) * scale)); };
      const int d = pass([&](uint32_t key) { return key >= lo ? bin(key) : -1; }, kShort ? mins : nullptr);
      if (kShort && left == need) {  // every key of the bin is taken: the answer is its smallest, no tie to rank
        *ties = *equal = need;
        return mins[d];
      }
      auto in_bin = [=](uint32_t key) { return key >= lo && bin(key) == d; };
      if (left <= 32) return rank_left(in_bin);
      bounds(in_bin, &hi, &lo);
    }
  }
  if (hi == lo) {  // every remaining key equal: the `need` first are taken
    *ties = need;
    *equal = left;
    return hi;
  }
  int top = 31 - __clz(hi ^ lo);  // the highest bit not known yet
  uint32_t t = top == 31 ? 0u : hi & (~0u << (top + 1));
  for (;;) {
    const uint32_t mask = top == 31 ? 0u : ~0u << (top + 1);
    auto in_t = [=](uint32_t key) { return key >= lo && key <= hi && (key & mask) == t; };
    if (left <= 32) return rank_left(in_t);
    const int shift = max(top - 7, 0);
    const uint32_t digit_mask = (2u << (top - shift)) - 1u;
    t |= uint32_t(pass([&](uint32_t key) { return in_t(key) ? int((key >> shift) & digit_mask) : -1; }, nullptr))
         << shift;
    if (shift == 0) break;
    top = shift - 1;
  }
  *ties = need;
  *equal = left;
  return t;
}

// One thread's key into the histogram of a counting pass (digit < 0: not counted), and with mins
// into the bin's smallest key: predicated shared-memory reductions, no branch.
__device__ __forceinline__ void count_digit(int* hist, int digit, uint32_t* mins = nullptr, uint32_t key = 0) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(hist + max(digit, 0)));
  const uint32_t on = digit >= 0;
  if (mins) {
    const uint32_t maddr = uint32_t(__cvta_generic_to_shared(mins + max(digit, 0)));
    asm volatile(
        "{\n .reg .pred p;\n setp.ne.u32 p, %1, 0;\n @p red.shared.add.u32 [%0], 1;\n"
        " @p red.shared.min.u32 [%2], %3;\n}\n" ::"r"(addr),
        "r"(on), "r"(maddr), "r"(key)
        : "memory");
  } else {
    asm volatile(
        "{\n .reg .pred p;\n setp.ne.u32 p, %1, 0;\n @p red.shared.add.u32 [%0], 1;\n}\n" ::"r"(addr), "r"(on)
        : "memory");
  }
}

// The select kernel's tiers of rows of up to 512 blocks (R chunks in registers), where kth_largest
// takes its kShort shortcuts (and hist holds 512 words per warp).
__host__ __device__ constexpr bool short_rows(int R) { return R > 0 && R <= 16; }

// The k-th largest key of a warp's row (1 <= k <= n); hist: the warp's shared words (512 for
// short_rows(R), else 256).
template <int R>
__device__ uint32_t kth_largest_key(const RowView<R>& row, int k, int* hist, int* ties, int* equal) {
  auto bounds = [&](auto&& in, uint32_t* hi, uint32_t* lo) {
    uint32_t h = 0, l = 0xffffffffu;
    row.for_each([&](int, uint32_t key) {
      if (in(key)) {
        h = max(h, key);
        l = min(l, key);
      }
    });
    *hi = warp_max(h);
    *lo = warp_min(l);
  };
  auto count = [&](auto&& digit, uint32_t* mins) {
    row.for_each([&](int, uint32_t key) { count_digit(hist, digit(key), mins, key); });
  };
  auto gather = [&](auto&& in, uint32_t* list) {  // compacted by ballots
    const uint32_t lt = (1u << (threadIdx.x & 31)) - 1u;
    int base = 0;
    row.for_each([&](int, uint32_t key) {
      const bool m = in(key);
      const uint32_t b = __ballot_sync(0xffffffffu, m);
      if (m) list[base + __popc(b & lt)] = key;
      base += __popc(b);
    });
  };
  uint32_t hi, lo;
  bounds([](uint32_t key) { return key != 0; }, &hi, &lo);  // 0: past the row's end
  return kth_largest<short_rows(R)>(hi, lo, row.n, k, threadIdx.x & 31, 32, hist, count, gather, bounds,
                                    [] { __syncwarp(); }, ties, equal);
}

struct ThresholdState {
  double mx = 0.0, sum = 1.0;
  bool finite = true, pos_inf = false;
};

// The softmax normaliser of the row over non-NaN entries (as seer::threshold on logits), from entry
// `first` on.
template <int R>
__device__ ThresholdState threshold_state(const RowView<R>& row, int first) {
  const int lane = threadIdx.x & 31;
  double mx = -INFINITY;
  row.for_each([&](int c, uint32_t bits) {
    const float v = __uint_as_float(bits);
    const int j = 32 * c + lane;
    if (j >= first && j < row.n && !is_nan(v)) mx = fmax(mx, double(v));
  });
  for (int o = 16; o > 0; o >>= 1) mx = fmax(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  ThresholdState t;
  t.mx = mx;
  t.finite = isfinite(mx);
  t.pos_inf = !t.finite && mx > 0;
  if (!t.finite) return t;
  double sum = 0.0;
  row.for_each([&](int c, uint32_t bits) {
    const float v = __uint_as_float(bits);
    const int j = 32 * c + lane;
    if (j >= first && j < row.n && !is_nan(v)) sum += exp(double(v) - mx);
  });
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  t.sum = sum;
  return t;
}

__device__ __forceinline__ bool passes(float v, const ThresholdState& t, double tau) {
  if (is_nan(v)) return false;
  if (!t.finite) return t.pos_inf && v == INFINITY;
  return exp(double(v) - t.mx) / t.sum > tau;
}

// Weights at or above a bit pattern: their sum and how many.
struct Mass {
  double sum;
  int count;
};

// mass:P on a row whose entries hold their weights' bits (w >= 0, float; 0 past the end): a cut t
// with the same entries at or above it as the largest t with Σ_{bits_j >= t} w_j >= share * Σ w_j,
// as seer::top_mass finds it over the values (non-negative floats order as their bits). hi is the
// largest weight's bits and lo the smallest positive one's; mass_from(t) -> Mass over the entries with
// bits >= t, the same on every thread that calls it. Bisection over the bits between a and b
// (mass(>= a) >= share * total > mass(>= b)), which stops when one entry is left in [a, b) (the answer
// is its weight, and the entries at or above it are those at or above a) or a and b are adjacent:
// about 6-11 passes on rows of 16..512 N(0, 1..3) logits (a simulation) where a search from bit
// pattern 1 over the whole range took 31. A superset's sum in the same order is never smaller, so the
// bisection's decisions are those of any other search. The row has a positive weight (its
// maximum's, 1). Used by a warp's row (mass_cut) and a CTA's (gate_select_decode_kernel).
template <class MassFrom>
__device__ uint32_t bisect_mass_cut(uint32_t hi, uint32_t lo, double share, MassFrom&& mass_from) {
  const Mass all = mass_from(1u);  // every positive weight: the entries at or above lo
  const double target = share * all.sum;
  const Mass top = mass_from(hi);
  if (top.sum >= target) return hi;
  uint32_t a = lo, b = hi;
  int ca = all.count, cb = top.count;
  while (ca - cb > 1 && b - a > 1) {
    const uint32_t m = a + (b - a) / 2;
    const Mass x = mass_from(m);
    if (x.sum >= target) {
      a = m;
      ca = x.count;
    } else {
      b = m;
      cb = x.count;
    }
  }
  return a;
}

// A warp's row: sums in double, lane 0's (the butterfly's lanes could round differently).
template <int R>
__device__ uint32_t mass_cut(const RowView<R>& row, double share) {
  auto mass_from = [&](uint32_t t) -> Mass {
    double m = 0.0;
    int c = 0;
    row.for_each([&](int, uint32_t b) {
      m += b >= t ? double(__uint_as_float(b)) : 0.0;
      c += b >= t;
    });
    for (int o = 16; o > 0; o >>= 1) m += __shfl_xor_sync(0xffffffffu, m, o);
    c = int(__reduce_add_sync(0xffffffffu, uint32_t(c)));
    return {__shfl_sync(0xffffffffu, m, 0), c};
  };
  uint32_t hi = 0, lo = 0xffffffffu;
  row.for_each([&](int, uint32_t b) {
    hi = max(hi, b);
    lo = b > 0 ? min(lo, b) : lo;
  });
  return bisect_mass_cut(warp_max(hi), warp_min(lo), share, mass_from);
}

// Prefill Top-K rows have a known length (min(k, qb + 1), or qb + 1 for a last_block_dense row),
// so their CSR offsets and block counts have a closed form and the select kernel writes each list in
// place: no scan, no compaction, no counting. Of the rows of one head (Top-K of k) with query blocks
// in [a, b): the blocks Top-K picks, and those last_block_dense adds (forced).
__device__ int64_t top_k_picked(int k, int a, int b) {
  if (b <= a) return 0;
  const int m = min(b, max(a, k));  // rows qb < k keep all qb + 1 blocks, the others k
  return int64_t(m - a) * (a + 1 + m) / 2 + int64_t(b - m) * k;
}
__device__ int64_t top_k_forced(const GateSelectParams& p, int k, int a, int b) {
  int64_t total = 0;
  if (p.last_block_dense)
    for (int qb = max(a, p.num_blocks - 2); qb < b; ++qb) total += (qb + 1) - min(k, qb + 1);
  return total;
}
__device__ int64_t top_k_blocks(const GateSelectParams& p, int k, int a, int b) {
  return top_k_picked(k, a, b) + top_k_forced(p, k, a, b);
}
// A prefill head's k: its own (head_k: budget shares), else the one k.
__device__ __forceinline__ int prefill_head_k(const GateSelectParams& p, int head) {
  return p.head_k ? max(1, p.head_k[head]) : p.k;
}

__host__ __device__ inline bool closed_form(const GateSelectParams& p) { return p.top_k && p.k >= 1; }

// Prefill rows: one warp per row, the row in registers (R > 0: rows up to 32 R entries) or read
// from memory. Four CTAs per SM except for R = 64. Top-K (kTopK = p.top_k) and the softmax rules
// (threshold, mass) are separate instantiations: Top-K's then needs 55 registers at R = 16 and
// spills nothing, where one kernel for both took 64 and spilled (sm_90a); on an H200 its select
// went from 0.043 to 0.033 ms at 32k and from 1.01 to 0.54 ms at 128k.
template <int R, bool kTopK>
__global__ void __launch_bounds__(kSelectWarps * 32, R > 16 ? 1 : 4) gate_select_kernel(const GateSelectParams p) {
  __shared__ unsigned long long cta_counts[3];
  // A warp's counting passes (Top-K; with the bins' smallest keys for rows of up to 512 blocks).
  __shared__ __align__(16) int hist[kTopK ? kSelectWarps : 1][short_rows(R) ? 512 : 256];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bool closed = kTopK && closed_form(p);
  if (closed) {  // the counts in closed form, added once
    if (p.counts && blockIdx.x == 0 && threadIdx.x == 0) {
      const int heads = p.num_rows / p.rows_per_head, a = p.first_q_block, b = a + p.rows_per_head;
      int64_t picked = 0, forced = 0;
      for (int h = 0; h < heads; ++h) {
        const int k = prefill_head_k(p, h);
        picked += top_k_picked(k, a, b);
        forced += top_k_forced(p, k, a, b);
      }
      atomicAdd(&p.counts[0], (unsigned long long)(picked + forced));
      atomicAdd(&p.counts[1], (unsigned long long)(heads * (int64_t(b - a) * (a + 1 + b) / 2)));
      atomicAdd(&p.counts[2], (unsigned long long)forced);
    }
  } else {
    if (threadIdx.x < 3) cta_counts[threadIdx.x] = 0;
    __syncthreads();
  }
  // Longest rows first: the r-th row in launch order is query block rows_per_head - 1 - r / heads of
  // head r % heads, so the last wave holds the shortest rows, and a CTA's warps take rows of one length.
  const int r = blockIdx.x * kSelectWarps + warp;
  if (r < p.num_rows) {
    const int heads = p.num_rows / p.rows_per_head;
    const int row = (r % heads) * p.rows_per_head + (p.rows_per_head - 1 - r / heads);
    float* row_scores = p.scores + row * p.row_stride;
    const int qb = p.first_q_block + row % p.rows_per_head;
    const int n = qb + 1;
    const bool all_on = p.last_block_dense && qb >= p.num_blocks - 2;
    RowView<R> view;
    view.load(row_scores, n, kTopK);
    // Top-K (closed-form offsets): straight to block_indices; threshold rows in place over their
    // scores (compacted after the scan; chunk c is read before anything at or after its first
    // output position is written).
    const int head = row / p.rows_per_head;
    const int head_k = kTopK ? prefill_head_k(p, head) : p.k;
    int64_t base = 0;  // the heads before this one, then this head's rows before this one
    if (closed) {
      const int a = p.first_q_block, b = a + p.rows_per_head;
      if (p.head_k)  // heads of different lengths
        for (int h = 0; h < head; ++h) base += top_k_blocks(p, prefill_head_k(p, h), a, b);
      else
        base = head * top_k_blocks(p, p.k, a, b);
      base += top_k_blocks(p, head_k, a, qb);
    }
    int32_t* out = closed ? p.block_indices + base : reinterpret_cast<int32_t*>(row_scores);
    const int k = min(head_k, n);
    const bool take_all = kTopK && k >= n;
    uint32_t kth = 0;
    int ties = 0, equal = 0;
    ThresholdState th;
    if (p.sink_excluded && kTopK && !take_all && k >= 1)
      view.set_first(order_key(INFINITY), row_scores);  // the gate has no score for it: ranked first
    else if (p.keep_sink && kTopK && !take_all && k >= 2)
      view.raise_first(row_scores);  // one slot: the gate's pick
    if constexpr (kTopK) {
      if (!take_all && k > 0) kth = kth_largest_key(view, k, hist[warp], &ties, &equal);
    }
    const int first = p.sink_excluded ? 1 : 0;  // a threshold's softmax: entries first..n-1
    if (!kTopK) th = threshold_state(view, first);
    // mass:P: the row's weights float(exp(v - max)) in place of its scores (0 for NaN and entries
    // before `first`), then the smallest weight kept. Not in the 64-register tier: its rows take the
    // memory path (run_gate_select); in that tier the kernel needs 232 registers, one CTA per SM, and
    // took 2.96 ms for the bench's 128k mass rows against the memory path's 1.52 ms (H200).
    bool by_mass = false;
    uint32_t cut = 0;
    if constexpr (R <= 16) {
      by_mass = p.mass && !kTopK && th.finite;
      if (by_mass) {
        view.map([&](int j, uint32_t b) {
          const float v = __uint_as_float(b);
          return j < first || is_nan(v) ? 0u : __float_as_uint(float(exp(double(v) - th.mx)));
        });
        cut = mass_cut(view, p.tau);
      }
    }
    // Top-K takes the keys above kth and `ties` of those equal to it: the lowest indices, ranked by
    // ballots, unless that is all of them (the usual case).
    const bool rank_ties = ties < equal;
    const bool sink_added = p.keep_sink && !kTopK;  // Top-K has the sink among its picks already
    const uint32_t lt = (1u << lane) - 1u;
    int pos = 0, eq_seen = 0, forced = 0;
    view.for_each([&](int c, uint32_t bits) {
      const int j = 32 * c + lane;
      const bool valid = j < n;
      bool pick;
      if (kTopK) {
        bool eq = valid && !take_all && k > 0 && bits == kth;
        if (rank_ties) {
          const uint32_t eqb = __ballot_sync(0xffffffffu, eq);
          eq = eq && eq_seen + __popc(eqb & lt) < ties;
          eq_seen += __popc(eqb);
        }
        pick = valid && (take_all || (k > 0 && (bits > kth || eq)));
      } else {
        pick = valid && (j < first || (by_mass ? bits >= cut : passes(__uint_as_float(bits), th, p.tau)));
      }
      // Forced: the whole row (last_block_dense) or a threshold or mass row's sink.
      const bool take = pick || (valid && (all_on || (sink_added && j == 0)));
      if (all_on || sink_added) forced += __popc(__ballot_sync(0xffffffffu, take && !pick));
      const uint32_t tb = __ballot_sync(0xffffffffu, take);
      __syncwarp();
      if (take) out[pos + __popc(tb & lt)] = j;
      pos += __popc(tb);
    });
    if (pos == 0) {  // no empty row: the diagonal block (SPEC §3.1 [AMBIG])
      if (lane == 0) out[0] = qb;
      pos = 1;
      forced = 1;
    }
    if (lane == 0) {
      p.row_offsets[row + 1] = int32_t(closed ? base + pos : pos);
      if (closed && row == 0) p.row_offsets[0] = 0;
      if (!closed) {
        atomicAdd(&cta_counts[0], (unsigned long long)pos);
        atomicAdd(&cta_counts[1], (unsigned long long)n);
        atomicAdd(&cta_counts[2], (unsigned long long)forced);
      }
    }
  }
  if (closed) return;
  __syncthreads();
  if (p.counts && threadIdx.x < 3) atomicAdd(&p.counts[threadIdx.x], cta_counts[threadIdx.x]);
}

// Decode rows (few and long): one CTA of 256 threads per row; entry j = 256 c + t is chunk c of
// thread t, in register c (kRegs: rows up to 2048 entries) or read from memory.
// (512 threads x 4 chunks and 1024 x 2 measured the same on an H200: the row's latency is barriers
// and loads, not the threads' chains.)
constexpr int kCtaThreads = 256, kCtaChunks = 8;

constexpr int kCtaWarps = kCtaThreads / 32;
static_assert(kCtaChunks * kCtaWarps == 64, "group_prefix scans two counts per lane");

// Ranks, over the CTA in entry order (chunk-major, then thread), of the flagged entries of a group
// of kCtaChunks chunks: flag[g] of this thread's entry in chunk g -> rank[g]; returns how many are
// flagged. buf: shared [kCtaChunks * kCtaWarps + 1]; two barriers. The next call writing the same buf
// needs a barrier first (a call on another buffer in between is one).
__device__ __forceinline__ int group_prefix(const bool (&flag)[kCtaChunks], int* buf, int (&rank)[kCtaChunks]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  uint32_t bal[kCtaChunks];
#pragma unroll
  for (int g = 0; g < kCtaChunks; ++g) {
    bal[g] = __ballot_sync(0xffffffffu, flag[g]);
    if (lane == 0) buf[g * kCtaWarps + warp] = __popc(bal[g]);
  }
  __syncthreads();
  if (warp == 0) {  // exclusive scan of the (chunk, warp) counts in that order; the total at the end
    const int a = buf[2 * lane], b = buf[2 * lane + 1];
    int incl = a + b;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += v;
    }
    buf[2 * lane] = incl - a - b;
    buf[2 * lane + 1] = incl - b;
    if (lane == 31) buf[kCtaChunks * kCtaWarps] = incl;
  }
  __syncthreads();
  const uint32_t lt = (1u << lane) - 1u;
#pragma unroll
  for (int g = 0; g < kCtaChunks; ++g) rank[g] = buf[g * kCtaWarps + warp] + __popc(bal[g] & lt);
  return buf[kCtaChunks * kCtaWarps];
}

// kBudget: an instantiation for Top-K rows alone (a decode budget, the common rule), which runs none of
// the softmax rules' code: the kernel is one pass through long code, and a third of its stall samples
// waited for instructions (Nsight Compute). The other instantiation takes any rule (GateSelectParams::top_k);
// one of its own per softmax rule was slower at batch 16 (BENCHMARKS §3a).
template <bool kRegs, bool kBudget>
__global__ void __launch_bounds__(kCtaThreads) gate_select_decode_kernel(const GateSelectParams p) {
  const bool top_k = kBudget || p.top_k;  // a constant in the budget instantiation
  __shared__ double dtmp[kCtaWarps];
  __shared__ uint32_t bounds_buf[2][kCtaWarps];         // largest and smallest key per warp
  __shared__ __align__(16) int hist[256];               // the counting passes
  __shared__ int prefix[2][kCtaChunks * kCtaWarps + 1];  // group_prefix's buffers
  __shared__ int listed, forced;  // keys gathered for the last ranking; forced blocks
  if (threadIdx.x == 0) {         // (both used after barriers)
    listed = 0;
    forced = 0;
  }
  const int t = threadIdx.x;
  const int64_t row = blockIdx.x;
  // (kv_lens: written before the step kernel started, which it had when this kernel could launch)
  const int n = (p.kv_lens[row / p.num_heads] + p.block_size - 1) / p.block_size;
  pdl_wait();  // launched early after the scores kernel (run_gate_select): its scores, through L2
  const int chunks = (n + kCtaThreads - 1) / kCtaThreads;
  float* mem = p.scores + row * p.row_stride;
  uint32_t reg[kRegs ? kCtaChunks : 1];
  auto bits_of = [&](int c, float v) -> uint32_t {  // chunk c of this thread, loaded as v (0 past the end)
    const int j = c * kCtaThreads + t;
    if (j >= n) return 0u;
    if (p.sink_excluded && j == 0) v = INFINITY;  // (not a score: ranked first)
    return top_k ? order_key(v) : __float_as_uint(v);
  };
  auto bits_at = [&](int c) -> uint32_t {  // (the rows read from memory)
    const int j = c * kCtaThreads + t;
    return j < n ? bits_of(c, __ldcg(mem + j)) : 0u;
  };
  const int first = p.sink_excluded ? 1 : 0;  // a threshold's softmax: entries first..n-1
  if constexpr (kRegs) {
    // Every load in flight at once: no branch between them (a load per branch made them eight L2 round
    // trips in a row; past the end, entry n - 1 is read again and dropped).
    float v[kCtaChunks];
#pragma unroll
    for (int c = 0; c < kCtaChunks; ++c) v[c] = __ldcg(mem + max(0, min(c * kCtaThreads + t, n - 1)));
#pragma unroll
    for (int c = 0; c < kCtaChunks; ++c) reg[c] = bits_of(c, v[c]);
  }
  // fn(c, bits) over the chunks in order.
  auto for_each = [&](auto&& fn) {
    if constexpr (kRegs) {
#pragma unroll
      for (int c = 0; c < kCtaChunks; ++c)
        if (c < chunks) fn(c, reg[c]);
    } else {
      for (int c = 0; c < chunks; ++c) fn(c, bits_at(c));
    }
  };
  const int k = min(p.head_k ? p.head_k[row % p.num_heads] : p.k, n);
  const bool take_all = top_k && k >= n;
  uint32_t kth = 0;
  int ties = 0, equal = 0;
  // The largest and smallest of the keys `each` visits that pass `in`, over the CTA (one barrier; the
  // next call needs one before it writes bounds_buf again).
  auto cta_bounds = [&](auto&& each, auto&& in, uint32_t* hi, uint32_t* lo) {
    uint32_t h = 0, l = 0xffffffffu;
    each([&](int, uint32_t key) {
      if (in(key)) {
        h = max(h, key);
        l = min(l, key);
      }
    });
    h = warp_max(h);
    l = warp_min(l);
    if ((t & 31) == 0) {
      bounds_buf[0][t >> 5] = h;
      bounds_buf[1][t >> 5] = l;
    }
    __syncthreads();
    for (int w = 0; w < kCtaWarps; ++w) {
      h = max(h, bounds_buf[0][w]);
      l = min(l, bounds_buf[1][w]);
    }
    *hi = h;
    *lo = l;
  };
  // As kth_largest_key, over the CTA.
  if (top_k && !take_all && k > 0) {
    auto bounds = [&](auto&& in, uint32_t* hi, uint32_t* lo) { cta_bounds(for_each, in, hi, lo); };
    auto count = [&](auto&& digit, uint32_t* mins) {
      for_each([&](int, uint32_t key) { count_digit(hist, digit(key), mins, key); });
    };
    auto gather = [&](auto&& in, uint32_t* list) {  // at most 32 keys: one atomic each
      for_each([&](int, uint32_t key) {
        if (in(key)) list[atomicAdd(&listed, 1)] = key;
      });
    };
    uint32_t hi, lo;
    bounds([](uint32_t key) { return key != 0; }, &hi, &lo);  // 0: past the row's end
    kth = kth_largest<false, true>(hi, lo, n, k, t, kCtaThreads, hist, count, gather, bounds,
                                   [] { __syncthreads(); }, &ties, &equal);
  }
  const bool rank_ties = ties < equal;  // as in gate_select_kernel
  ThresholdState th;
  if (!top_k) {
    double mx = -INFINITY;
    for_each([&](int c, uint32_t b) {
      const float v = __uint_as_float(b);
      const int j = c * kCtaThreads + t;
      if (j >= first && j < n && !is_nan(v)) mx = fmax(mx, double(v));
    });
    for (int o = 16; o > 0; o >>= 1) mx = fmax(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if ((t & 31) == 0) dtmp[t >> 5] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int w = 0; w < kCtaWarps; ++w) mx = fmax(mx, dtmp[w]);
    __syncthreads();
    th.mx = mx;
    th.finite = isfinite(mx);
    th.pos_inf = !th.finite && mx > 0;
    if (th.finite) {
      double sum = 0.0;
      for_each([&](int c, uint32_t b) {
        const float v = __uint_as_float(b);
        const int j = c * kCtaThreads + t;
        if (j >= first && j < n && !is_nan(v)) sum += exp(double(v) - mx);
      });
      for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      if ((t & 31) == 0) dtmp[t >> 5] = sum;
      __syncthreads();
      sum = 0.0;
      for (int w = 0; w < kCtaWarps; ++w) sum += dtmp[w];
      __syncthreads();
      th.sum = sum;
    }
  }
  // mass:P: the row's weights float(exp(v - max)) over entries first..n-1 (0 for NaN, for entries
  // before `first` and past the end), and the cut by bisect_mass_cut, over the CTA. Rows in
  // registers hold the weights in place of their scores; rows read from memory recompute them.
  const bool by_mass = p.mass && !top_k && th.finite;
  auto weight = [&](int c, uint32_t b) -> uint32_t {
    const float v = __uint_as_float(b);
    const int j = c * kCtaThreads + t;
    return j < first || j >= n || is_nan(v) ? 0u : __float_as_uint(float(exp(double(v) - th.mx)));
  };
  uint32_t cut = 0;
  if (by_mass) {
    if constexpr (kRegs) {
#pragma unroll
      for (int c = 0; c < kCtaChunks; ++c) reg[c] = weight(c, reg[c]);
    }
    auto for_each_weight = [&](auto&& fn) {
      if constexpr (kRegs)
        for_each(fn);
      else
        for_each([&](int c, uint32_t b) { fn(c, weight(c, b)); });
    };
    __shared__ int ctmp[kCtaWarps];
    // Σ of the weights at or above bit pattern m, and how many: lane 0's warp sums in warp order,
    // the same on every thread.
    auto mass_from = [&](uint32_t m) -> Mass {
      double s = 0.0;
      int c = 0;
      for_each_weight([&](int, uint32_t w) {
        s += w >= m ? double(__uint_as_float(w)) : 0.0;
        c += w >= m;
      });
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      c = int(__reduce_add_sync(0xffffffffu, uint32_t(c)));
      if ((t & 31) == 0) {
        dtmp[t >> 5] = s;
        ctmp[t >> 5] = c;
      }
      __syncthreads();
      s = 0.0;
      c = 0;
      for (int w = 0; w < kCtaWarps; ++w) {
        s += dtmp[w];
        c += ctmp[w];
      }
      __syncthreads();
      return {s, c};
    };
    uint32_t hi, lo;  // the largest weight (the maximum's, 1) and the smallest positive one
    cta_bounds(for_each_weight, [](uint32_t w) { return w > 0; }, &hi, &lo);
    cut = bisect_mass_cut(hi, lo, p.tau, mass_from);
  }
  // Emission in ascending order, a group of kCtaChunks chunks at a time (one group up to 2048
  // entries): fixed-stride rows or in place (CSR: every thread has read the group before the first
  // barrier, and an entry's output position is at most its index, so no write reaches a later group).
  int32_t* out = p.row_counts ? p.block_indices + row * p.index_stride : reinterpret_cast<int32_t*>(mem);
  int pos = 0, eq_seen = 0;
  for (int c0 = 0; c0 < chunks; c0 += kCtaChunks) {
    uint32_t bits[kCtaChunks];
    bool eq[kCtaChunks], pick[kCtaChunks], take[kCtaChunks];
    int rank[kCtaChunks];
#pragma unroll
    for (int g = 0; g < kCtaChunks; ++g) {
      if constexpr (kRegs)
        bits[g] = reg[g];
      else
        bits[g] = c0 + g < chunks ? bits_at(c0 + g) : 0u;
      const int j = (c0 + g) * kCtaThreads + t;
      eq[g] = top_k && j < n && !take_all && k > 0 && bits[g] == kth;
    }
    int eq_total = 0;
    if (rank_ties) eq_total = group_prefix(eq, prefix[0], rank);
    int forced_here = 0;
#pragma unroll
    for (int g = 0; g < kCtaChunks; ++g) {
      const int j = (c0 + g) * kCtaThreads + t;
      const bool valid = j < n;
      if (top_k)
        pick[g] = valid && (take_all || (k > 0 && (bits[g] > kth || (eq[g] && (!rank_ties || eq_seen + rank[g] < ties)))));
      else
        pick[g] = valid && (j < first || (by_mass ? (kRegs ? bits[g] : weight(c0 + g, bits[g])) >= cut
                                                   : passes(__uint_as_float(bits[g]), th, p.tau)));
      // SPEC §2.3: the sink block and the current block are always kept.
      take[g] = pick[g] || (valid && (j == 0 || j == n - 1));
      forced_here += take[g] && !pick[g];
    }
    eq_seen += eq_total;
    const int total = group_prefix(take, prefix[1], rank);
#pragma unroll
    for (int g = 0; g < kCtaChunks; ++g)
      if (take[g]) out[pos + rank[g]] = (c0 + g) * kCtaThreads + t;
    pos += total;
    if (forced_here) atomicAdd(&forced, forced_here);  // (after a barrier: zeroed)
    __syncthreads();  // the buffers are free again; forced complete after the last group
  }
  if (t == 0) {
    if (p.row_counts)
      p.row_counts[row] = pos;
    else
      p.row_offsets[row + 1] = pos;
    if (p.counts) {
      atomicAdd(&p.counts[0], (unsigned long long)pos);
      atomicAdd(&p.counts[1], (unsigned long long)n);
      atomicAdd(&p.counts[2], (unsigned long long)forced);
    }
  }
}

// One warp per row: the row's selection (in place over its scores) -> block_indices.
__global__ void gate_compact_kernel(const GateSelectParams p) {
  const int64_t row = int64_t(blockIdx.x) * kSelectWarps + (threadIdx.x >> 5);
  if (row >= p.num_rows) return;
  const int32_t* src = reinterpret_cast<const int32_t*>(p.scores + row * p.row_stride);
  const int32_t b = p.row_offsets[row], e = p.row_offsets[row + 1];
  for (int i = threadIdx.x & 31; i < e - b; i += 32) p.block_indices[b + i] = src[i];
}

}  // namespace

cudaError_t run_gate_pool(const GateKStats& s, bf16* k, int64_t k_stride, bf16* q, int64_t q_stride,
                          int num_q_heads, GatePools q_pools, float* q_feat, const float* q_rope, int n, int start,
                          GateModelRope rope, GateKFeatures k_feat, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const auto misaligned = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 16 != 0; };
  if ((k_stride | q_stride) % 8 != 0 || s.head_dim % 8 != 0 || s.head_dim > 256 || ((q_feat || rope.cos) && !q) ||
      (q_rope && q_pools.count != 1) || (rope.cos && (!rope.sin || misaligned(rope.cos) || misaligned(rope.sin))))
    return cudaErrorInvalidValue;  // (the RoPE tables are read as float4 at multiples of 4 floats)
  const int touched = (start + n - 1) / s.block_size - start / s.block_size + 1;
  if (k_feat.feat && (misaligned(k_feat.feat) || k_feat.pools.count < 1 || k_feat.pools.count > 3 ||
                      k_feat.blocks < (start + n - 1) / s.block_size + 1))
    return cudaErrorInvalidValue;  // (features are written as float4)
  const int heads = s.num_kv_heads + (q_feat || rope.cos ? num_q_heads : 0);
  const unsigned ctas = unsigned((heads + kPoolHeads - 1) / kPoolHeads) * unsigned(touched);
  if (rope.cos)
    gate_pool_kernel<true><<<ctas, kPoolThreads, 0, stream>>>(s, k, k_stride, q, q_stride, heads, q_pools, q_feat,
                                                               q_rope, n, start, rope, k_feat);
  else
    gate_pool_kernel<false><<<ctas, kPoolThreads, 0, stream>>>(s, k, k_stride, q, q_stride, heads, q_pools, q_feat,
                                                                q_rope, n, start, rope, k_feat);
  return cudaGetLastError();
}

cudaError_t run_gate_k_features(const GateKStats& s, GatePools pools, int kv_len, int b0, int nblk, float* feat,
                                int head_blocks, cudaStream_t stream) {
  if (nblk <= 0) return cudaSuccess;
  if (head_blocks < nblk) return cudaErrorInvalidValue;
  gate_k_features_kernel<<<dim3(nblk, s.num_kv_heads), s.head_dim, 0, stream>>>(s, pools, kv_len, b0, head_blocks,
                                                                                feat);
  return cudaGetLastError();
}

cudaError_t run_gate_norm_rope(float* x, int heads, int n, int dg, int64_t head_stride, const float* norm_w,
                               GateRope rope, int first_block, int block_size, GateEntries out,
                               int64_t out_head_stride, cudaStream_t stream) {
  if (n <= 0 || heads <= 0) return cudaSuccess;
  if (dg > kMaxHidden || dg % 2 != 0 || (out.int8 && !out.scale)) return cudaErrorInvalidValue;
  if (!norm_w && !rope.inv_freq && !out) return cudaSuccess;
  const dim3 grid(n, (heads + kRopeHeads - 1) / kRopeHeads);
  gate_norm_rope_kernel<<<grid, max(dg, 32), 0, stream>>>(x, heads, dg, head_stride, norm_w, rope, first_block,
                                                          block_size, out, out_head_stride);
  return cudaGetLastError();
}

cudaError_t run_gate_rope_rows(float* x, int64_t rows, int dg, int n, int group, int first_block,
                               const float* block_table, cudaStream_t stream, float* out) {
  if (rows <= 0) return cudaSuccess;
  if (dg > kMaxHidden || 512 % dg != 0 || !block_table || n < 1 || group < 1 || rows >= (int64_t(1) << 31))
    return cudaErrorInvalidValue;
  if (dg % 8 == 0 && 2048 % dg == 0) {
    const int per_cta = 2048 / dg;
    gate_rope_rows_kernel<4><<<unsigned((rows + per_cta - 1) / per_cta), 256, 0, stream>>>(x, int(rows), dg, n, group,
                                                                                          first_block, block_table, out);
  } else {
    const int per_cta = 512 / dg;
    gate_rope_rows_kernel<1><<<unsigned((rows + per_cta - 1) / per_cta), 256, 0, stream>>>(x, int(rows), dg, n, group,
                                                                                          first_block, block_table, out);
  }
  return cudaGetLastError();
}

namespace {
__host__ __device__ inline int tile_band_start(int b, int rows, int t) { return min(b * t, rows - t); }
__host__ __device__ inline int tile_key_tiles(int r0, int first_q_block, int t) {
  return (first_q_block + r0 + t + t - 1) / t;
}

__global__ void gate_score_tiles_kernel(const float* q, const float* k, float* scores, int heads, int rows, int nb,
                                        int first_q_block, int dg, int t, int per_head, const float** q_tiles,
                                        const float** k_tiles, float** s_tiles) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= heads * per_head) return;
  const int h = idx / per_head;
  int e = idx % per_head, r0 = 0;
  for (int b = 0;; ++b) {
    r0 = tile_band_start(b, rows, t);
    const int kt = tile_key_tiles(r0, first_q_block, t);
    if (e < kt) break;
    e -= kt;
  }
  const int c0 = min(e * t, first_q_block + r0);
  q_tiles[idx] = q + (int64_t(h) * rows + r0) * dg;
  k_tiles[idx] = k + (int64_t(h) * nb + c0) * dg;
  s_tiles[idx] = scores + (int64_t(h) * rows + r0) * nb + c0;
}
}  // namespace

int score_tiles_per_head(int rows, int first_q_block, int t) {
  int n = 0;
  for (int b = 0; b * t < rows; ++b) n += tile_key_tiles(tile_band_start(b, rows, t), first_q_block, t);
  return n;
}

cudaError_t run_gate_score_tiles(const float* q, const float* k, float* scores, int heads, int rows, int nb,
                                 int first_q_block, int dg, int t, const float** q_tiles, const float** k_tiles,
                                 float** s_tiles, cudaStream_t stream) {
  if (t < 1 || rows < t || first_q_block + rows != nb || heads < 1) return cudaErrorInvalidValue;
  const int per_head = score_tiles_per_head(rows, first_q_block, t);
  const int total = heads * per_head;
  gate_score_tiles_kernel<<<(total + 255) / 256, 256, 0, stream>>>(q, k, scores, heads, rows, nb, first_q_block, dg,
                                                                   t, per_head, q_tiles, k_tiles, s_tiles);
  return cudaGetLastError();
}

cudaError_t run_gate_decode_step(const GateDecodeParams& p, cudaStream_t stream) {
  const int g = p.num_qo_heads / p.num_kv_heads;
  if (p.hidden > kMaxHidden || p.hidden % 4 != 0 || p.head_dim > 128 || p.k_pools.count > 3 || p.slices < 1 ||
      p.slices > kGateMaxSlices || (g * p.head_dim + p.slices - 1) / p.slices > 2048 || !p.done)
    return cudaErrorInvalidValue;
  gate_decode_project_kernel<<<dim3(p.slices, p.num_kv_heads, p.batch_size), 256, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t run_gate_fold_query(const bf16* wq, const float* bq, const float* linear_q, int q_pooling, int num_qo_heads,
                                int num_kv_heads, int head_dim, int hidden, int in, bf16* w_out, float* b_out,
                                cudaStream_t stream) {
  if (num_kv_heads < 1 || num_qo_heads % num_kv_heads != 0 || head_dim < 1 || hidden < 1 || in < 1 ||
      q_pooling < 0 || q_pooling > 2 || (q_pooling != 2 && !linear_q) || (q_pooling == 2 && hidden != head_dim) ||
      (bq && !b_out))
    return cudaErrorInvalidValue;
  const dim3 grid((in + 1 + 255) / 256, hidden, num_kv_heads);  // column `in` is the bias
  gate_fold_query_kernel<<<grid, 256, 0, stream>>>(wq, bq, linear_q, q_pooling, num_qo_heads / num_kv_heads, head_dim,
                                                   hidden, in, w_out, b_out);
  return cudaGetLastError();
}

cudaError_t run_gate_decode_scores(const GateDecodeParams& p, float* scores, int64_t row_stride, int num_blocks,
                                   cudaStream_t stream) {
  // Early: it streams the cache while the step kernel before it runs. A CTA covers 128 bf16 entries or
  // 256 int8 ones (the same bytes).
  if (p.entries.int8) {
    if (!p.entries.scale) return cudaErrorInvalidValue;
    const dim3 grid((num_blocks + 255) / 256, p.num_kv_heads, p.batch_size);
    switch (p.hidden) {
      case 64: return launch_early(gate_decode_scores_kernel<int8_t, 4, 32>, grid, 256, stream, p, scores, row_stride);
      case 128: return launch_early(gate_decode_scores_kernel<int8_t, 8, 32>, grid, 256, stream, p, scores, row_stride);
      case 256:
        return launch_early(gate_decode_scores_kernel<int8_t, 16, 32>, grid, 256, stream, p, scores, row_stride);
      default: return cudaErrorInvalidValue;
    }
  }
  const dim3 grid((num_blocks + 127) / 128, p.num_kv_heads, p.batch_size);
  switch (p.hidden) {
    case 64: return launch_early(gate_decode_scores_kernel<bf16, 8, 16>, grid, 256, stream, p, scores, row_stride);
    case 128: return launch_early(gate_decode_scores_kernel<bf16, 16, 16>, grid, 256, stream, p, scores, row_stride);
    case 256: return launch_early(gate_decode_scores_kernel<bf16, 32, 16>, grid, 256, stream, p, scores, row_stride);
    default: return cudaErrorInvalidValue;
  }
}

template <int R>
void launch_select(const GateSelectParams& p, unsigned ctas, cudaStream_t stream) {
  if (p.top_k)
    gate_select_kernel<R, true><<<ctas, kSelectWarps * 32, 0, stream>>>(p);
  else
    gate_select_kernel<R, false><<<ctas, kSelectWarps * 32, 0, stream>>>(p);
}

cudaError_t run_gate_select(const GateSelectParams& p, cudaStream_t stream) {
  if (p.num_rows <= 0) return p.row_counts ? cudaSuccess : cudaMemsetAsync(p.row_offsets, 0, sizeof(int32_t), stream);
  const int nb = p.num_blocks;  // bounds every row's length
  if (nb < 1) return cudaErrorInvalidValue;
  cudaError_t err = cudaSuccess;
  if (p.decode) {
    // Early: its CTAs are in place when the scores kernel before it completes.
    const bool regs = nb <= kCtaThreads * kCtaChunks;
    const dim3 grid(p.num_rows), block(kCtaThreads);
    if (p.top_k)  // (the any-rule instantiation would give the same lists)
      err = regs ? launch_early(gate_select_decode_kernel<true, true>, grid, block, stream, p)
                 : launch_early(gate_select_decode_kernel<false, true>, grid, block, stream, p);
    else
      err = regs ? launch_early(gate_select_decode_kernel<true, false>, grid, block, stream, p)
                 : launch_early(gate_select_decode_kernel<false, false>, grid, block, stream, p);
    if (err != cudaSuccess) return err;
  } else {
    // Fixed-stride rows are a decode form; prefill rows are whole heads.
    if (p.row_counts || p.rows_per_head < 1 || p.num_rows % p.rows_per_head != 0) return cudaErrorInvalidValue;
    const unsigned ctas = unsigned((p.num_rows + kSelectWarps - 1) / kSelectWarps);
    if (nb <= 32)
      launch_select<1>(p, ctas, stream);
    else if (nb <= 128)
      launch_select<4>(p, ctas, stream);
    else if (nb <= 512)
      launch_select<16>(p, ctas, stream);
    else if (nb <= 2048 && !p.mass)
      launch_select<64>(p, ctas, stream);
    else
      launch_select<0>(p, ctas, stream);
  }
  if ((err = cudaGetLastError()) != cudaSuccess || p.row_counts || (!p.decode && closed_form(p))) return err;
  if ((err = run_scan_row_offsets(p.row_offsets, p.num_rows, stream)) != cudaSuccess) return err;
  const unsigned ctas = unsigned((p.num_rows + kSelectWarps - 1) / kSelectWarps);
  gate_compact_kernel<<<ctas, kSelectWarps * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace seer::cuda
