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
// Decode path for quantised weights: the activation row is quantised to int8 per 32-block
// (x ≈ dx·qx, as llama.cpp's Q8_0/Q8_1), and each pair of weight blocks is multiplied with one
// vpdpbusd (u8 × s8 → s32, 64 products). Lanes 0-7 hold block A's partial sums, lanes 8-15 block B's.
//   Q4_1: Σ w·x = d·dx·Σ q·qx + m·dx·Σ qx
//   Q4_0: Σ w·x = d·dx·Σ (q-8)·qx = d·dx·(Σ q·qx − 8·Σ qx)
//   Q8_0: Σ w·x = d·dx·Σ q·qx, computed as Σ (q+128)·qx − 128·Σ qx (vpdpbusd needs u8 on one side)
struct QuantizedRow {
  std::vector<int8_t> q;   // [cols]
  std::vector<float> d;    // [cols/32] dx
  std::vector<int32_t> s;  // [cols/32] Σ qx
};

void quantize_row_q8(const float* x, int64_t cols, QuantizedRow* out) {
  const int64_t nb = cols / kQuantBlock;
  out->q.resize(size_t(cols));
  out->d.resize(size_t(nb));
  out->s.resize(size_t(nb));
  for (int64_t k = 0; k < nb; ++k) {
    float amax = 0.0f;
    for (int i = 0; i < kQuantBlock; ++i) amax = std::max(amax, std::fabs(x[k * 32 + i]));
    const float dx = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < kQuantBlock; ++i) {
      const int v = int(std::nearbyint(x[k * 32 + i] * inv));
      out->q[size_t(k * 32 + i)] = int8_t(v);
      sum += v;
    }
    out->d[size_t(k)] = dx;
    out->s[size_t(k)] = sum;
  }
}

// [lo nibbles of A | hi nibbles of A | lo of B | hi of B] as 64 unsigned bytes
inline __m512i unpack_nibble_pair(const uint8_t* qa, const uint8_t* qb) {
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)qa)),
                                            _mm_loadu_si128((const __m128i*)qb), 1);
  const __m256i m = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);  // [loA loB hiA hiB]
  return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));               // [loA hiA loB hiB]
}

inline __m512 pair_scale(float a, float b) {
  return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

float dot_row_q8(DType t, const uint8_t* w, const QuantizedRow& x, int64_t cols) {
  const int64_t nb = cols / kQuantBlock;
  __m512 acc = _mm512_setzero_ps();
  float scalar = 0.0f;
  int64_t k = 0;
  for (; k + 2 <= nb; k += 2) {
    const __m512i xq = _mm512_loadu_si512(x.q.data() + k * 32);
    const float dxa = x.d[size_t(k)], dxb = x.d[size_t(k + 1)];
    __m512i isum;
    float da, db;
    if (t == DType::kQ4_1 || t == DType::kQ4_0) {
      const uint8_t* qa;
      const uint8_t* qb;
      if (t == DType::kQ4_1) {
        const BlockQ4_1* b = reinterpret_cast<const BlockQ4_1*>(w) + k;
        qa = b[0].qs, qb = b[1].qs;
        da = simd::half_to_float(b[0].d), db = simd::half_to_float(b[1].d);
        scalar += simd::half_to_float(b[0].m) * dxa * float(x.s[size_t(k)]) +
                  simd::half_to_float(b[1].m) * dxb * float(x.s[size_t(k + 1)]);
      } else {
        const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(w) + k;
        qa = b[0].qs, qb = b[1].qs;
        da = simd::half_to_float(b[0].d), db = simd::half_to_float(b[1].d);
        scalar -= 8.0f * (da * dxa * float(x.s[size_t(k)]) + db * dxb * float(x.s[size_t(k + 1)]));
      }
      isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), unpack_nibble_pair(qa, qb), xq);
    } else {  // Q8_0
      const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(w) + k;
      const __m512i wq = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)b[0].qs)),
                                            _mm256_loadu_si256((const __m256i*)b[1].qs), 1);
      const __m512i wu = _mm512_xor_si512(wq, _mm512_set1_epi8(char(0x80)));  // q + 128 as u8
      isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wu, xq);
      da = simd::half_to_float(b[0].d), db = simd::half_to_float(b[1].d);
      scalar -= 128.0f * (da * dxa * float(x.s[size_t(k)]) + db * dxb * float(x.s[size_t(k + 1)]));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), pair_scale(da * dxa, db * dxb), acc);
  }
  float total = _mm512_reduce_add_ps(acc) + scalar;
  for (; k < nb; ++k) {  // odd block count: one block the plain way
    std::vector<float> wf(kQuantBlock);
    dequantize_row(t, w + size_t(k) * dtype_block_bytes(t), wf.data(), kQuantBlock);
    for (int i = 0; i < kQuantBlock; ++i) total += wf[size_t(i)] * x.d[size_t(k)] * float(x.q[size_t(k * 32 + i)]);
  }
  return total;
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

void matmul(const Weight& w, const float* x, float* y, int64_t n, ThreadPool& pool) {
  const int64_t rows = w.rows, cols = w.cols;
#ifdef SEER_MATMUL_VNNI
  if (n < kGemmMinTokens && is_quantized(w.dtype)) {
    std::vector<QuantizedRow> xq(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) quantize_row_q8(x + t * cols, cols, &xq[size_t(t)]);
    const int64_t chunk = 16;
    pool.parallel_for((rows + chunk - 1) / chunk, [&](int64_t c, int) {
      const int64_t r1 = std::min(rows, (c + 1) * chunk);
      for (int64_t r = c * chunk; r < r1; ++r)
        for (int64_t t = 0; t < n; ++t) y[t * rows + r] = dot_row_q8(w.dtype, w.row(r), xq[size_t(t)], cols);
    });
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
  // Panels of weight rows: small enough that both threads get work on small matrices.
  int64_t panel = 128;
  while (panel > 16 && (rows + panel - 1) / panel < 4 * pool.size()) panel /= 2;
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
