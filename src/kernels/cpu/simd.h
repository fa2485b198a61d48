// Portable 16-wide float vectors (GCC vector extensions): one zmm on AVX-512, two ymm on AVX2.
// Loads and stores are unaligned. exp2 is a polynomial good to ~2 ulp over the range we use
// (softmax arguments <= 0); arguments below -126 give exactly 0 so masked scores vanish.
#pragma once

#include <cstdint>
#include <cstring>
#ifdef __AVX512F__
// GCC 12's AVX-512 headers give full-mask conversions (_mm512_cvtph_ps, _mm512_cvtepi32_ps) an
// _mm512_undefined_ps() source that is never read; -Wmaybe-uninitialized reports it inside the header
// wherever they are inlined. The warning is off for the header's own lines only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace seer::simd {

using f32x16 = float __attribute__((vector_size(64)));
using i32x16 = int32_t __attribute__((vector_size(64)));
constexpr int kLanes = 16;

inline f32x16 load(const float* p) {
  f32x16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, f32x16 v) { std::memcpy(p, &v, sizeof(v)); }
// 16 bf16 values (the high halves of fp32) -> 16 floats.
inline f32x16 load_bf16(const uint16_t* p) {
#ifdef __AVX512F__
  // One vpmovzxwd + vpslld (GCC splits the generic conversion into two halves). The maskz forms
  // avoid GCC 12's -Wmaybe-uninitialized false positive on the unmasked intrinsics.
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m512i w = _mm512_maskz_slli_epi32(__mmask16(0xFFFF), _mm512_maskz_cvtepu16_epi32(__mmask16(0xFFFF), h), 16);
  return f32x16(_mm512_castsi512_ps(w));
#else
  using u16x16 = uint16_t __attribute__((vector_size(32)));
  u16x16 h;
  std::memcpy(&h, p, sizeof(h));
  i32x16 w = __builtin_convertvector(h, i32x16) << 16;
  f32x16 f;
  std::memcpy(&f, &w, sizeof(f));
  return f;
#endif
}
inline f32x16 splat(float s) { return f32x16{} + s; }
inline float hsum(f32x16 v) {
  float s = 0.f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}
inline float hmax(f32x16 v) {
  float s = v[0];
  for (int i = 1; i < kLanes; ++i) s = v[i] > s ? v[i] : s;
  return s;
}
inline f32x16 vmax(f32x16 a, f32x16 b) { return a > b ? a : b; }

// 2^x for x <= ~127; returns 0 for x < -126 (including -inf).
inline f32x16 exp2(f32x16 x) {
  const f32x16 lo = splat(-126.0f);
  i32x16 dead = x < lo;
  x = x < lo ? lo : x;
  i32x16 n = __builtin_convertvector(x, i32x16);  // trunc toward zero
  f32x16 fn = __builtin_convertvector(n, f32x16);
  n += (i32x16)(fn > x);  // -1 where trunc rounded up: now n = floor(x)
  fn = __builtin_convertvector(n, f32x16);
  f32x16 f = x - fn;
  // minimax-style polynomial for 2^f on [0, 1)
  f32x16 p = splat(1.8775767e-3f);
  p = p * f + 8.9893397e-3f;
  p = p * f + 5.5826318e-2f;
  p = p * f + 2.4015361e-1f;
  p = p * f + 6.9315308e-1f;
  p = p * f + 9.9999994e-1f;
  i32x16 bits;
  std::memcpy(&bits, &p, sizeof(bits));
  bits += n << 23;
  f32x16 r;
  std::memcpy(&r, &bits, sizeof(r));
  return dead ? splat(0.0f) : r;
}

}  // namespace seer::simd

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace seer::simd {

using u8x16 = uint8_t __attribute__((vector_size(16)));
using i8x16 = int8_t __attribute__((vector_size(16)));

inline float half_to_float(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  // scalar fallback (normal, subnormal, inf/nan)
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) { man <<= 1; --exp; }
      bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}

// 16 bytes -> 16 floats
inline f32x16 u8_to_f32(u8x16 v) {
  return __builtin_convertvector(__builtin_convertvector(v, i32x16), f32x16);
}
inline f32x16 i8_to_f32(i8x16 v) {
  return __builtin_convertvector(__builtin_convertvector(v, i32x16), f32x16);
}

}  // namespace seer::simd
