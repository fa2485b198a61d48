// Tokenizer tests.
//  * SmolLM2 (the real GGUF): ids of every string in tests/data/tokenizer_corpus.json must equal
//    tests/golden/smollm2_tokens.json (made by scripts/golden/make_token_golden.py from an
//    independent implementation), with and without special-token parsing; decode(encode(s)) == s.
//  * tokenizer.json: tiny BPE tokenizers trained by PyPI `tokenizers` in four pre-tokenizer styles
//    (scripts/golden/make_tiny_tokenizer.py), compared with the ids `tokenizers` produced.
//  * Errors name the file and the field.
#include <seer/gguf.h>
#include <seer/model.h>
#include <seer/tokenizer.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "test_util.h"

namespace {

using nlohmann::json;
using seer::Tokenizer;
using seer::test::source_path;

json load_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::string ids_str(const std::vector<int>& ids) { return json(ids).dump(); }

// The SmolLM2 tokenizer, loaded once; null (with the reason) when the model is not cached.
const Tokenizer* smollm2(std::string* why) {
  static std::unique_ptr<Tokenizer> tok;
  static std::string reason;
  static bool tried = false;
  if (!tried) {
    tried = true;
    const std::string path = seer::default_model_path();
    if (!std::filesystem::exists(path)) {
      reason = "model not found at " + path + " (run scripts/fetch-model.sh)";
    } else if (auto f = seer::GgufFile::open(path); !f) {
      reason = f.status().message();
    } else if (auto t = Tokenizer::from_gguf(**f); !t) {
      reason = t.status().message();
    } else {
      tok = std::move(t).value();
    }
  }
  *why = reason;
  return tok.get();
}

#define SMOLLM2_OR_SKIP(var)                                  \
  std::string why_;                                           \
  const Tokenizer* var = smollm2(&why_);                      \
  if (!var) {                                                 \
    if (why_.find("not found") != std::string::npos) GTEST_SKIP() << why_; \
    FAIL() << why_;                                           \
  }

TEST(TokenizerSmolLM2, Metadata) {
  SMOLLM2_OR_SKIP(tok);
  EXPECT_EQ(tok->vocab_size(), 49152);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(tok->find_token("<|im_start|>"), 1);
  EXPECT_EQ(tok->find_token("<|im_end|>"), 2);
  EXPECT_EQ(tok->find_token("no such token, surely"), -1);
  EXPECT_TRUE(tok->is_special(0));
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_FALSE(tok->is_special(tok->find_token("Hello")));
  EXPECT_FALSE(tok->is_special(-1));
  EXPECT_FALSE(tok->is_special(tok->vocab_size()));
  EXPECT_EQ(tok->token_text(1), "<|im_start|>");
  EXPECT_EQ(tok->token_text(tok->find_token("\xC4\xA0the")), " the");  // "Ġthe"
  EXPECT_EQ(tok->token_text(-5), "");
}

TEST(TokenizerSmolLM2, GoldenIds) {
  SMOLLM2_OR_SKIP(tok);
  const json golden = load_json(source_path("tests/golden/smollm2_tokens.json"));
  ASSERT_EQ(golden.value("magic", ""), "seer-token-golden");
  ASSERT_EQ(golden.value("version", 0), 1);
  const json corpus = load_json(source_path("tests/data/tokenizer_corpus.json"));
  ASSERT_EQ(golden["cases"].size(), corpus.size()) << "golden is stale: rerun scripts/golden/make_token_golden.py";
  const std::string producer = golden["producer"].dump();
  for (const json& c : golden["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto want = c["ids"].get<std::vector<int>>();
    const auto want_plain = c["ids_no_special"].get<std::vector<int>>();
    const auto got = tok->encode(text, /*parse_special=*/true);
    const auto got_plain = tok->encode(text, /*parse_special=*/false);
    EXPECT_EQ(ids_str(got), ids_str(want)) << "text " << json(text).dump() << " (golden by " << producer << ")";
    EXPECT_EQ(ids_str(got_plain), ids_str(want_plain)) << "text " << json(text).dump() << ", parse_special off";
    EXPECT_EQ(tok->decode(got), text);
    EXPECT_EQ(tok->decode(got_plain), text);
    std::string streamed;
    for (int id : got) streamed += tok->token_text(id);
    EXPECT_EQ(streamed, text);
  }
}

TEST(TokenizerSmolLM2, SpecialTokens) {
  SMOLLM2_OR_SKIP(tok);
  EXPECT_EQ(tok->encode("<|im_start|>", true), std::vector<int>({1}));
  const auto plain = tok->encode("<|im_start|>", false);
  EXPECT_GT(plain.size(), 1u);
  for (int id : plain) EXPECT_FALSE(tok->is_special(id)) << id;
  EXPECT_EQ(tok->decode(plain), "<|im_start|>");
  // Longest match and adjacency: no text between specials produces no extra tokens.
  EXPECT_EQ(tok->encode("<|im_end|><|im_start|><|endoftext|>", true), std::vector<int>({2, 1, 0}));
  const auto mixed = tok->encode("a<|im_end|>b", true);
  ASSERT_EQ(mixed.size(), 3u);
  EXPECT_EQ(mixed[1], 2);
  EXPECT_EQ(tok->decode({1, 2}), "<|im_start|><|im_end|>");
}

TEST(TokenizerSmolLM2, ChatTemplate) {
  SMOLLM2_OR_SKIP(tok);
  ASSERT_TRUE(tok->has_chatml());
  // SmolLM2's template injects this system turn when the conversation has none.
  EXPECT_EQ(tok->apply_chat_template("What is 2+2?"),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(tok->apply_chat_template("hi", "Be brief."),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  // An explicit empty system message is an empty system turn, not the default one.
  EXPECT_EQ(tok->apply_chat_template("hi", ""),
            "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  const auto ids = tok->encode(tok->apply_chat_template("hi", "Be brief."), true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 3);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 2);
}

// Bytes that are not valid UTF-8 still round-trip (byte tokens). 0xFE and 0xFF cannot: they never
// occur in UTF-8 and SmolLM2's vocabulary has no token for them, so they are dropped.
TEST(TokenizerSmolLM2, InvalidUtf8RoundTrips) {
  SMOLLM2_OR_SKIP(tok);
  const std::string s = "ok bad \xC3 trunc \xE2\x82 end\x80 \xF0\x9F\x98";
  const auto ids = tok->encode(s);
  EXPECT_EQ(tok->decode(ids), s);
  EXPECT_EQ(tok->decode(tok->encode("a\xFF\xFE" "b")), "ab");
}

// Long inputs: a ~1 MB text and pathological runs stay fast and round-trip.
TEST(TokenizerSmolLM2, LongInputs) {
  SMOLLM2_OR_SKIP(tok);
  const json corpus = load_json(source_path("tests/data/tokenizer_corpus.json"));
  std::mt19937 rng(7);
  std::string text;
  while (text.size() < (1u << 20)) {
    text += corpus[rng() % corpus.size()].get<std::string>();
    text += rng() % 4 == 0 ? "\n" : " ";
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok->encode(text, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(tok->decode(ids), text);
  std::printf("encode: %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n", text.size(), ids.size(), s,
              text.size() / s / 1e6);
  EXPECT_LT(s, 20.0);

  for (const std::string& run : {std::string(200000, ' '), std::string(200000, 'a'), std::string(50000, '\n'),
                                 std::string(100000, '7'), std::string(100000, '=')}) {
    const auto r = tok->encode(run);
    EXPECT_EQ(tok->decode(r), run) << "run of " << json(run.substr(0, 1)).dump();
  }
}

// ----------------------------------------------------------------------------------------------
// GGUF metadata on a tiny hand-written file (no tensors).

class GgufWriter {
 public:
  void str(const std::string& key, const std::string& v) {
    head(key, 8);
    put_str(v);
  }
  void u32(const std::string& key, uint32_t v) {
    head(key, 4);
    put(v);
  }
  void boolean(const std::string& key, bool v) {
    head(key, 7);
    buf_ += char(v ? 1 : 0);
  }
  void strs(const std::string& key, const std::vector<std::string>& v) {
    head(key, 9);
    put(uint32_t(8));
    put(uint64_t(v.size()));
    for (const auto& s : v) put_str(s);
  }
  void i32s(const std::string& key, const std::vector<int32_t>& v) {
    head(key, 9);
    put(uint32_t(5));
    put(uint64_t(v.size()));
    for (int32_t x : v) put(x);
  }
  std::string save(const std::filesystem::path& path) const {
    std::string out = "GGUF";
    auto app = [&](auto x) { out.append(reinterpret_cast<const char*>(&x), sizeof(x)); };
    app(uint32_t(3));
    app(uint64_t(0));  // tensors
    app(uint64_t(n_kv_));
    out += buf_;
    out.append((32 - out.size() % 32) % 32, '\0');
    std::ofstream(path, std::ios::binary) << out;
    return path.string();
  }

 private:
  template <typename T>
  void put(T x) {
    buf_.append(reinterpret_cast<const char*>(&x), sizeof(x));
  }
  void put_str(const std::string& s) {
    put(uint64_t(s.size()));
    buf_ += s;
  }
  void head(const std::string& key, uint32_t type) {
    put_str(key);
    put(type);
    ++n_kv_;
  }
  std::string buf_;
  uint64_t n_kv_ = 0;
};

class TokenizerGguf : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("seer_tok_gguf_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // A valid tiny tokenizer; `skip` leaves one key out, `model`/`pre` override values.
  seer::Result<std::unique_ptr<Tokenizer>> load(const std::string& model = "gpt2", const std::string& pre = "smollm",
                                                const std::string& skip = "") {
    GgufWriter w;
    w.str("general.architecture", "llama");
    if (skip != "model") w.str("tokenizer.ggml.model", model);
    if (skip != "pre") w.str("tokenizer.ggml.pre", pre);
    // "\xC4\xA0" is "Ġ", the byte-mapped space.
    if (skip != "tokens") w.strs("tokenizer.ggml.tokens", {"<|im_start|>", "a", "b", "ab", "\xC4\xA0", "\xC4\xA0" "ab", "1"});
    w.i32s("tokenizer.ggml.token_type", {3, 1, 1, 1, 1, 1, 1});
    w.strs("tokenizer.ggml.merges", {"a b", "\xC4\xA0 ab"});
    w.u32("tokenizer.ggml.bos_token_id", 0);
    w.u32("tokenizer.ggml.eos_token_id", 0);
    w.boolean("tokenizer.ggml.add_bos_token", true);
    path_ = w.save(dir_ / "tiny.gguf");
    auto f = seer::GgufFile::open(path_);
    if (!f) return f.status();
    return Tokenizer::from_gguf(**f);
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(TokenizerGguf, TinyFile) {
  auto t = load();
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ((*t)->encode("ab ab<|im_start|>11"), std::vector<int>({3, 5, 0, 6, 6}));
  EXPECT_EQ((*t)->encode("ab", false), std::vector<int>({3}));
  EXPECT_TRUE((*t)->add_bos());
  EXPECT_EQ((*t)->bos_id(), 0);
  EXPECT_FALSE((*t)->has_chatml());
  EXPECT_EQ((*t)->decode({3, 5, 0}), "ab ab<|im_start|>");
}

TEST_F(TokenizerGguf, WrongModel) {
  auto t = load("llama");
  ASSERT_FALSE(t);
  const std::string& m = t.status().message();
  EXPECT_NE(m.find(path_), std::string::npos) << m;
  EXPECT_NE(m.find("tokenizer.ggml.model"), std::string::npos) << m;
  EXPECT_NE(m.find("'llama'"), std::string::npos) << m;
}

TEST_F(TokenizerGguf, UnknownPre) {
  auto t = load("gpt2", "deepseek-coder");
  ASSERT_FALSE(t);
  const std::string& m = t.status().message();
  EXPECT_NE(m.find(path_), std::string::npos) << m;
  EXPECT_NE(m.find("tokenizer.ggml.pre"), std::string::npos) << m;
  EXPECT_NE(m.find("deepseek-coder"), std::string::npos) << m;
}

TEST_F(TokenizerGguf, MissingPreMeansGpt2) {
  auto t = load("gpt2", "", "pre");
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ((*t)->encode("11"), std::vector<int>({6, 6}));  // no "11" token: byte fallback either way
}

TEST_F(TokenizerGguf, MissingTokens) {
  auto t = load("gpt2", "smollm", "tokens");
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find("tokenizer.ggml.tokens"), std::string::npos) << t.status().message();
}

// ----------------------------------------------------------------------------------------------
// tokenizer.json

TEST(TokenizerHfJson, TinyGolden) {
  const json golden = load_json(source_path("tests/data/tiny_tokenizer/golden.json"));
  ASSERT_EQ(golden.value("magic", ""), "seer-tiny-tokenizer-golden");
  for (const auto& [kind, cases] : golden["cases"].items()) {
    const std::string path = source_path("tests/data/tiny_tokenizer/" + kind + "/tokenizer.json");
    auto tok = Tokenizer::from_hf_json(path);
    ASSERT_TRUE(tok) << tok.status().message();
    for (const json& c : cases) {
      const std::string text = c["text"].get<std::string>();
      const auto got = (*tok)->encode(text, true);
      EXPECT_EQ(ids_str(got), ids_str(c["ids"].get<std::vector<int>>())) << kind << ": " << json(text).dump();
      EXPECT_EQ((*tok)->decode(got), text) << kind;
    }
  }
}

TEST(TokenizerHfJson, TinyConfig) {
  auto tok = Tokenizer::from_hf_json(source_path("tests/data/tiny_tokenizer/smollm/tokenizer.json"));
  ASSERT_TRUE(tok) << tok.status().message();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.bos_id(), 1);  // tokenizer_config.json: bos "<|im_start|>", eos {"content": "<|im_end|>"}
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_FALSE(t.add_bos());
  EXPECT_TRUE(t.is_special(0));
  EXPECT_TRUE(t.has_chatml());
  // This template injects no default system prompt: none is added.
  EXPECT_EQ(t.apply_chat_template("hi"), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.encode("<|im_end|>", true), std::vector<int>({2}));
  EXPECT_NE(t.encode("<|im_end|>", false), std::vector<int>({2}));

  // Without tokenizer_config.json: no bos/eos.
  auto gpt2 = Tokenizer::from_hf_json(source_path("tests/data/tiny_tokenizer/gpt2/tokenizer.json"));
  ASSERT_TRUE(gpt2) << gpt2.status().message();
  EXPECT_EQ((*gpt2)->bos_id(), -1);
  EXPECT_EQ((*gpt2)->eos_id(), -1);
}

class TokenizerErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("seer_tok_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& text) {
    const std::string p = (dir_ / "tokenizer.json").string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  // Loads `text` as tokenizer.json; returns the error message (empty on success).
  std::string load_error(const std::string& text) {
    const std::string p = write(text);
    auto t = Tokenizer::from_hf_json(p);
    if (t) return "";
    EXPECT_NE(t.status().message().find(p), std::string::npos) << t.status().message();
    return t.status().message();
  }
  std::filesystem::path dir_;
};

constexpr const char* kPre = R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})";

TEST_F(TokenizerErrors, NotJson) { EXPECT_NE(load_error("{ this is not json").find("invalid JSON"), std::string::npos); }

TEST_F(TokenizerErrors, MissingFile) {
  auto t = Tokenizer::from_hf_json((dir_ / "absent.json").string());
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find("absent.json"), std::string::npos);
}

TEST_F(TokenizerErrors, MissingVocab) {
  const std::string m = load_error(std::string(R"({"model": {"type": "BPE", "merges": []}, )") + kPre + "}");
  EXPECT_NE(m.find("model.vocab"), std::string::npos) << m;
}

TEST_F(TokenizerErrors, NotBpe) {
  const std::string m =
      load_error(std::string(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, )") + kPre + "}");
  EXPECT_NE(m.find("model.type"), std::string::npos) << m;
  EXPECT_NE(m.find("WordPiece"), std::string::npos) << m;
}

TEST_F(TokenizerErrors, BadMerge) {
  const std::string m =
      load_error(std::string(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [42]}, )") + kPre + "}");
  EXPECT_NE(m.find("model.merges[0]"), std::string::npos) << m;
}

TEST_F(TokenizerErrors, WrongFieldType) {
  const std::string m = load_error(std::string(R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}, )") +
                                   kPre + "}");
  EXPECT_NE(m.find("model.vocab"), std::string::npos) << m;
}

TEST_F(TokenizerErrors, UnsupportedPreTokenizer) {
  const std::string m = load_error(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})");
  EXPECT_NE(m.find("pre_tokenizer"), std::string::npos) << m;
  EXPECT_NE(m.find("Whitespace"), std::string::npos) << m;
}

TEST_F(TokenizerErrors, BadConfigToken) {
  write(std::string(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, )") + kPre + "}");
  std::ofstream((dir_ / "tokenizer_config.json").string()) << R"({"bos_token": "<s>"})";
  auto t = Tokenizer::from_hf_json((dir_ / "tokenizer.json").string());
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find("tokenizer_config.json"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("bos_token"), std::string::npos) << t.status().message();
}

TEST(TokenizerCreate, Validation) {
  seer::TokenizerData d;
  EXPECT_FALSE(Tokenizer::create(d));
  d.tokens = {"a", "b", "ab"};
  d.merges = {"ab"};
  auto r = Tokenizer::create(d);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("merges[0]"), std::string::npos) << r.status().message();
  d.merges = {"a b"};
  d.eos_id = 7;
  r = Tokenizer::create(d);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("eos_token_id"), std::string::npos) << r.status().message();
  d.eos_id = -1;
  r = Tokenizer::create(d);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*r)->encode("abab"), std::vector<int>({2, 2}));
  EXPECT_EQ((*r)->encode("ba"), std::vector<int>({1, 0}));
}

}  // namespace
