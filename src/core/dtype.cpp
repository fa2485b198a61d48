// Scalar dtype support: names, fp16/bf16 <-> fp32 conversions and row dequantisation.
// Block layouts are in seer/dtype.h (Q4 nibbles: low = elements 0..15, high = 16..31).
// Conversions are bit-exact IEEE 754 binary16 / bfloat16 with round-to-nearest-even, including
// subnormals, infinities and NaN (NaN stays NaN with the quiet bit set, sign and payload kept,
// which is what the F16C instructions do).
// Dequantisation matches the reference (gguf-py, numpy) bit for bit whether or not the compiler
// fuses Q4_1's d*q + m into an FMA: d has 11 significant bits and q at most 8, so d*q is exact in
// fp32 and only the final addition rounds.
#include <seer/dtype.h>
#include <seer/status.h>

#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace seer {

namespace {

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kQ8_0: return "Q8_0";
    case DType::kQ4_0: return "Q4_0";
    case DType::kQ4_1: return "Q4_1";
  }
  return "?";
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) {
    if (mant == 0) return bits_f32(sign | 0x7f800000u);
    return bits_f32(sign | 0x7fc00000u | (mant << 13));  // NaN: quieted, payload kept (as F16C does)
  }
  if (exp == 0) {
    if (mant == 0) return bits_f32(sign);
    // Subnormal: m * 2^-24. Normalise so the leading one becomes the implicit bit.
    uint32_t e = 127 - 14;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      --e;
    }
    return bits_f32(sign | (e << 23) | ((mant & 0x3ff) << 13));
  }
  return bits_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  const uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) {
    if (a == 0x7f800000u) return sign | 0x7c00;
    return uint16_t(sign | 0x7e00 | ((a >> 13) & 0x3ff));  // quiet NaN, top payload bits kept
  }
  // 65520 = halfway between 65504 (max half, odd mantissa) and 65536: ties-to-even gives inf.
  if (a >= 0x477ff000u) return sign | 0x7c00;
  if (a >= 0x38800000u) {  // result is a normal half (>= 2^-14)
    const uint32_t odd = (a >> 13) & 1;
    const uint32_t r = a + 0xfffu + odd;  // a carry into the exponent is the correct rounding
    return uint16_t(sign | ((r - 0x38000000u) >> 13));
  }
  // Subnormal half (or zero): value = q * 2^-24 with q = m * 2^(e - 150 + 24).
  const uint32_t e = a >> 23;
  if (e < 102) return sign;  // below 2^-25: rounds to zero
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - e;  // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;  // q may reach 0x400: the smallest normal
  return uint16_t(sign | q);
}

uint16_t fp32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);  // quiet NaN
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1)) >> 16);  // inf stays inf, overflow -> inf
}

namespace {

void dequantize_q8_0(const BlockQ8_0* b, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 32; ++j) dst[i * 32 + j] = d * float(b[i].qs[j]);
  }
}

void dequantize_q4_0(const BlockQ4_0* b, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    float* y = dst + i * 32;
    for (int j = 0; j < 16; ++j) {
      y[j] = d * float(int(b[i].qs[j] & 0x0f) - 8);
      y[j + 16] = d * float(int(b[i].qs[j] >> 4) - 8);
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* b, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float m = fp16_to_fp32(b[i].m);
    float* y = dst + i * 32;
    for (int j = 0; j < 16; ++j) {
      y[j] = d * float(b[i].qs[j] & 0x0f) + m;
      y[j + 16] = d * float(b[i].qs[j] >> 4) + m;
    }
  }
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  SEER_ASSERT(n % dtype_block_elems(t) == 0);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      int64_t i = 0;
#if defined(__F16C__)
      // Same results as the scalar path (NaNs quieted the same way), 8 at a time.
      for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
      }
#endif
      for (; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
      return;
    }
    case DType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(s[i]);
      return;
    }
    case DType::kQ8_0:
      dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n / kQuantBlock);
      return;
    case DType::kQ4_0:
      dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n / kQuantBlock);
      return;
    case DType::kQ4_1:
      dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, n / kQuantBlock);
      return;
  }
}

}  // namespace seer
