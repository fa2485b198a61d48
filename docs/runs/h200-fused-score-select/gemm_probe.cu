// Probe (not part of the build): the prefill gate's two TF32 GEMM shapes at 32k (512 blocks, Hq 32, dg 128,
// features 3 x 128), as cuda_gate.cpp issues them (cublasGemmStridedBatchedEx, FAST_TF32, default algo) against
// cublasLt's heuristic candidates, each timed. Build: nvcc -O2 -arch=sm_90a gemm_probe.cu -lcublas -lcublasLt
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cstdio>
#include <vector>
#include <algorithm>
#define CK(x) do { auto e_ = (x); if (int(e_) != 0) { printf("%s:%d error %d\n", __FILE__, __LINE__, int(e_)); return 1; } } while (0)

struct Shape { const char* name; int m, n, k; bool trans_b; int batch; };

int main() {
  const Shape shapes[] = {{"score 512x512x128 (A.B^T) x32", 512, 512, 128, true, 32},
                          {"kproj 512x512x384 (A.B) x8", 512, 512, 384, false, 8},
                          {"kproj 512x128x384 (A.B) x32", 512, 128, 384, false, 32},
                          {"score 1024x1024x128 (A.B^T) x32 (64k)", 1024, 1024, 128, true, 32},
                          {"score 2048x2048x128 (A.B^T) x32 (128k)", 2048, 2048, 128, true, 32}};
  cublasHandle_t h; CK(cublasCreate(&h));
  cublasLtHandle_t lt; CK(cublasLtCreate(&lt));
  void* ws; const size_t ws_size = 32u << 20; CK(cudaMalloc(&ws, ws_size));
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  for (const Shape& s : shapes) {
    const int64_t sa = int64_t(s.m) * s.k, sb = int64_t(s.k) * s.n, sc = int64_t(s.m) * s.n;
    float *a, *b, *c;
    CK(cudaMalloc(&a, sa * s.batch * 4)); CK(cudaMalloc(&b, sb * s.batch * 4)); CK(cudaMalloc(&c, sc * s.batch * 4));
    CK(cudaMemset(a, 0, sa * s.batch * 4)); CK(cudaMemset(b, 0, sb * s.batch * 4));
    const float alpha = 1.0f, beta = 0.0f;
    const int ldb = s.trans_b ? s.k : s.n;  // row-major B: [n, k] or [k, n]
    auto time = [&](auto&& fn) {
      for (int i = 0; i < 5; ++i) fn();
      cudaEventRecord(e0);
      for (int i = 0; i < 50; ++i) fn();
      cudaEventRecord(e1); cudaEventSynchronize(e1);
      float ms; cudaEventElapsedTime(&ms, e0, e1); return ms / 50 * 1000.0f;  // us
    };
    // As cuda_gate.cpp: column-major C^T [n, m] = op(B)^T . A^T.
    const float us_blas = time([&] {
      cublasGemmStridedBatchedEx(h, s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, s.n, s.m, s.k, &alpha, b,
                                 CUDA_R_32F, ldb, sb, a, CUDA_R_32F, s.k, sa, &beta, c, CUDA_R_32F, s.n, sc, s.batch,
                                 CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT);
    });
    CK(cudaDeviceSynchronize());
    printf("%-42s cublasGemmStridedBatchedEx %8.2f us\n", s.name, us_blas);
    // cublasLt, the same column-major problem.
    cublasLtMatmulDesc_t op; CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F));
    cublasOperation_t ta = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtMatrixLayout_t la, lb, lc;  // "A" = B (rows: n or k), "B" = A^T [k, m], C^T [n, m]
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, s.trans_b ? s.k : s.n, s.trans_b ? s.n : s.k, ldb));
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, s.k, s.m, s.k));
    CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, s.n, s.m, s.n));
    for (auto [l, st] : {std::pair{la, sb}, std::pair{lb, sa}, std::pair{lc, sc}}) {
      int32_t bc = s.batch;
      CK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof(bc)));
      CK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &st, sizeof(st)));
    }
    cublasLtMatmulPreference_t pref; CK(cublasLtMatmulPreferenceCreate(&pref));
    CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size, sizeof(ws_size)));
    cublasLtMatmulHeuristicResult_t res[32]; int found = 0;
    CK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 32, res, &found));
    for (int i = 0; i < found; ++i) {
      const float us = time([&] {
        cublasLtMatmul(lt, op, &alpha, b, la, a, lb, &beta, c, lc, c, lc, &res[i].algo, ws, ws_size, 0);
      });
      const cudaError_t err = cudaDeviceSynchronize();
      printf("%-42s cublasLt heuristic #%-2d   %8.2f us  workspace %zu%s\n", s.name, i, us, res[i].workspaceSize,
             err ? " (error)" : "");
    }
    cublasLtMatmulPreferenceDestroy(pref); cublasLtMatrixLayoutDestroy(la); cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc); cublasLtMatmulDescDestroy(op);
    cudaFree(a); cudaFree(b); cudaFree(c);
  }
  return 0;
}
