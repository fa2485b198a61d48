// Shared device pieces of the CUDA kernels: the dtype tag and
// the sm_80 tensor-core primitives (ldmatrix, mma.sync m16n8k16, cp.async) used by the attention
// kernels. Written for sm_80 and newer; everything here also runs on sm_90 (H100).
// No seer/status.h here: nvcc's front end rejects fmt's consteval format strings, so Status is
// built only in host .cpp files (check.h); .cu files return cudaError_t to them.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace seer::cuda {

enum class DType { kBF16, kF16 };

inline const char* dtype_name(DType t) { return t == DType::kBF16 ? "bf16" : "fp16"; }

}  // namespace seer::cuda

#ifdef __CUDACC__
namespace seer::cuda::detail {

// RoPE of one rotate-half pair (a, b) = (x[i], x[i + d/2]) by an angle with cosine c and sine s:
// (a c - b s, b c + a s), every product and sum rounded on its own (no FMA contraction), so that
// every kernel applying the model's RoPE (model_ops.cu, the gates' pooling pass) gives the same bits.
__device__ __forceinline__ float rope_lo(float a, float b, float c, float s) {
  return __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
}
__device__ __forceinline__ float rope_hi(float a, float b, float c, float s) {
  return __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}

template <typename T>
struct MmaType;
template <>
struct MmaType<__nv_bfloat16> {
  using Pair = __nv_bfloat162;
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ void to_float2(uint32_t x, float& lo, float& hi) {
    __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162*>(&x);
    float2 f = __bfloat1622float2(v);
    lo = f.x;
    hi = f.y;
  }
};
template <>
struct MmaType<__half> {
  using Pair = __half2;
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ void to_float2(uint32_t x, float& lo, float& hi) {
    __half2 v = *reinterpret_cast<__half2*>(&x);
    float2 f = __half22float2(v);
    lo = f.x;
    hi = f.y;
  }
};

// D = A·B + D for a 16x8x16 tile; A row-major (4 regs), B column-major (2 regs), D fp32 (4 regs).
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                          uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// 16-byte global→shared copy; src_bytes == 0 zero-fills the destination (rows past kv_len must
// read as zeros, not as whatever the cache holds: 0·NaN would poison the P·V product).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Tiles in shared memory are [rows][kHeadDim] of 16-bit elements, stored in 16-byte chunks whose
// chunk index is XOR-swizzled with (row & 7): the 8 row addresses of one ldmatrix phase then fall
// in 8 different bank groups, with no padding.
template <int kHeadDim>
__device__ __forceinline__ int swizzle(int row, int col) {
  const int chunk = (col >> 3) ^ (row & 7);
  return row * kHeadDim + (chunk << 3) + (col & 7);
}

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Online softmax for one warp's two rows per thread (accumulator layout of warp_scores): s holds
// masked scores already in the log2 domain and becomes the probabilities; the running max m, the
// per-thread partial sum l (reduced over the quad by the caller at the end) and the output o are
// rescaled. A row with no visible key so far keeps m = -inf; subtracting 0 then avoids inf - inf.
template <int kHeadDim, int kBlockN>
__device__ __forceinline__ void warp_online_softmax(float (&s)[kBlockN / 8][4], float (&m)[2], float (&l)[2],
                                                    float (&o)[kHeadDim / 8][4]) {
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    float mx = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
    mx = quad_max(mx);
    const float m_new = fmaxf(m[i], mx);
    const float m_use = m_new == -INFINITY ? 0.0f : m_new;
    const float alpha = fast_exp2(m[i] - m_use);
    m[i] = m_new;
    float sum = 0.0f;
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
      s[nt][2 * i] = fast_exp2(s[nt][2 * i] - m_use);
      s[nt][2 * i + 1] = fast_exp2(s[nt][2 * i + 1] - m_use);
      sum += s[nt][2 * i] + s[nt][2 * i + 1];
    }
    l[i] = l[i] * alpha + sum;
#pragma unroll
    for (int dt = 0; dt < kHeadDim / 8; ++dt) {
      o[dt][2 * i] *= alpha;
      o[dt][2 * i + 1] *= alpha;
    }
  }
}

// S = Q·Kᵀ for one warp: its 16 query rows (A fragments `qf`, one per 16 channels) against the
// kBlockN keys of a swizzled [kBlockN][kHeadDim] shared-memory tile. s[n8][...] is the m16n8
// accumulator of keys n8*8 .. n8*8+7, zeroed here.
template <typename T, int kHeadDim, int kBlockN>
__device__ __forceinline__ void warp_scores(float (&s)[kBlockN / 8][4], const uint32_t (&qf)[kHeadDim / 16][4],
                                            const T* k_tile, int lane) {
#pragma unroll
  for (int i = 0; i < kBlockN / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < kHeadDim / 16; ++kk) {
#pragma unroll
    for (int np = 0; np < kBlockN / 16; ++np) {
      uint32_t b[4];
      ldmatrix_x4(b, smem_addr(k_tile + swizzle<kHeadDim>(np * 16 + (lane & 7) + (lane >> 4) * 8,
                                                          kk * 16 + ((lane >> 3) & 1) * 8)));
      mma_16816<T>(s[2 * np], qf[kk], b[0], b[1]);
      mma_16816<T>(s[2 * np + 1], qf[kk], b[2], b[3]);
    }
  }
}

// O += P·V for one warp: P is the softmax tile in the accumulator layout of warp_scores (converted
// to T as A fragments), V a swizzled [kBlockN][kHeadDim] shared-memory tile read transposed.
template <typename T, int kHeadDim, int kBlockN>
__device__ __forceinline__ void warp_pv(float (&o)[kHeadDim / 8][4], const float (&p)[kBlockN / 8][4],
                                        const T* v_tile, int lane) {
#pragma unroll
  for (int kk = 0; kk < kBlockN / 16; ++kk) {
    const uint32_t a[4] = {MmaType<T>::pack(p[2 * kk][0], p[2 * kk][1]), MmaType<T>::pack(p[2 * kk][2], p[2 * kk][3]),
                           MmaType<T>::pack(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                           MmaType<T>::pack(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int dp = 0; dp < kHeadDim / 16; ++dp) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, smem_addr(v_tile + swizzle<kHeadDim>(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                                                dp * 16 + (lane >> 4) * 8)));
      mma_16816<T>(o[2 * dp], a, b[0], b[1]);
      mma_16816<T>(o[2 * dp + 1], a, b[2], b[3]);
    }
  }
}

}  // namespace seer::cuda::detail
#endif
