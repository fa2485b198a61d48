// Elementwise and row-wise CPU ops of the transformer forward. All activations are f32 and
// token-major: x[t * dim + i].
#pragma once

#include <seer/model.h>

#include <cstdint>
#include <vector>

namespace seer {

class ThreadPool;

// y[t, :] = x[t, :] * rsqrt(mean(x[t, :]^2) + eps) * w   (in place allowed)
void rmsnorm(const float* x /*[n, dim]*/, const float* w /*[dim]*/, float* y /*[n, dim]*/, int64_t n,
             int dim, float eps);

// RoPE tables for a run of positions: cos/sin [n, head_dim/2], including any attention scaling
// factor (yarn). inv_freq [head_dim/2] comes from rope_inv_freq().
std::vector<float> rope_inv_freq(const ModelConfig& c, float* attention_scale);
void rope_tables(const std::vector<float>& inv_freq, float attention_scale, const int* positions,
                 int64_t n, float* cos_out /*[n, head_dim/2]*/, float* sin_out);
// Rotates pairs (i, i + head_dim/2) ("rotate_half") of every head of every token in place.
void rope_apply(float* x /*[n, num_heads, head_dim]*/, int64_t n, int num_heads, int head_dim,
                const float* cos_t /*[n, head_dim/2]*/, const float* sin_t);

// g[t, i] = silu(g[t, i]) * u[t, i]
void silu_mul(float* g /*[n, dim]*/, const float* u /*[n, dim]*/, int64_t n, int dim);

// y[t, :] = dequantised row tokens[t] of the embedding matrix
void embed_rows(const Weight& emb /*[vocab, hidden]*/, const int* tokens, int64_t n,
                float* y /*[n, hidden]*/);

// y[t, :] += b  (bias add)
void add_bias(float* y /*[n, dim]*/, const float* b /*[dim]*/, int64_t n, int dim);

}  // namespace seer
