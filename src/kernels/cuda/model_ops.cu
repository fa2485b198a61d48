// Elementwise and row-wise GPU ops of the transformer forward; see model_ops.cuh. Memory-bound and
// simple: one CTA per row for the norms, grid-stride loops elsewhere.
#include "kernels/cuda/model_ops.cuh"

#include <cstdint>

namespace seer::cuda {

namespace {

constexpr int kThreads = 256;

int grid_for(int64_t n) {
  const int64_t g = (n + kThreads - 1) / kThreads;
  return int(g < 65535 * 16 ? (g > 0 ? g : 1) : 65535 * 16);
}

__global__ void embed_kernel(const __nv_bfloat16* __restrict__ emb, const int32_t* __restrict__ tokens,
                             float* __restrict__ x, int64_t n, int dim) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * dim; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / dim, c = i % dim;
    x[i] = __bfloat162float(emb[int64_t(tokens[t]) * dim + c]);
  }
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// One CTA per row: sum of squares in fp32 (warp shuffles, then shared memory), then scale.
template <typename In>
__global__ void rmsnorm_kernel(const In* __restrict__ in, const float* __restrict__ w, __nv_bfloat16* y, int dim,
                               float eps) {
  const int64_t row = blockIdx.x;
  const In* r = in + row * dim;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = to_float(r[i]);
    ss += v * v;
  }
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  __shared__ float warp_sums[kThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < int(blockDim.x / 32); ++i) total += warp_sums[i];
  const float scale = rsqrtf(total / float(dim) + eps);
  // Every thread has read its inputs before any writes (in == y is allowed): the sync above.
  for (int i = threadIdx.x; i < dim; i += blockDim.x) y[row * dim + i] = __float2bfloat16(to_float(r[i]) * scale * w[i]);
}

__global__ void add_bias_kernel(__nv_bfloat16* y, const float* __restrict__ b, int64_t n, int dim) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * dim; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(__bfloat162float(y[i]) + b[i % dim]);
}

// One thread per rotated pair (token, head, i < head_dim/2).
__global__ void rope_kernel(__nv_bfloat16* x, const float* __restrict__ cos_t, const float* __restrict__ sin_t,
                            int64_t n, int num_heads, int head_dim) {
  const int half = head_dim / 2;
  const int64_t pairs = n * num_heads * half;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < pairs; p += int64_t(gridDim.x) * blockDim.x) {
    const int i = int(p % half);
    const int64_t th = p / half;  // token * num_heads + head
    const int64_t t = th / num_heads;
    __nv_bfloat16* v = x + th * head_dim;
    const float c = cos_t[t * half + i], s = sin_t[t * half + i];
    const float a = __bfloat162float(v[i]), b = __bfloat162float(v[i + half]);
    v[i] = __float2bfloat16(detail::rope_lo(a, b, c, s));
    v[i + half] = __float2bfloat16(detail::rope_hi(a, b, c, s));
  }
}

// head_dim % 16 == 0: one thread per eight pairs (i .. i+7 with i + half ..), 16-byte loads and
// stores.
__global__ void rope8_kernel(__nv_bfloat16* x, const float* __restrict__ cos_t,
                             const float* __restrict__ sin_t, int64_t n, int num_heads,
                             int head_dim) {
  const int half = head_dim / 2, groups = half / 8;
  const int64_t items = n * num_heads * groups;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < items;
       p += int64_t(gridDim.x) * blockDim.x) {
    const int i = int(p % groups) * 8;
    const int64_t th = p / groups;  // token * num_heads + head
    const int64_t t = th / num_heads;
    __nv_bfloat16* v = x + th * head_dim + i;
    const uint4 ra = *reinterpret_cast<const uint4*>(v),
                rb = *reinterpret_cast<const uint4*>(v + half);
    const float4* cs = reinterpret_cast<const float4*>(cos_t + t * half + i);
    const float4* sn = reinterpret_cast<const float4*>(sin_t + t * half + i);
    const float4 c4[2] = {cs[0], cs[1]}, s4[2] = {sn[0], sn[1]};
    const float c[8] = {c4[0].x, c4[0].y, c4[0].z, c4[0].w, c4[1].x, c4[1].y, c4[1].z, c4[1].w};
    const float s[8] = {s4[0].x, s4[0].y, s4[0].z, s4[0].w, s4[1].x, s4[1].y, s4[1].z, s4[1].w};
    const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(&ra);
    const __nv_bfloat162* b2 = reinterpret_cast<const __nv_bfloat162*>(&rb);
    uint4 wa, wb;
    __nv_bfloat162* oa = reinterpret_cast<__nv_bfloat162*>(&wa);
    __nv_bfloat162* ob = reinterpret_cast<__nv_bfloat162*>(&wb);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 a = __bfloat1622float2(a2[e]), b = __bfloat1622float2(b2[e]);
      oa[e] = __floats2bfloat162_rn(detail::rope_lo(a.x, b.x, c[2 * e], s[2 * e]),
                                    detail::rope_lo(a.y, b.y, c[2 * e + 1], s[2 * e + 1]));
      ob[e] = __floats2bfloat162_rn(detail::rope_hi(a.x, b.x, c[2 * e], s[2 * e]),
                                    detail::rope_hi(a.y, b.y, c[2 * e + 1], s[2 * e + 1]));
    }
    *reinterpret_cast<uint4*>(v) = wa;
    *reinterpret_cast<uint4*>(v + half) = wb;
  }
}

// One thread per 16-byte chunk (8 values) of a (token, head) row, K and V both.
__global__ void kv_append_kernel(const uint4* __restrict__ k, const uint4* __restrict__ v, uint4* k_cache,
                                 uint4* v_cache, int64_t n, int num_kv_heads, int chunks, int max_context, int start,
                                 const int32_t* __restrict__ kv_len) {
  if (kv_len) start = *kv_len - int(n);
  const int64_t total = n * num_kv_heads * chunks;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % chunks);
    const int64_t th = i / chunks;  // token * num_kv_heads + head
    const int h = int(th % num_kv_heads);
    const int64_t t = th / num_kv_heads;
    const int64_t dst = (int64_t(h) * max_context + start + t) * chunks + c;
    k_cache[dst] = k[i];
    v_cache[dst] = v[i];
  }
}

// silu(g) * u of bf16 g and u, rounded to bf16 (run_silu_mul and run_gemv_swiglu share its bits).
__device__ __forceinline__ __nv_bfloat16 silu_mul(__nv_bfloat16 g, __nv_bfloat16 u) {
  const float a = __bfloat162float(g);
  return __float2bfloat16(a / (1.0f + __expf(-a)) * __bfloat162float(u));
}

__global__ void silu_mul_kernel(__nv_bfloat16* g, const __nv_bfloat16* __restrict__ u, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    g[i] = silu_mul(g[i], u[i]);
}

// splitmix64 of (seed, index) -> uniform [-scale, scale)
__device__ __forceinline__ float hash_uniform(uint64_t seed, uint64_t i, float scale) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale;
}

template <typename T>
__global__ void fill_uniform_kernel(T* x, int64_t n, float scale, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = hash_uniform(seed, uint64_t(i), scale);
    if constexpr (sizeof(T) == 2)
      x[i] = __float2bfloat16(v);
    else
      x[i] = v;
  }
}

// grid = the parts' CTAs in order (part q from first_cta[q]), 256 threads: warp w of a CTA of part q
// computes row o = 8 (b - first_cta[q]) + w of that part for every token. Lane l takes the row's
// 16-byte chunks l, l + 32, .. (four loads in flight), each against the same chunk of every token's x
// (L1-resident); the lanes' sums meet by shuffles. kSwiGlu: the warp also computes the row of w_up
// and stores silu_mul of g and u rounded to bf16, as silu_mul_kernel does.
template <int N, bool kAdd, bool kSwiGlu>
__global__ void __launch_bounds__(256) gemv_kernel(const GemvParams p) {
  constexpr int kUnroll = 4, M = kSwiGlu ? 2 : 1;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, b = int(blockIdx.x);
  const int q = (p.parts > 1 && b >= p.first_cta[1]) + (p.parts > 2 && b >= p.first_cta[2]) +
                (p.parts > 3 && b >= p.first_cta[3]);
  // (selected, not indexed: an indexed parameter array would be copied to local memory)
  const auto pick = [q](auto a0, auto a1, auto a2, auto a3) { return q == 0 ? a0 : q == 1 ? a1 : q == 2 ? a2 : a3; };
  const int out = pick(p.out[0], p.out[1], p.out[2], p.out[3]);
  const int o = (b - pick(p.first_cta[0], p.first_cta[1], p.first_cta[2], p.first_cta[3])) * 8 + warp;
  if (o >= out) return;
  void* const y = pick(p.y[0], p.y[1], p.y[2], p.y[3]);
  const int chunks = p.in / 8;
  const uint4* wr[M];
  wr[0] = reinterpret_cast<const uint4*>(pick(p.w[0], p.w[1], p.w[2], p.w[3]) + int64_t(o) * p.in);
  if constexpr (kSwiGlu) wr[M - 1] = reinterpret_cast<const uint4*>(p.w_up + int64_t(o) * p.in);
  const uint4* xr = reinterpret_cast<const uint4*>(p.x);
  float acc[M][N];
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int t = 0; t < N; ++t) acc[m][t] = 0.0f;
  for (int c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
    uint4 wv[M][kUnroll];
#pragma unroll
    for (int m = 0; m < M; ++m)
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + 32 * u;
        wv[m][u] = c < chunks ? __ldcs(wr[m] + c) : make_uint4(0u, 0u, 0u, 0u);  // weights: read once, streamed
      }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + 32 * u;
      if (c >= chunks) break;
#pragma unroll
      for (int t = 0; t < N; ++t) {
        const uint4 xv = __ldg(xr + int64_t(t) * chunks + c);
        const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xv);
#pragma unroll
        for (int m = 0; m < M; ++m) {
          const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&wv[m][u]);
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float2 a = __bfloat1622float2(w2[e]), v = __bfloat1622float2(x2[e]);
            acc[m][t] = fmaf(a.x, v.x, acc[m][t]);
            acc[m][t] = fmaf(a.y, v.y, acc[m][t]);
          }
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int t = 0; t < N; ++t)
      for (int off = 16; off > 0; off >>= 1) acc[m][t] += __shfl_xor_sync(0xffffffffu, acc[m][t], off);
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const int64_t at = int64_t(t) * out + o;
      if constexpr (kAdd) {
        static_cast<float*>(y)[at] += acc[0][t];
      } else if constexpr (kSwiGlu) {
        static_cast<__nv_bfloat16*>(y)[at] = silu_mul(__float2bfloat16(acc[0][t]), __float2bfloat16(acc[M - 1][t]));
      } else {
        static_cast<__nv_bfloat16*>(y)[at] = __float2bfloat16(acc[0][t]);
      }
    }
  }
}

template <bool kAdd, bool kSwiGlu>
cudaError_t launch_gemv(GemvParams p, cudaStream_t stream) {
  const auto misaligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 != 0; };
  if (p.n < 0 || p.n > kGemvMaxTokens || p.parts < 1 || p.parts > kGemvMaxParts || p.in <= 0 || p.in % 8 != 0 ||
      misaligned(p.x) || (kSwiGlu && (p.parts != 1 || misaligned(p.w_up))))
    return cudaErrorInvalidValue;
  int ctas = 0;
  for (int q = 0; q < p.parts; ++q) {
    if (p.out[q] < 0 || misaligned(p.w[q])) return cudaErrorInvalidValue;
    p.first_cta[q] = ctas;
    ctas += (p.out[q] + 7) / 8;
  }
  if (p.n == 0 || ctas == 0) return cudaSuccess;
  switch (p.n) {
    case 1: gemv_kernel<1, kAdd, kSwiGlu><<<ctas, 256, 0, stream>>>(p); break;
    case 2: gemv_kernel<2, kAdd, kSwiGlu><<<ctas, 256, 0, stream>>>(p); break;
    case 3: gemv_kernel<3, kAdd, kSwiGlu><<<ctas, 256, 0, stream>>>(p); break;
    default: gemv_kernel<4, kAdd, kSwiGlu><<<ctas, 256, 0, stream>>>(p); break;
  }
  return cudaGetLastError();
}

GemvParams one_part(const __nv_bfloat16* w, const __nv_bfloat16* x, void* y, int64_t n, int out, int in) {
  GemvParams p;
  p.x = x;
  p.n = n;
  p.in = in;
  p.parts = 1;
  p.w[0] = w;
  p.y[0] = y;
  p.out[0] = out;
  return p;
}

}  // namespace

cudaError_t run_gemv(const __nv_bfloat16* w, const __nv_bfloat16* x, __nv_bfloat16* y, int64_t n, int out, int in,
                     cudaStream_t stream) {
  return launch_gemv<false, false>(one_part(w, x, y, n, out, in), stream);
}

cudaError_t run_gemv_add(const __nv_bfloat16* w, const __nv_bfloat16* x, float* y, int64_t n, int out, int in,
                         cudaStream_t stream) {
  return launch_gemv<true, false>(one_part(w, x, y, n, out, in), stream);
}

cudaError_t run_gemv_parts(const GemvParams& p, cudaStream_t stream) { return launch_gemv<false, false>(p, stream); }

cudaError_t run_gemv_swiglu(const __nv_bfloat16* w_gate, const __nv_bfloat16* w_up, const __nv_bfloat16* x,
                            __nv_bfloat16* y, int64_t n, int out, int in, cudaStream_t stream) {
  GemvParams p = one_part(w_gate, x, y, n, out, in);
  p.w_up = w_up;
  return launch_gemv<false, true>(p, stream);
}

cudaError_t run_embed(const __nv_bfloat16* emb, const int32_t* tokens, float* x, int64_t n, int dim,
                      cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  embed_kernel<<<grid_for(n * dim), kThreads, 0, stream>>>(emb, tokens, x, n, dim);
  return cudaGetLastError();
}

cudaError_t run_rmsnorm(const float* in, const float* w, __nv_bfloat16* y, int64_t n, int dim, float eps,
                        cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  rmsnorm_kernel<float><<<unsigned(n), kThreads, 0, stream>>>(in, w, y, dim, eps);
  return cudaGetLastError();
}

cudaError_t run_rmsnorm(const __nv_bfloat16* in, const float* w, __nv_bfloat16* y, int64_t n, int dim, float eps,
                        cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  rmsnorm_kernel<__nv_bfloat16><<<unsigned(n), kThreads, 0, stream>>>(in, w, y, dim, eps);
  return cudaGetLastError();
}

cudaError_t run_add_bias(__nv_bfloat16* y, const float* bias, int64_t n, int dim, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  add_bias_kernel<<<grid_for(n * dim), kThreads, 0, stream>>>(y, bias, n, dim);
  return cudaGetLastError();
}

cudaError_t run_rope(__nv_bfloat16* x, const float* cos_t, const float* sin_t, int64_t n, int num_heads,
                     int head_dim, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (head_dim % 16 == 0)
    rope8_kernel<<<grid_for(n * num_heads * (head_dim / 16)), kThreads, 0, stream>>>(
        x, cos_t, sin_t, n, num_heads, head_dim);
  else
    rope_kernel<<<grid_for(n * num_heads * (head_dim / 2)), kThreads, 0, stream>>>(
        x, cos_t, sin_t, n, num_heads, head_dim);
  return cudaGetLastError();
}

cudaError_t run_kv_append(const __nv_bfloat16* k, const __nv_bfloat16* v, __nv_bfloat16* k_cache,
                          __nv_bfloat16* v_cache, int64_t n, int num_kv_heads, int head_dim, int max_context,
                          int start, const int32_t* kv_len, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (head_dim % 8 != 0) return cudaErrorInvalidValue;
  const int chunks = head_dim / 8;
  kv_append_kernel<<<grid_for(n * num_kv_heads * chunks), kThreads, 0, stream>>>(
      reinterpret_cast<const uint4*>(k), reinterpret_cast<const uint4*>(v), reinterpret_cast<uint4*>(k_cache),
      reinterpret_cast<uint4*>(v_cache), n, num_kv_heads, chunks, max_context, start, kv_len);
  return cudaGetLastError();
}

cudaError_t run_silu_mul(__nv_bfloat16* g, const __nv_bfloat16* u, int64_t n, int dim, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  silu_mul_kernel<<<grid_for(n * dim), kThreads, 0, stream>>>(g, u, n * dim);
  return cudaGetLastError();
}

cudaError_t run_fill_uniform(__nv_bfloat16* x, int64_t n, float scale, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_uniform_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, n, scale, seed);
  return cudaGetLastError();
}

cudaError_t run_fill_uniform(float* x, int64_t n, float scale, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_uniform_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, n, scale, seed);
  return cudaGetLastError();
}

}  // namespace seer::cuda
