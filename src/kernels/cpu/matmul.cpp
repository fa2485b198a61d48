// Quantisation-aware matrix multiply; see matmul.h.
#include "kernels/cpu/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

#include <cmath>
#include <immintrin.h>

namespace seer {

using namespace simd;

void matmul_init() {
  static std::once_flag once;
  // Our pool owns the parallelism; every sgemm call runs on the thread that makes it.
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

namespace {

// Dot products of one weight row with one activation row. `xsum` holds the per-32-block sums of x
// (used by Q4_1, whose zero point m multiplies the sum of x over the block).
float dot_row(DType t, const uint8_t* w, const float* x, const float* xsum, int64_t cols) {
  const int64_t nb = cols / kQuantBlock;
  f32x16 acc = splat(0.0f);
  float scalar = 0.0f;
  switch (t) {
    case DType::kF32: {
      const float* wf = reinterpret_cast<const float*>(w);
      int64_t i = 0;
      for (; i + kLanes <= cols; i += kLanes) acc += load(wf + i) * load(x + i);
      for (; i < cols; ++i) scalar += wf[i] * x[i];
      break;
    }
    case DType::kF16:
    case DType::kBF16: {
      const uint16_t* wh = reinterpret_cast<const uint16_t*>(w);
      for (int64_t i = 0; i < cols; ++i)
        scalar += (t == DType::kF16 ? half_to_float(wh[i]) : bf16_to_fp32(wh[i])) * x[i];
      break;
    }
    case DType::kQ8_0: {
      const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(w);
      for (int64_t k = 0; k < nb; ++k) {
        i8x16 q0, q1;
        std::memcpy(&q0, b[k].qs, 16);
        std::memcpy(&q1, b[k].qs + 16, 16);
        f32x16 s = i8_to_f32(q0) * load(x + 32 * k) + i8_to_f32(q1) * load(x + 32 * k + 16);
        acc += s * half_to_float(b[k].d);
      }
      break;
    }
    case DType::kQ4_0: {
      const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(w);
      for (int64_t k = 0; k < nb; ++k) {
        u8x16 q;
        std::memcpy(&q, b[k].qs, 16);
        f32x16 s = u8_to_f32(q & 15) * load(x + 32 * k) + u8_to_f32(q >> 4) * load(x + 32 * k + 16);
        float d = half_to_float(b[k].d);
        acc += s * d;
        scalar -= 8.0f * d * xsum[k];
      }
      break;
    }
    case DType::kQ4_1: {
      const BlockQ4_1* b = reinterpret_cast<const BlockQ4_1*>(w);
      for (int64_t k = 0; k < nb; ++k) {
        u8x16 q;
        std::memcpy(&q, b[k].qs, 16);
        f32x16 s = u8_to_f32(q & 15) * load(x + 32 * k) + u8_to_f32(q >> 4) * load(x + 32 * k + 16);
        acc += s * half_to_float(b[k].d);
        scalar += half_to_float(b[k].m) * xsum[k];
      }
      break;
    }
  }
  return hsum(acc) + scalar;
}


#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define SEER_MATMUL_VNNI 1
#endif

#ifdef SEER_MATMUL_VNNI
// Activation row quantised to int8 per 32-block, x ≈ dx·qx (as llama.cpp's Q8_1).
struct QuantizedRow {
  std::vector<int8_t> q;  // [cols]
  std::vector<float> d;   // [cols/32] dx
  std::vector<float> sd;  // [cols/32] dx · Σ qx (multiplies Q4_1's m, and the u8 offsets)
};

void quantize_row_q8(const float* x, int64_t cols, QuantizedRow* out) {
  const int64_t nb = cols / kQuantBlock;
  out->q.resize(size_t(cols));
  out->d.resize(size_t(nb));
  out->sd.resize(size_t(nb));
  for (int64_t k = 0; k < nb; ++k) {
    const __m512 x0 = _mm512_loadu_ps(x + k * 32), x1 = _mm512_loadu_ps(x + k * 32 + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float dx = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    // Round to nearest even under the default MXCSR, as std::nearbyint does.
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, _mm512_set1_ps(inv)));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, _mm512_set1_ps(inv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out->q.data() + k * 32), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out->q.data() + k * 32 + 16), _mm512_cvtepi32_epi8(q1));
    const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    out->d[size_t(k)] = dx;
    out->sd[size_t(k)] = dx * float(sum);
  }
}

// y[g*16 .. g*16+15] for T tokens (x[0 .. T-1], acc[t] for token t): the 16 rows of a packed group sit in the
// 16 lanes, so every vpdpbusd does 64 useful multiply-adds and no horizontal sum is needed.
//   Q4_1: Σ w·x = d·dx·Σ q·qx + m·(dx·Σ qx)
//   Q4_0: Σ w·x = d·dx·Σ q·qx − 8·d·(dx·Σ qx)            (q stored as 0..15)
//   Q8_0: Σ w·x = d·dx·Σ (q+128)·qx − 128·d·(dx·Σ qx)    (vpdpbusd wants u8 weights)
// The group's weights are unpacked once per block for all T tokens; a token's operations do not depend on T,
// so its sums are the same bit for bit in a tile of 8 as alone (a decode step), and a prompt's products do
// not depend on how it is split into calls.
template <DType kType, int T>
void packed_group_dot_tokens(const PackedWeight& w, int64_t g, const QuantizedRow* x, __m512* acc) {
  constexpr int kSteps = kType == DType::kQ8_0 ? 8 : 4;
  const int64_t nb = w.cols / kQuantBlock;
  const uint8_t* q = w.q.data() + size_t(g * nb) * kSteps * 64;
  const uint16_t* d = w.d.data() + size_t(g * nb) * 16;
  const uint16_t* m = kType == DType::kQ4_1 ? w.m.data() + size_t(g * nb) * 16 : nullptr;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < nb; ++k, q += kSteps * 64, d += 16) {
    __m512i wv[8];  // wv[e] multiplies the activations' dword k * 8 + e
    if constexpr (kType == DType::kQ8_0) {
      const __m512i flip = _mm512_set1_epi8(char(0x80));
      for (int s = 0; s < 8; ++s) wv[s] = _mm512_xor_si512(_mm512_loadu_si512(q + s * 64), flip);
    } else {
      for (int s = 0; s < 4; ++s) {
        const __m512i v = _mm512_loadu_si512(q + s * 64);
        wv[s] = _mm512_and_si512(v, low4);
        wv[4 + s] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
    }
    const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d)));
    __m512 mv = _mm512_setzero_ps();
    if constexpr (kType == DType::kQ4_1) {
      mv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(m)));
      m += 16;
    }
    for (int t = 0; t < T; ++t) {
      const int32_t* xq = reinterpret_cast<const int32_t*>(x[t].q.data()) + k * 8;
      __m512i isum = _mm512_setzero_si512();
      if constexpr (kType == DType::kQ8_0) {
        for (int s = 0; s < 8; ++s) isum = _mm512_dpbusd_epi32(isum, wv[s], _mm512_set1_epi32(xq[s]));
      } else {
        for (int s = 0; s < 4; ++s) {
          isum = _mm512_dpbusd_epi32(isum, wv[s], _mm512_set1_epi32(xq[s]));
          isum = _mm512_dpbusd_epi32(isum, wv[4 + s], _mm512_set1_epi32(xq[4 + s]));
        }
      }
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(x[t].d[size_t(k)])), dv, acc[t]);
      const float sd = x[t].sd[size_t(k)];
      if constexpr (kType == DType::kQ4_1)
        acc[t] = _mm512_fmadd_ps(mv, _mm512_set1_ps(sd), acc[t]);
      else if constexpr (kType == DType::kQ4_0)
        acc[t] = _mm512_fmadd_ps(dv, _mm512_set1_ps(-8.0f * sd), acc[t]);
      else
        acc[t] = _mm512_fmadd_ps(dv, _mm512_set1_ps(-128.0f * sd), acc[t]);
    }
  }
}

constexpr int kTokenTile = 8;        // tokens per pass over a group's weights (packed_group_dot_tokens)
constexpr int64_t kTokenChunk = 256;  // tokens per work item: their quantised rows stay in L2 for every group

// packed_group_dot_tokens for the weight's type.
template <int T>
void group_dot(const PackedWeight& w, int64_t g, const QuantizedRow* x, __m512* acc) {
  switch (w.dtype) {
    case DType::kQ4_1: packed_group_dot_tokens<DType::kQ4_1, T>(w, g, x, acc); break;
    case DType::kQ4_0: packed_group_dot_tokens<DType::kQ4_0, T>(w, g, x, acc); break;
    default: packed_group_dot_tokens<DType::kQ8_0, T>(w, g, x, acc); break;
  }
}

// Rows [g*16, g*16+16) of y for tokens [t0, t1): tiles of kTokenTile tokens, then one token at a time.
void packed_group_rows(const PackedWeight& w, int64_t g, const QuantizedRow* x, int64_t t0, int64_t t1, float* y) {
  const int64_t r0 = g * 16;
  const __mmask16 valid = __mmask16((1u << std::min<int64_t>(16, w.rows - r0)) - 1);
  int64_t t = t0;
  for (; t + kTokenTile <= t1; t += kTokenTile) {
    __m512 acc[kTokenTile];
    group_dot<kTokenTile>(w, g, x + t, acc);
    for (int u = 0; u < kTokenTile; ++u) _mm512_mask_storeu_ps(y + (t + u) * w.rows + r0, valid, acc[u]);
  }
  for (; t < t1; ++t) {
    __m512 acc;
    group_dot<1>(w, g, x + t, &acc);
    _mm512_mask_storeu_ps(y + t * w.rows + r0, valid, acc);
  }
}

// y_i = x · W_iᵀ for every target (all packed, same cols), for any number of tokens: x quantised once
// (on the pool for long prompts), then items of (a chunk of kTokenChunk tokens, a run of row groups over
// all targets) on the pool. count: 1 .. kMaxMatmulTargets (matmul_shared_input checks it).
void packed_matmuls(const MatmulTarget* targets, int count, const float* x, int64_t n, ThreadPool& pool) {
  const int64_t cols = targets[0].packed->cols;
  thread_local std::vector<QuantizedRow> xq;  // the caller's; workers use it through xr
  if (xq.size() < size_t(n)) xq.resize(size_t(n));
  QuantizedRow* xr = xq.data();
  if (n >= kTokenChunk) {
    pool.parallel_for((n + kTokenChunk - 1) / kTokenChunk, [&](int64_t c, int) {
      for (int64_t t = c * kTokenChunk; t < std::min(n, (c + 1) * kTokenChunk); ++t)
        quantize_row_q8(x + t * cols, cols, &xr[t]);
    });
  } else {
    for (int64_t t = 0; t < n; ++t) quantize_row_q8(x + t * cols, cols, &xr[t]);
  }
  int64_t first[kMaxMatmulTargets + 1] = {0};  // first[i]: target i's first group in the job; first[count]: all
  for (int i = 0; i < count; ++i) first[i + 1] = first[i] + (targets[i].packed->rows + 15) / 16;
  const int64_t groups = first[count];
  // Two runs of groups per thread and chunk: each item claimed costs a cache line moved between the cores
  // (~0.1 us), about what a group of 16 rows takes for one token, so fine items cost more than the
  // imbalance of coarse ones saves.
  const int64_t per_task = std::max<int64_t>(1, groups / (2 * pool.size()));
  const int64_t runs = (groups + per_task - 1) / per_task, chunks = (n + kTokenChunk - 1) / kTokenChunk;
  pool.parallel_for(chunks * runs, [&](int64_t item, int) {
    const int64_t t0 = item / runs * kTokenChunk, t1 = std::min(n, t0 + kTokenChunk);
    const int64_t g0 = item % runs * per_task, g1 = std::min(groups, g0 + per_task);
    int i = 0;
    for (int64_t gg = g0; gg < g1; ++gg) {
      while (gg >= first[i + 1]) ++i;
      packed_group_rows(*targets[i].packed, gg - first[i], xr, t0, t1, targets[i].y);
    }
  });
}
#endif


void block_sums(const float* x, int64_t cols, float* xsum) {
  for (int64_t k = 0; k < cols / kQuantBlock; ++k) {
    float s = 0.0f;
    for (int i = 0; i < kQuantBlock; ++i) s += x[k * kQuantBlock + i];
    xsum[k] = s;
  }
}

}  // namespace

constexpr int64_t kLongPrompt = 128;        // tokens from which a matmul takes one panel per thread
constexpr int64_t kPanelFloats = 1 << 20;   // the largest panel of dequantised weight rows

void matmul(const Weight& w, const float* x, float* y, int64_t n, ThreadPool& pool, const PackedWeight* packed) {
  const int64_t rows = w.rows, cols = w.cols;
#ifdef SEER_MATMUL_VNNI
  if (packed) {
    const MatmulTarget one{&w, packed, y};
    packed_matmuls(&one, 1, x, n, pool);
    return;
  }
#endif
  if (n < kGemmMinTokens) {
    std::vector<float> xsum(size_t(n * std::max<int64_t>(1, cols / kQuantBlock)));
    if (is_quantized(w.dtype))
      for (int64_t t = 0; t < n; ++t) block_sums(x + t * cols, cols, xsum.data() + t * (cols / kQuantBlock));
    const int64_t chunk = 16;
    const int64_t num_chunks = (rows + chunk - 1) / chunk;
    pool.parallel_for(num_chunks, [&](int64_t c, int) {
      const int64_t r1 = std::min(rows, (c + 1) * chunk);
      for (int64_t r = c * chunk; r < r1; ++r)
        for (int64_t t = 0; t < n; ++t)
          y[t * rows + r] = dot_row(w.dtype, w.row(r), x + t * cols,
                                    xsum.data() + t * (cols / kQuantBlock), cols);
    });
    return;
  }
  // Panels of weight rows. sgemm packs x anew for every panel, so a long prompt takes one panel per thread
  // (at most 4 MB of dequantised rows each): with panels of 128 rows, packing x was an eighth of a 512-token
  // prefill. Few tokens take panels small enough that both threads get work on small matrices.
  int64_t panel = 128;
  if (n >= kLongPrompt) {
    const int64_t per_thread = (rows + pool.size() - 1) / pool.size();
    panel = std::max<int64_t>(16, std::min((per_thread + 15) / 16 * 16, kPanelFloats / cols / 16 * 16));
  } else {
    while (panel > 16 && (rows + panel - 1) / panel < 4 * pool.size()) panel /= 2;
  }
  const int64_t num_panels = (rows + panel - 1) / panel;
  pool.parallel_for(num_panels, [&](int64_t p, int) {
    const int64_t r0 = p * panel, nr = std::min(rows, r0 + panel) - r0;
    const float* wp;
    thread_local std::vector<float> buf;
    if (w.dtype == DType::kF32) {
      wp = w.f32() + r0 * cols;
    } else {
      buf.resize(size_t(panel * cols));
      for (int64_t r = 0; r < nr; ++r) dequantize_row(w.dtype, w.row(r0 + r), buf.data() + r * cols, cols);
      wp = buf.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(nr), int(cols), 1.0f, x, int(cols), wp,
                int(cols), 0.0f, y + r0, int(rows));
  });
}

bool pack_weight(const Weight& w, PackedWeight* out) {
#ifdef SEER_MATMUL_VNNI
  if (w.dtype != DType::kQ4_0 && w.dtype != DType::kQ4_1 && w.dtype != DType::kQ8_0) return false;
  const int steps = w.dtype == DType::kQ8_0 ? 8 : 4;
  const int64_t nb = w.cols / kQuantBlock, groups = (w.rows + 15) / 16;
  out->dtype = w.dtype;
  out->rows = w.rows;
  out->cols = w.cols;
  out->q.assign(size_t(groups * nb) * steps * 64, 0);
  out->d.assign(size_t(groups * nb) * 16, 0);
  out->m.assign(w.dtype == DType::kQ4_1 ? size_t(groups * nb) * 16 : 0, 0);
  for (int64_t r = 0; r < w.rows; ++r) {
    const int64_t g = r / 16, lane = r % 16;
    const uint8_t* row = w.row(r);
    for (int64_t k = 0; k < nb; ++k) {
      const size_t gk = size_t(g * nb + k);
      const uint8_t* qs;
      uint16_t d, m = 0;
      if (w.dtype == DType::kQ4_1) {
        const auto* b = reinterpret_cast<const BlockQ4_1*>(row) + k;
        qs = b->qs, d = b->d, m = b->m;
      } else if (w.dtype == DType::kQ4_0) {
        const auto* b = reinterpret_cast<const BlockQ4_0*>(row) + k;
        qs = b->qs, d = b->d;
      } else {
        const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + k;
        qs = reinterpret_cast<const uint8_t*>(b->qs), d = b->d;
      }
      for (int s = 0; s < steps; ++s) std::memcpy(&out->q[(gk * steps + size_t(s)) * 64 + size_t(lane) * 4], qs + 4 * s, 4);
      out->d[gk * 16 + size_t(lane)] = d;
      if (!out->m.empty()) out->m[gk * 16 + size_t(lane)] = m;
    }
  }
  return true;
#else
  return false;
#endif
}

void matmul_shared_input(const MatmulTarget* targets, int count, const float* x, int64_t n, ThreadPool& pool) {
  SEER_ASSERT(count >= 1 && count <= kMaxMatmulTargets);
#ifdef SEER_MATMUL_VNNI
  bool fused = true;
  for (int i = 0; i < count && fused; ++i)
    fused = targets[i].packed && targets[i].packed->cols == targets[0].packed->cols;
  if (fused) {
    packed_matmuls(targets, count, x, n, pool);
    return;
  }
#endif
  for (int i = 0; i < count; ++i) matmul(*targets[i].w, x, targets[i].y, n, pool, targets[i].packed);
}

void ref_matmul(const Weight& w, const float* x, float* y, int64_t n) {
  std::vector<float> row(size_t(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w.dtype, w.row(r), row.data(), w.cols);
    for (int64_t t = 0; t < n; ++t) {
      double s = 0.0;
      for (int64_t i = 0; i < w.cols; ++i) s += double(row[i]) * x[t * w.cols + i];
      y[t * w.rows + r] = float(s);
    }
  }
}

}  // namespace seer
