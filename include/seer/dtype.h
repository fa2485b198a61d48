// Element types of weights and activations, and the block-quantised GGUF formats we read.
// Quantised rows are split into blocks of 32 along the row (the innermost dimension):
//   Q8_0: fp16 d, int8 q[32];            w = d*q
//   Q4_0: fp16 d, uint8 nibbles[16];     w = d*(q-8), low nibbles are elements 0..15, high 16..31
//   Q4_1: fp16 d, fp16 m, nibbles[16];   w = d*q + m, same nibble order
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace seer {

enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1 };

constexpr int kQuantBlock = 32;  // elements per quantisation block

struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;  // fp16
  uint8_t qs[16];
};
struct BlockQ4_1 {
  uint16_t d;  // fp16
  uint16_t m;  // fp16
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);

constexpr bool is_quantized(DType t) {
  return t == DType::kQ8_0 || t == DType::kQ4_0 || t == DType::kQ4_1;
}
// Elements per storage unit (1 for plain types, 32 for block types) and bytes per unit.
constexpr int dtype_block_elems(DType t) { return is_quantized(t) ? kQuantBlock : 1; }
constexpr size_t dtype_block_bytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kQ8_0: return sizeof(BlockQ8_0);
    case DType::kQ4_0: return sizeof(BlockQ4_0);
    case DType::kQ4_1: return sizeof(BlockQ4_1);
  }
  return 0;
}
// Bytes of one row of `n` elements; `n` must be a multiple of dtype_block_elems(t).
constexpr size_t dtype_row_bytes(DType t, int64_t n) {
  return size_t(n / dtype_block_elems(t)) * dtype_block_bytes(t);
}
std::string_view dtype_name(DType t);

// fp16 / bf16 <-> fp32 scalar conversions (round to nearest even).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
inline float bf16_to_fp32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
uint16_t fp32_to_bf16(float f);

// Dequantise `n` consecutive elements (n a multiple of the block size for block types)
// starting at `src` (which points at the start of a block / element) into fp32 `dst`.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

}  // namespace seer
