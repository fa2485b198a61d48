// Quantisation-aware matrix multiply; see matmul.h.
#include "kernels/cpu/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

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
