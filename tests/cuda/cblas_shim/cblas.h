// Minimal stand-in for a CBLAS header, used only by tests/cuda/CMakeLists.txt (the standalone GPU
// check build) when the GPU machine has no BLAS: plain loops for the calls the CPU gate reference
// (src/seer/gates.cpp) makes, row-major only. Slow, and only there to give the GPU gate tests their
// CPU reference.
#pragma once

#include <cstdlib>

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };

inline void openblas_set_num_threads(int) {}

// C[m, n] = alpha * op(A)[m, k] · op(B)[k, n] + beta * C (row-major).
inline void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
                        const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (order != CblasRowMajor) std::abort();
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int p = 0; p < k; ++p) {
        const float av = ta == CblasNoTrans ? a[i * lda + p] : a[p * lda + i];
        const float bv = tb == CblasNoTrans ? b[p * ldb + j] : b[j * ldb + p];
        acc += av * bv;
      }
      c[i * ldc + j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
    }
}

// y = alpha * op(A) · x + beta * y (row-major A [m, n]).
inline void cblas_sgemv(CBLAS_ORDER order, CBLAS_TRANSPOSE t, int m, int n, float alpha, const float* a, int lda,
                        const float* x, int incx, float beta, float* y, int incy) {
  if (order != CblasRowMajor) std::abort();
  const int rows = t == CblasNoTrans ? m : n, cols = t == CblasNoTrans ? n : m;
  for (int i = 0; i < rows; ++i) {
    float acc = 0.0f;
    for (int j = 0; j < cols; ++j) acc += (t == CblasNoTrans ? a[i * lda + j] : a[j * lda + i]) * x[j * incx];
    y[i * incy] = alpha * acc + (beta == 0.0f ? 0.0f : beta * y[i * incy]);
  }
}
