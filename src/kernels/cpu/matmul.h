// y = x · Wᵀ for a weight of any storage type (f32, f16, bf16, q8_0, q4_0, q4_1).
//   x [n, cols] f32 (token-major), W [rows, cols] (row-major, quant blocks along cols), y [n, rows].
// n >= kGemmMinTokens: W is dequantised in row panels into a per-thread f32 buffer and multiplied
// with OpenBLAS sgemm (single-threaded per panel; panels run in parallel on the pool).
// Smaller n: a fused dequantise-and-dot per row, vectorised, parallel over row chunks.
#pragma once

#include <seer/model.h>

#include <cstdint>

namespace seer {

class ThreadPool;

constexpr int kGemmMinTokens = 4;

void matmul(const Weight& w, const float* x /*[n, cols]*/, float* y /*[n, rows]*/, int64_t n,
            ThreadPool& pool);

// Plain reference: double accumulation over dequantised rows.
void ref_matmul(const Weight& w, const float* x /*[n, cols]*/, float* y /*[n, rows]*/, int64_t n);

// Call once per process before using matmul from several threads.
void matmul_init();

}  // namespace seer
