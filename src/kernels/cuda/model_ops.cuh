// Elementwise and row-wise GPU ops of the transformer forward (the CUDA twins of
// src/kernels/cpu/ops.h). Activations are token-major; the residual stream is fp32, everything a
// GEMM reads is bf16. Each op returns the launch's cudaError_t; src/model/cuda_forward.cpp checks it.
//
// Layouts:
//   emb      [vocab, dim] bf16         tokens [n] int32 (on the GPU)
//   x        [n, dim] fp32             (residual stream)
//   rows     [n, dim] bf16 or fp32     (rmsnorm input; per-head norms use n = tokens * heads, dim = head_dim)
//   w, bias  [dim] fp32
//   q, k     [n, heads, head_dim] bf16 (RoPE in place, pairs (i, i + head_dim/2))
//   cos, sin [n, head_dim/2] fp32      (seer::rope_tables, attention scaling included)
#pragma once

#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace seer::cuda {

// x[t, :] = emb[tokens[t], :]
cudaError_t run_embed(const __nv_bfloat16* emb, const int32_t* tokens, float* x, int64_t n, int dim,
                      cudaStream_t stream);

// y[t, :] = in[t, :] * rsqrt(mean(in[t, :]^2) + eps) * w, fp32 statistics. In place allowed.
cudaError_t run_rmsnorm(const float* in, const float* w, __nv_bfloat16* y, int64_t n, int dim, float eps,
                        cudaStream_t stream);
cudaError_t run_rmsnorm(const __nv_bfloat16* in, const float* w, __nv_bfloat16* y, int64_t n, int dim,
                        float eps, cudaStream_t stream);

// y[t, :] += bias
cudaError_t run_add_bias(__nv_bfloat16* y, const float* bias, int64_t n, int dim, cudaStream_t stream);

// Rotates every head of every token in place.
cudaError_t run_rope(__nv_bfloat16* x, const float* cos_t, const float* sin_t, int64_t n, int num_heads,
                     int head_dim, cudaStream_t stream);

// k, v [n, num_kv_heads, head_dim] -> k_cache, v_cache [num_kv_heads, max_context, head_dim] at
// positions start .. start+n-1 (one launch for both, 16-byte copies; head_dim a multiple of 8). With
// kv_len (on the GPU, the sequence length after these tokens), start = *kv_len - n, read by the kernel:
// a captured decode step then writes where each replay's token goes.
cudaError_t run_kv_append(const __nv_bfloat16* k, const __nv_bfloat16* v, __nv_bfloat16* k_cache,
                          __nv_bfloat16* v_cache, int64_t n, int num_kv_heads, int head_dim, int max_context,
                          int start, const int32_t* kv_len, cudaStream_t stream);

// g = silu(g) * u, [n, dim] bf16 (fp32 arithmetic)
cudaError_t run_silu_mul(__nv_bfloat16* g, const __nv_bfloat16* u, int64_t n, int dim, cudaStream_t stream);

// Matrix-vector products for a few tokens (decode): y[t, o] = sum_i w[o, i] * x[t, i] for t < n,
// o < out; w [out, in] bf16 (a weight in the layout cuBLAS reads transposed), x [n, in] bf16, fp32
// sums; y [n, out] bf16 (stored), or fp32 and added to (the residual stream, the logits). A warp per
// output row, 16-byte loads, four per lane in flight. n <= kGemvMaxTokens, in a multiple of 8, w and x
// 16-byte aligned. (cublasGemmEx at n = 1 costs the host ~16 us a call on the H200 machine, 7 calls a
// layer: decode was bound by it; this launch costs a few.)
constexpr int kGemvMaxTokens = 4, kGemvMaxParts = 4;
cudaError_t run_gemv(const __nv_bfloat16* w, const __nv_bfloat16* x, __nv_bfloat16* y, int64_t n, int out, int in,
                     cudaStream_t stream);
cudaError_t run_gemv_add(const __nv_bfloat16* w, const __nv_bfloat16* x, float* y, int64_t n, int out, int in,
                         cudaStream_t stream);

// Several products of the same x in one launch (decode's q, k and v): part q < parts is w[q]
// [out[q], in] -> y[q] [n, out[q]] bf16, exactly as run_gemv would compute it. (first_cta is the
// launch's; the caller leaves it.)
struct GemvParams {
  const __nv_bfloat16* x = nullptr;
  int64_t n = 0;
  int in = 0;
  int parts = 0;
  const __nv_bfloat16* w[kGemvMaxParts] = {};
  void* y[kGemvMaxParts] = {};
  int out[kGemvMaxParts] = {};
  int first_cta[kGemvMaxParts] = {};
  const __nv_bfloat16* w_up = nullptr;  // run_gemv_swiglu's second weight
};
cudaError_t run_gemv_parts(const GemvParams& p, cudaStream_t stream);

// The SwiGLU of a few tokens in one launch: y[t, o] = silu(g) * u with g = w_gate[o, :] . x[t, :] and
// u = w_up[o, :] . x[t, :] each rounded to bf16 first: the bits of run_gemv twice, then run_silu_mul.
cudaError_t run_gemv_swiglu(const __nv_bfloat16* w_gate, const __nv_bfloat16* w_up, const __nv_bfloat16* x,
                            __nv_bfloat16* y, int64_t n, int out, int in, cudaStream_t stream);

// Fills x[0..n) with uniform values in [-scale, scale) from a counter hash of (seed, index): random
// weights for benchmarks and tests, reproducible and independent of the launch shape.
cudaError_t run_fill_uniform(__nv_bfloat16* x, int64_t n, float scale, uint64_t seed, cudaStream_t stream);
cudaError_t run_fill_uniform(float* x, int64_t n, float scale, uint64_t seed, cudaStream_t stream);

}  // namespace seer::cuda
