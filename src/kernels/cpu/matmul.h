// y = x · Wᵀ for a weight of any storage type (f32, f16, bf16, q8_0, q4_0, q4_1).
//   x [n, cols] f32 (token-major), W [rows, cols] (row-major, quant blocks along cols), y [n, rows].
// With a PackedWeight (Q4_0 / Q4_1 / Q8_0 on AVX-512 VNNI machines; SessionOptions::int8_matmul), x is
// quantised to int8 per 32-block and multiplied with vpdpbusd over 16 interleaved rows at a time (as
// llama.cpp's Q8 activations: logits move by a few hundredths to ~2), for any n: tiles of 8 tokens share
// each unpacked block of weights, and every token's products equal a one-token call's bit for bit.
// Without one, f32: n >= kGemmMinTokens (prefill) dequantises W in row panels into a per-thread f32
// buffer and multiplies with OpenBLAS sgemm (single-threaded per panel; panels run in parallel on the
// pool); smaller n takes a fused dequantise-and-dot per row.
#pragma once

#include <seer/model.h>

#include <cstdint>
#include <vector>

#include "core/huge_pages.h"

namespace seer {

class ThreadPool;

constexpr int kGemmMinTokens = 4;

// Packed layout of a Q4_0/Q4_1/Q8_0 matrix: rows in groups of 16 (the last group zero-padded),
// interleaved so that one 64-byte load holds the same 4 quant bytes of 16 rows (one int32 lane
// per row): q [groups, num_blocks, steps, 16 rows, 4 bytes] with steps = 4 (Q4: low nibbles are
// elements 4s..4s+3, high nibbles 16+4s..) or 8 (Q8_0: elements 4s..4s+3); d, m [groups,
// num_blocks, 16] fp16 as in the blocks.
struct PackedWeight {
  DType dtype = DType::kQ4_1;
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t, HugePageAllocator<uint8_t>> q;
  std::vector<uint16_t> d, m;
};
// Fills `out` and returns true when the machine and the type have the packed int8 path.
bool pack_weight(const Weight& w, PackedWeight* out);

void matmul(const Weight& w, const float* x /*[n, cols]*/, float* y /*[n, rows]*/, int64_t n,
            ThreadPool& pool, const PackedWeight* packed = nullptr);

// Several weights of the same cols applied to one input (a layer's Q/K/V, or gate/up): y_i = x · W_iᵀ.
// With every weight packed, x is quantised once and all the weights' row groups run as one job on the
// pool, one synchronisation instead of one per weight; otherwise it is matmul() per weight. The results are
// those of matmul() bit for bit.
struct MatmulTarget {
  const Weight* w = nullptr;
  const PackedWeight* packed = nullptr;  // or null
  float* y = nullptr;                    // [n, w->rows]
};
constexpr int kMaxMatmulTargets = 8;  // count: 1 .. kMaxMatmulTargets
void matmul_shared_input(const MatmulTarget* targets, int count, const float* x /*[n, cols]*/, int64_t n,
                         ThreadPool& pool);

// Plain reference: double accumulation over dequantised rows.
void ref_matmul(const Weight& w, const float* x /*[n, cols]*/, float* y /*[n, rows]*/, int64_t n);

// Call once per process before using matmul from several threads.
void matmul_init();

}  // namespace seer
