// SmolLM2-135M-Instruct (the default model) against goldens from an independent numpy forward over
// PyPI gguf's dequantisation (scripts/golden/make_smollm2_golden.py, scripts/golden/README.md):
//  * logits of four prompts (5..630 tokens): top-1 agreement at every position, last-position logits
//    within a stated bound, through the prefill path and through token-by-token decode, on the f32 path
//    and with the default int8 activations;
//  * perplexity of the Treasury of David excerpt within 0.5% of the reference (same protocol), and within
//    0.01% on the f32 path (SessionOptions::int8_matmul false).
// Skipped with a message when the model is not cached (scripts/fetch-model.sh fetches it).
#include <seer/engine.h>
#include <seer/model.h>
#include <seer/perplexity.h>
#include <seer/policies.h>
#include <seer/tokenizer.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace seer {
namespace {

struct GoldenPrompt {
  std::vector<int> ids, top1, topk_ids;
  std::vector<float> topk_logits, last_logits;
};

constexpr int kTopK = 5;

std::vector<GoldenPrompt> read_logits_golden(int* vocab) {
  std::ifstream f(test::source_path("tests/golden/smollm2_logits.bin"), std::ios::binary);
  EXPECT_TRUE(f.good());
  char magic[8];
  uint32_t hdr[6];
  f.read(magic, 8);
  f.read(reinterpret_cast<char*>(hdr), sizeof(hdr));
  EXPECT_EQ(std::memcmp(magic, "SEERLGT\0", 8), 0);
  EXPECT_EQ(hdr[0], 1u);  // version
  EXPECT_EQ(hdr[3], uint32_t(kTopK));
  *vocab = int(hdr[2]);
  std::vector<GoldenPrompt> out(hdr[1]);
  for (auto& p : out) {
    uint32_t n;
    f.read(reinterpret_cast<char*>(&n), 4);
    auto rd = [&](auto& v, size_t count) {
      v.resize(count);
      f.read(reinterpret_cast<char*>(v.data()), std::streamsize(count * sizeof(v[0])));
    };
    rd(p.ids, n);
    rd(p.top1, n);
    rd(p.topk_ids, size_t(n) * kTopK);
    rd(p.topk_logits, size_t(n) * kTopK);
    rd(p.last_logits, size_t(*vocab));
  }
  EXPECT_TRUE(f.good());
  return out;
}

class SmolLM2 : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(default_model_path())) return;
    auto m = load_model(default_model_path());
    ASSERT_TRUE(m.is_ok()) << m.status().message();
    model_ = new Model(std::move(m).value());
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "default model not cached at " << default_model_path() << " (scripts/fetch-model.sh)";
  }
  static Model* model_;
};
Model* SmolLM2::model_ = nullptr;

// Compares logits rows with the golden. Top-1 must agree wherever the golden's top-1/top-2 gap is
// larger than `tie_gap` (a near-tie may flip under any change of summation order).
void check_prompt(const GoldenPrompt& g, const float* logits, int n_rows, int vocab, double tie_gap,
                  double last_tol, const char* path) {
  SCOPED_TRACE(testing::Message() << path << ", prompt of " << g.ids.size() << " tokens");
  ASSERT_EQ(size_t(n_rows), g.ids.size());
  int mismatches = 0;
  double worst_topk = 0.0;
  for (int i = 0; i < n_rows; ++i) {
    const float* row = logits + size_t(i) * vocab;
    const int top1 = int(std::max_element(row, row + vocab) - row);
    const double gap = g.topk_logits[size_t(i) * kTopK] - g.topk_logits[size_t(i) * kTopK + 1];
    if (top1 != g.top1[size_t(i)] && gap > tie_gap) {
      ++mismatches;
      ADD_FAILURE() << "position " << i << ": top-1 " << top1 << " vs golden " << g.top1[size_t(i)] << " (gap "
                    << gap << ")";
    }
    for (int k = 0; k < kTopK; ++k)
      worst_topk = std::max(worst_topk, std::fabs(double(row[g.topk_ids[size_t(i) * kTopK + k]]) -
                                                  g.topk_logits[size_t(i) * kTopK + k]));
  }
  std::string why;
  const double last = test::max_abs_diff(logits + size_t(n_rows - 1) * vocab, g.last_logits.data(), size_t(vocab), &why);
  std::printf("[ %s n=%zu ] top-5 logits max abs diff %.2e, last row max abs diff %.2e\n", path, g.ids.size(),
              worst_topk, last);
  EXPECT_LE(last, last_tol) << why;
  EXPECT_LE(worst_topk, last_tol);
  EXPECT_EQ(mismatches, 0);
}

// Prefill of every prompt. The f32 path (int8_matmul false) dequantises weights to f32 like the reference:
// float32 noise only. The default int8 activations (as llama.cpp's, and as the decode steps): logits move
// by up to ~2 (measured 1.93 on a top-5 logit), so near-ties may flip (seen at a gap of 0.171); top-1 must
// agree wherever the reference's gap is above 0.5.
void check_prefill(const Model& model, bool int8_matmul, double tie_gap, double last_tol, const char* path) {
  int vocab = 0;
  auto golden = read_logits_golden(&vocab);
  ASSERT_EQ(vocab, model.config.vocab_size);
  SessionOptions so;
  so.max_context = 1024;
  so.int8_matmul = int8_matmul;
  auto s = Session::create(model, so);
  ASSERT_TRUE(s.is_ok());
  for (const auto& g : golden) {
    (*s)->reset();
    auto logits = (*s)->forward(g.ids, Logits::kAll);
    ASSERT_TRUE(logits.is_ok()) << logits.status().message();
    check_prompt(g, logits->data(), int(g.ids.size()), vocab, tie_gap, last_tol, path);
  }
}

TEST_F(SmolLM2, PrefillLogitsMatchReference) { check_prefill(*model_, false, 1e-3, 5e-3, "prefill f32"); }

TEST_F(SmolLM2, Int8PrefillKeepsTopOne) { check_prefill(*model_, true, 0.5, 2.5, "prefill int8"); }

// Token-by-token decode of the two short prompts, every position through the decode path.
std::vector<float> decode_all(const Model& model, const std::vector<int>& ids, bool int8_matmul) {
  SessionOptions so;
  so.max_context = 1024;
  so.int8_matmul = int8_matmul;
  auto s = Session::create(model, so);
  EXPECT_TRUE(s.is_ok());
  std::vector<float> all;
  if (!s.is_ok()) return all;
  for (int id : ids) {
    const int one[1] = {id};
    auto logits = (*s)->forward(one, Logits::kLast);
    EXPECT_TRUE(logits.is_ok()) << logits.status().message();
    if (!logits.is_ok()) return {};
    all.insert(all.end(), logits->begin(), logits->end());
  }
  return all;
}

// The exact (f32) decode path: the KV cache and decode attention reproduce the reference to
// float32 noise.
TEST_F(SmolLM2, DecodeLogitsMatchReference) {
  int vocab = 0;
  auto golden = read_logits_golden(&vocab);
  for (size_t p = 0; p < 2; ++p) {
    auto all = decode_all(*model_, golden[p].ids, false);
    check_prompt(golden[p], all.data(), int(golden[p].ids.size()), vocab, 1e-3, 5e-3, "decode f32");
  }
}

// The default int8-activation decode (as llama.cpp's): logits move by up to ~2 (measured 1.93 on a
// top-5 logit of the ChatML prompt, max |logit| ~ 20), so near-ties (gap < 0.1) may flip; top-1
// elsewhere must agree.
TEST_F(SmolLM2, Int8DecodeKeepsTopOne) {
  int vocab = 0;
  auto golden = read_logits_golden(&vocab);
  for (size_t p = 0; p < 2; ++p) {
    auto all = decode_all(*model_, golden[p].ids, true);
    check_prompt(golden[p], all.data(), int(golden[p].ids.size()), vocab, 0.1, 2.5, "decode int8");
  }
}

TEST_F(SmolLM2, TokenizerAgreesWithGoldenIds) {
  int vocab = 0;
  auto golden = read_logits_golden(&vocab);
  std::ifstream jf(test::source_path("tests/golden/smollm2_logits.json"));
  auto j = nlohmann::json::parse(jf);
  ASSERT_EQ(j["prompts"].size(), golden.size());
  for (size_t i = 0; i < golden.size(); ++i) {
    const std::string text = j["prompts"][i]["text"];
    EXPECT_EQ(model_->tokenizer->encode(text, true), golden[i].ids) << text.substr(0, 60);
  }
}

TEST_F(SmolLM2, PerplexityWithinHalfPercent) {
  std::ifstream jf(test::source_path("tests/golden/smollm2_ppl.json"));
  auto golden = nlohmann::json::parse(jf);
  std::ifstream tf(test::source_path("tests/data/tdavid_excerpt.txt"), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
  auto ids = model_->tokenizer->encode(text, false);
  EXPECT_EQ(int(ids.size()), golden["n_text_tokens"].get<int>());
  // The default int8 activations within the 0.5% (measured +0.43%); the f32 path to float noise.
  for (bool int8 : {true, false}) {
    SessionOptions so;
    so.max_context = 512;
    so.int8_matmul = int8;
    auto s = Session::create(*model_, so);
    ASSERT_TRUE(s.is_ok());
    PerplexityOptions po;
    po.ctx = 512;
    auto r = perplexity(**s, ids, po);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    const double ref = golden["ppl"].get<double>();
    std::printf("[ ppl %s ] seer %.4f vs reference %.4f (%+.3f%%), %lld tokens, %d windows\n", int8 ? "int8" : "f32",
                r->ppl, ref, 100.0 * (r->ppl / ref - 1.0), static_cast<long long>(r->tokens), r->windows);
    EXPECT_EQ(r->windows, golden["n_windows"].get<int>());
    EXPECT_EQ(r->tokens, golden["n_scored"].get<int64_t>());
    EXPECT_NEAR(r->ppl / ref, 1.0, int8 ? 0.005 : 1e-4) << (int8 ? "int8" : "f32");
  }
}

PerplexityResult run_ppl(const Model& model, const std::string& text_file, int ctx,
                         std::shared_ptr<AttentionPolicy> policy) {
  std::ifstream tf(test::source_path(text_file), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
  SessionOptions so;
  so.max_context = ctx;
  so.policy = std::move(policy);
  auto s = Session::create(model, so);
  EXPECT_TRUE(s.is_ok());
  PerplexityOptions po;
  po.ctx = ctx;
  po.max_windows = 1;
  auto r = perplexity(**s, model.tokenizer->encode(text, false), po);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? r.value() : PerplexityResult{};
}

std::shared_ptr<ScoredPolicy> make(const std::string& name, double density, const ModelConfig& cfg) {
  PolicyOptions o;
  o.prefill = PrefillSparsity{PrefillSparsity::Kind::kDensity, density, false};
  auto p = make_policy(name, o, cfg);
  EXPECT_TRUE(p.is_ok()) << p.status().message();
  return p.is_ok() ? p.value() : nullptr;
}

// Density 1.0 through the sparse path (a policy, its selection, the block lists) is dense attention.
TEST_F(SmolLM2, SparsePathAtDensityOneIsDense) {
  const double dense = run_ppl(*model_, "tests/data/tdavid_excerpt.txt", 512, nullptr).ppl;
  for (const char* name : {"oracle", "streaming"}) {
    const double sparse = run_ppl(*model_, "tests/data/tdavid_excerpt.txt", 512, make(name, 1.0, model_->config)).ppl;
    EXPECT_NEAR(sparse / dense, 1.0, 1e-6) << name;
  }
}

// Issue 3's check: the oracle keeping half of the causal blocks (density:0.5) costs < 1% perplexity
// on an 8k window of public-domain text (Treasury of David after Psalm 1; measured +0.04%).
TEST_F(SmolLM2, OracleHalfDensityWithinOnePercentAt8k) {
  const auto dense = run_ppl(*model_, "tests/data/tdavid_8k.txt", 8192, nullptr);
  auto oracle_policy = make("oracle", 0.5, model_->config);
  const auto oracle = run_ppl(*model_, "tests/data/tdavid_8k.txt", 8192, oracle_policy);
  ASSERT_EQ(dense.tokens, 8191);
  const double density = oracle_policy->stats().prefill_total().density();
  std::printf("[ 8k ] dense ppl %.4f, oracle density %.4f ppl %.4f (%+.3f%%)\n", dense.ppl, density, oracle.ppl,
              100.0 * (oracle.ppl / dense.ppl - 1.0));
  EXPECT_NEAR(density, 0.5, 0.02);
  EXPECT_LT(oracle.ppl / dense.ppl, 1.01);
}

}  // namespace
}  // namespace seer
