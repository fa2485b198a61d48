// matmul vs ref_matmul for every weight type, on random blocks with random fp16 scales: the f32 paths
// (fused quantised dot for few tokens, dequantise + sgemm for many; 130 tokens take the long-prompt panels
// of one per thread) and, for Q4_0 / Q4_1 / Q8_0 on AVX-512 VNNI machines, the packed int8-activation path
// at every token count. The packed path gives every token the products of a one-token call bit for bit.
// Outputs are poisoned first.
#include "kernels/cpu/matmul.h"

#include <cstring>
#include <random>

#include "core/thread_pool.h"
#include "test_util.h"

namespace seer {
namespace {

std::vector<uint8_t> random_weight(DType t, int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> bytes(dtype_row_bytes(t, cols) * size_t(rows));
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t n = rows * cols;
  switch (t) {
    case DType::kF32:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<float*>(bytes.data())[i] = u(rng);
      break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<uint16_t*>(bytes.data())[i] = fp32_to_fp16(u(rng));
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<uint16_t*>(bytes.data())[i] = fp32_to_bf16(u(rng));
      break;
    default: {
      // Random bytes everywhere, then sane fp16 scales/mins at the head of each block.
      for (auto& b : bytes) b = uint8_t(rng());
      const size_t bb = dtype_block_bytes(t);
      for (size_t off = 0; off < bytes.size(); off += bb) {
        uint16_t d = fp32_to_fp16(0.01f + 0.05f * (u(rng) + 1.0f));
        std::memcpy(bytes.data() + off, &d, 2);
        if (t == DType::kQ4_1) {
          uint16_t m = fp32_to_fp16(0.2f * u(rng));
          std::memcpy(bytes.data() + off + 2, &m, 2);
        }
      }
    }
  }
  return bytes;
}

// A weight of `bytes` (which must outlive it).
Weight weight_of(DType t, int64_t rows, int64_t cols, const std::vector<uint8_t>& bytes) {
  Weight w;
  w.dtype = t;
  w.rows = rows;
  w.cols = cols;
  w.data = bytes.data();
  return w;
}

// The packed path (pack_weight() true on AVX-512 VNNI machines; rows 1, 37, 130, 300 leave a partial group
// of 16; 17, 70 and 130 tokens take tiles of 8 and single tokens) multiplies quantised weights with int8 activations
// (per-32-block scale amax/127, round to nearest). Rounding x through that grid first makes the
// kernel's re-quantisation exact, so the comparison with the double reference measures only the
// kernel's arithmetic.
void round_through_q8(std::vector<float>& x) {
  for (size_t k = 0; k + 32 <= x.size(); k += 32) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[k + i]));
    const float d = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int i = 0; i < 32; ++i) x[k + i] = d * std::nearbyint(x[k + i] * inv);
  }
}

TEST(Matmul, AllTypesAllPaths) {
  ThreadPool pool(2);
  matmul_init();
  uint64_t seed = 1;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1}) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 32}, {37, 96}, {300, 576}, {130, 1536}}) {
      auto wb = random_weight(t, rows, cols, seed++);
      const Weight w = weight_of(t, rows, cols, wb);
      PackedWeight pw;
      const bool packable = pack_weight(w, &pw);
      for (int64_t n : {1, 2, 3, 4, 17, 70, 130})
        for (bool packed : {false, true}) {
          if (packed && !packable) continue;
          SCOPED_TRACE(testing::Message() << dtype_name(t) << " rows " << rows << " cols " << cols << " n " << n
                                          << (packed ? " packed" : " f32"));
          auto x = test::random_vector(size_t(n * cols), seed++);
          if (packed) round_through_q8(x);
          std::vector<float> y(size_t(n * rows)), ref(size_t(n * rows));
          test::poison(y);
          matmul(w, x.data(), y.data(), n, pool, packed ? &pw : nullptr);
          ref_matmul(w, x.data(), ref.data(), n);
          // fp32 accumulation error vs double: bounded by a few ulp of sum |w x| ~ cols * max|w|.
          std::string why;
          double scale = 0;
          for (float r : ref) scale = std::max(scale, double(std::fabs(r)));
          EXPECT_LE(test::max_abs_diff(y.data(), ref.data(), y.size(), &why), 2e-5 * double(cols) * 0.5 + 1e-6 * scale)
              << why;
        }
    }
  }
}

// matmul_shared_input equals one matmul per weight, bit for bit: decode and prompt token counts (the fused
// job of packed weights of mixed types, rows leaving partial groups; 300 tokens span two chunks of the
// packed job); with one weight unpacked it falls back to matmul per weight.
TEST(Matmul, SharedInputEqualsOneCallPerWeight) {
  ThreadPool pool(2);
  matmul_init();
  const int64_t cols = 576;
  const std::pair<DType, int64_t> shapes[] = {{DType::kQ4_1, 300}, {DType::kQ4_0, 37}, {DType::kQ8_0, 130},
                                              {DType::kF16, 20}};
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<Weight> ws;
  std::vector<PackedWeight> packed(4);
  uint64_t seed = 500;
  for (auto [t, rows] : shapes) {
    bytes.push_back(random_weight(t, rows, cols, seed++));
    ws.push_back(weight_of(t, rows, cols, bytes.back()));
  }
  for (int count : {1, 3, 4})
    for (int64_t n : {1, 2, 3, 9, 300}) {
      SCOPED_TRACE(testing::Message() << count << " weights, n " << n);
      auto x = test::random_vector(size_t(n * cols), seed++);
      std::vector<MatmulTarget> targets;
      std::vector<std::vector<float>> fused(static_cast<size_t>(count)), each(static_cast<size_t>(count));
      for (int i = 0; i < count; ++i) {
        const bool has = pack_weight(ws[size_t(i)], &packed[size_t(i)]);
        fused[size_t(i)].resize(size_t(n * ws[size_t(i)].rows));
        each[size_t(i)].resize(fused[size_t(i)].size());
        test::poison(fused[size_t(i)]);
        test::poison(each[size_t(i)]);
        targets.push_back({&ws[size_t(i)], has ? &packed[size_t(i)] : nullptr, fused[size_t(i)].data()});
      }
      matmul_shared_input(targets.data(), count, x.data(), n, pool);
      for (int i = 0; i < count; ++i) {
        matmul(ws[size_t(i)], x.data(), each[size_t(i)].data(), n, pool, targets[size_t(i)].packed);
        EXPECT_EQ(0, std::memcmp(fused[size_t(i)].data(), each[size_t(i)].data(), fused[size_t(i)].size() * 4))
            << "weight " << i;
      }
    }
}

// The packed path over many tokens (300: a chunk of 256 and one of 44; tiles of 8 tokens and 4 single ones)
// gives every token the products of a one-token call bit for bit, so a prompt's matmuls do not depend on
// how it is split between prefill calls and decode steps.
TEST(Matmul, PackedTokensEqualOneTokenCalls) {
  ThreadPool pool(2);
  matmul_init();
  uint64_t seed = 900;
  for (DType t : {DType::kQ4_1, DType::kQ4_0, DType::kQ8_0}) {
    const int64_t rows = 37, cols = 576, n = 300;
    auto wb = random_weight(t, rows, cols, seed++);
    const Weight w = weight_of(t, rows, cols, wb);
    PackedWeight pw;
    if (!pack_weight(w, &pw)) GTEST_SKIP() << "no packed path on this machine (AVX-512 VNNI)";
    const auto x = test::random_vector(size_t(n * cols), seed++);
    std::vector<float> all(size_t(n * rows)), one(size_t(n * rows));
    test::poison(all);
    test::poison(one);
    matmul(w, x.data(), all.data(), n, pool, &pw);
    for (int64_t i = 0; i < n; ++i) matmul(w, x.data() + i * cols, one.data() + i * rows, 1, pool, &pw);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(0, std::memcmp(all.data() + i * rows, one.data() + i * rows, size_t(rows) * 4))
          << dtype_name(t) << " token " << i;
  }
}

}  // namespace
}  // namespace seer
