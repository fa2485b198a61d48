// Session 15: the gate's TF32 GEMMs (cuda_gate.cpp gemm(): cublasGemmStridedBatchedEx, the K-only gate's key
// projection and score shapes at 32k and 128k tokens, Llama-3.1-8B heads) against every algorithm cublasLt's
// heuristic offers for the same call. Build: nvcc -O2 -o probe probe.cu -lcublasLt -lcublas
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#define CK(x) do { auto e_ = (x); if (int(e_) != 0) { std::printf("%s:%d %s -> %d\n", __FILE__, __LINE__, #x, int(e_)); std::exit(1); } } while (0)

struct Shape { const char* name; int m, n, k; bool trans_b; int batch; int64_t lda, sa, ldb, sb, ldc, sc; };

template <class F> float time_ms(F f) {
  for (int i = 0; i < 5; ++i) f();
  cudaEvent_t a, b;
  cudaEventCreate(&a); cudaEventCreate(&b);
  std::vector<float> t;
  for (int r = 0; r < 21; ++r) {
    cudaEventRecord(a);
    for (int i = 0; i < 10; ++i) f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms; cudaEventElapsedTime(&ms, a, b); t.push_back(ms / 10);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main() {
  const int Hq = 32, Hkv = 8, g = 4, dg = 128, kin = 384;
  std::vector<Shape> shapes;
  for (int T : {32768, 131072}) {
    const int nb = T / 64;
    shapes.push_back({T == 32768 ? "kproj 32k" : "kproj 128k", nb, g * dg, kin, false, Hkv, kin, int64_t(nb) * kin,
                      g * dg, int64_t(kin) * g * dg, g * dg, int64_t(nb) * g * dg});
    const int bands = nb >= 1024 ? 2 : 1;
    for (int b = 0; b < bands; ++b) {
      const int r0 = nb * b / bands, r1 = nb * (b + 1) / bands;
      shapes.push_back({T == 32768 ? "score 32k" : (b ? "score 128k band 2" : "score 128k band 1"), r1 - r0, r1, dg,
                        true, Hq, dg, int64_t(nb) * dg, dg, int64_t(nb) * dg, nb, int64_t(nb) * nb});
    }
  }
  cublasHandle_t blas; CK(cublasCreate(&blas));
  cublasLtHandle_t lt; CK(cublasLtCreate(&lt));
  size_t ws_size = 64u << 20; void* ws; CK(cudaMalloc(&ws, ws_size));
  float *A, *B, *C;
  CK(cudaMalloc(&A, size_t(64) << 20)); CK(cudaMalloc(&B, size_t(64) << 20)); CK(cudaMalloc(&C, size_t(512) << 20));
  CK(cudaMemset(A, 0, size_t(64) << 20)); CK(cudaMemset(B, 0, size_t(64) << 20));
  const float alpha = 1.0f, beta = 0.0f;
  for (const Shape& s : shapes) {
    // Column-major view, as gemm(): C^T [n, m] = op(B)^T [n, k] . A^T [k, m].
    auto base = [&] {
      cublasGemmStridedBatchedEx(blas, s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, s.n, s.m, s.k, &alpha, B,
                                 CUDA_R_32F, int(s.ldb), s.sb, A, CUDA_R_32F, int(s.lda), s.sa, &beta, C, CUDA_R_32F,
                                 int(s.ldc), s.sc, s.batch, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT);
    };
    const float tb = time_ms(base);
    CK(cudaGetLastError());
    std::printf("%-18s m %5d n %5d k %4d batch %2d  cublasGemmStridedBatchedEx TF32: %7.2f us\n", s.name, s.m, s.n, s.k,
                s.batch, tb * 1000);
    for (cublasComputeType_t ct : {CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F_FAST_16BF}) {
      cublasLtMatmulDesc_t op; CK(cublasLtMatmulDescCreate(&op, ct, CUDA_R_32F));
      cublasOperation_t ta = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, tn = CUBLAS_OP_N;
      CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
      CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tn, sizeof tn));
      cublasLtMatrixLayout_t la, lb, lc;  // la: the first operand (our B), lb: our A
      CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, s.trans_b ? s.k : s.n, s.trans_b ? s.n : s.k, s.ldb));
      CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, s.k, s.m, s.lda));
      CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, s.n, s.m, s.ldc));
      int batch = s.batch;
      for (auto [l, st] : {std::pair{la, s.sb}, std::pair{lb, s.sa}, std::pair{lc, s.sc}}) {
        CK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
        CK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &st, sizeof st));
      }
      cublasLtMatmulPreference_t pref; CK(cublasLtMatmulPreferenceCreate(&pref));
      CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size, sizeof ws_size));
      cublasLtMatmulHeuristicResult_t res[24]; int found = 0;
      CK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 24, res, &found));
      float best = 1e9; int best_i = -1;
      for (int i = 0; i < found; ++i) {
        auto run = [&] { cublasLtMatmul(lt, op, &alpha, B, la, A, lb, &beta, C, lc, C, lc, &res[i].algo, ws, ws_size, 0); };
        const float t = time_ms(run);
        if (cudaGetLastError() != cudaSuccess) continue;
        int id = 0, tile = 0, stages = 0, splitk = 0; size_t w = 0;
        cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, &w);
        cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, &w);
        cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof stages, &w);
        cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof splitk, &w);
        std::printf("    lt %s #%2d: %7.2f us (algo %d tile %d stages %d splitk %d ws %zu)\n",
                    ct == CUBLAS_COMPUTE_32F_FAST_TF32 ? "tf32" : "bf16x", i, t * 1000, id, tile, stages, splitk,
                    res[i].workspaceSize);
        if (t < best) best = t, best_i = i;
      }
      std::printf("  best lt %s: #%d %.2f us of %d\n", ct == CUBLAS_COMPUTE_32F_FAST_TF32 ? "tf32" : "bf16x", best_i,
                  best * 1000, found);
      cublasLtMatmulPreferenceDestroy(pref);
      cublasLtMatrixLayoutDestroy(la); cublasLtMatrixLayoutDestroy(lb); cublasLtMatrixLayoutDestroy(lc);
      cublasLtMatmulDescDestroy(op);
    }
  }
  return 0;
}
