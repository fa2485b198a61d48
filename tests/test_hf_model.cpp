// Hugging Face loader tests: tiny random models (scripts/golden/make_tiny_hf.py) are loaded and run
// through seer::Session; logits are compared with golden logits from an independent numpy float64
// reference, both as one prefill and as prefill + token-by-token decode (exercises the KV cache).
// Broken directories generated in a temp dir check that every loader error names the file, the
// field and the offending value (FIFOs and devices in place of files, out-of-range floats, tensors
// the loader does not use).
#include <seer/engine.h>
#include <seer/model.h>
#include <seer/tokenizer.h>

#include "io/safetensors.h"
#include "test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <future>
#include <sstream>

namespace seer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kTinyDir = std::string(SEER_SOURCE_DIR) + "/tests/data/tiny_hf/";

// ---------------------------------------------------------------------------------------------
// helpers

struct Golden {
  std::vector<int> ids;        // [n_tokens]
  std::vector<float> logits;   // [n_tokens, vocab]
  int vocab = 0;
};

// Format: char[4] "SLGT", u32 version 1, u32 n_tokens, u32 vocab, i32 ids[n], f32 logits[n][vocab].
Golden read_golden(const std::string& path) {
  Golden g;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  char magic[4];
  uint32_t hdr[3];
  in.read(magic, 4);
  in.read(reinterpret_cast<char*>(hdr), sizeof(hdr));
  EXPECT_EQ(std::memcmp(magic, "SLGT", 4), 0) << path;
  EXPECT_EQ(hdr[0], 1u) << path << ": golden version";
  g.vocab = int(hdr[2]);
  g.ids.resize(hdr[1]);
  in.read(reinterpret_cast<char*>(g.ids.data()), std::streamsize(g.ids.size() * 4));
  g.logits.resize(size_t(hdr[1]) * hdr[2]);
  in.read(reinterpret_cast<char*>(g.logits.data()), std::streamsize(g.logits.size() * 4));
  EXPECT_TRUE(in.good()) << path << ": truncated";
  return g;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "seer_hf_XXXXXX").string();
    SEER_ASSERT(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A copy of a tiny model directory that a test may break.
std::string copy_variant(const TempDir& tmp, const std::string& variant) {
  const std::string dst = tmp.file(variant);
  fs::copy(kTinyDir + variant, dst, fs::copy_options::recursive);
  for (auto& e : fs::directory_iterator(dst))
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
  return dst;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}
void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}
void write_json(const std::string& path, const json& j) { write_text(path, j.dump(2)); }

// Writes a safetensors file from a raw header string and a data section.
void write_raw_safetensors(const std::string& path, const std::string& header,
                           const std::string& data, uint64_t header_len_field = UINT64_MAX) {
  uint64_t n = header_len_field == UINT64_MAX ? header.size() : header_len_field;
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((n >> (8 * i)) & 0xff);
  write_text(path, bytes + header + data);
}

struct RawTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Reads every tensor of a safetensors file (through the reader under test, which the golden
// comparisons validate independently).
std::vector<RawTensor> read_all(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  EXPECT_TRUE(f.is_ok()) << f.status().message();
  std::vector<RawTensor> out;
  for (const SafetensorsTensor& t : (*f)->tensors())
    out.push_back({t.name, t.dtype_name, t.shape,
                   std::string(reinterpret_cast<const char*>(t.data), t.nbytes)});
  return out;
}

void write_tensors(const std::string& path, const std::vector<RawTensor>& ts) {
  json hdr = json::object();
  std::string data;
  for (const RawTensor& t : ts) {
    hdr[t.name] = {{"dtype", t.dtype}, {"shape", t.shape},
                   {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string h = hdr.dump();
  while (h.size() % 8 != 0) h += ' ';
  write_raw_safetensors(path, h, data);
}

// Loads `dir`, expects failure, and checks the message contains every `needles` entry.
void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
  Result<Model> r = load_hf_model(dir);
  ASSERT_FALSE(r.is_ok()) << "expected an error loading " << dir;
  const std::string& msg = r.status().message();
  if (std::getenv("SEER_TEST_VERBOSE") != nullptr) std::printf("  error: %s\n", msg.c_str());
  for (const std::string& n : needles)
    EXPECT_NE(msg.find(n), std::string::npos) << "message lacks '" << n << "': " << msg;
}

void expect_open_error(const std::string& path, const std::vector<std::string>& needles) {
  auto r = SafetensorsFile::open(path);
  ASSERT_FALSE(r.is_ok()) << "expected an error opening " << path;
  const std::string& msg = r.status().message();
  if (std::getenv("SEER_TEST_VERBOSE") != nullptr) std::printf("  error: %s\n", msg.c_str());
  for (const std::string& n : needles)
    EXPECT_NE(msg.find(n), std::string::npos) << "message lacks '" << n << "': " << msg;
}

// ---------------------------------------------------------------------------------------------
// Loading and forward against the golden logits

struct Variant {
  const char* name;
  Arch arch;
  DType dtype;
  bool tied;
  bool qkv_bias;
  bool qk_norm;
  RopeScalingType rope;
  // Max |logit - golden| / max |golden| allowed. The CPU engine computes in f32 on the stored
  // weights (dequantised exactly), so the only differences from the f64 reference are f32 rounding
  // in matmuls, softmax and RoPE tables: measured 0.7e-6 to 1.6e-6 relative for every variant,
  // prefill and decode alike (2025-11, CPU engine of commit 0db0ba9). The bounds leave room for
  // reduced-precision activations in fast kernels (bf16/fp16 dot products, ~4e-3 per rounding)
  // while still catching semantic errors: dropping the llama3 or yarn RoPE scaling moves the
  // logits by 1.2 and 0.65 of the scale, a yarn attention factor of 1 by 0.3.
  double rel_tol;
};

const Variant kVariants[] = {
    {"llama_f32", Arch::kLlama, DType::kF32, false, false, false, RopeScalingType::kNone, 1e-4},
    {"llama_bf16", Arch::kLlama, DType::kBF16, true, false, false, RopeScalingType::kLlama3, 1e-2},
    {"qwen2_f16", Arch::kQwen2, DType::kF16, false, true, false, RopeScalingType::kNone, 2e-3},
    {"qwen3_bf16", Arch::kQwen3, DType::kBF16, false, false, true, RopeScalingType::kYarn, 1e-2},
};

class HfVariantTest : public ::testing::TestWithParam<Variant> {};

TEST_P(HfVariantTest, LoadsConfigAndWeights) {
  const Variant& v = GetParam();
  Result<Model> r = load_hf_model(kTinyDir + v.name);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Model& m = *r;
  const ModelConfig& c = m.config;
  EXPECT_EQ(m.format, "hf");
  EXPECT_EQ(m.name, v.name);
  EXPECT_EQ(c.arch, v.arch);
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 96);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_qo_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.tied_embeddings, v.tied);
  EXPECT_EQ(c.qkv_bias, v.qkv_bias);
  EXPECT_EQ(c.qk_norm, v.qk_norm);
  EXPECT_EQ(c.rope_scaling.type, v.rope);
  EXPECT_FLOAT_EQ(c.rms_eps, v.arch == Arch::kLlama ? 1e-5f : 1e-6f);
  switch (v.rope) {
    case RopeScalingType::kNone: break;
    case RopeScalingType::kLlama3:
      EXPECT_FLOAT_EQ(c.rope_scaling.factor, 8.0f);
      EXPECT_FLOAT_EQ(c.rope_scaling.low_freq_factor, 1.0f);
      EXPECT_FLOAT_EQ(c.rope_scaling.high_freq_factor, 4.0f);
      EXPECT_EQ(c.rope_scaling.original_max_position, 64);
      break;
    case RopeScalingType::kYarn:
      EXPECT_FLOAT_EQ(c.rope_scaling.factor, 4.0f);
      EXPECT_EQ(c.rope_scaling.original_max_position, 64);
      EXPECT_FLOAT_EQ(c.rope_scaling.beta_fast, 32.0f);
      EXPECT_FLOAT_EQ(c.rope_scaling.beta_slow, 1.0f);
      EXPECT_FLOAT_EQ(c.rope_scaling.attention_factor, 0.0f);  // derived by the kernels
      break;
  }
  if (v.arch == Arch::kQwen2) {
    EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  }

  const ModelWeights& w = m.weights;
  EXPECT_EQ(w.tok_embd.dtype, v.dtype);
  EXPECT_EQ(w.layers[1].w_down.dtype, v.dtype);
  EXPECT_EQ(w.layers[1].w_down.rows, 64);
  EXPECT_EQ(w.layers[1].w_down.cols, 96);
  EXPECT_EQ(w.out_norm.dtype, DType::kF32);
  EXPECT_EQ(w.layers[0].attn_norm.dtype, DType::kF32);
  if (v.tied) {
    EXPECT_EQ(w.output.data, w.tok_embd.data);
  } else {
    EXPECT_NE(w.output.data, w.tok_embd.data);
  }
  EXPECT_EQ(w.layers[0].bq.empty(), !v.qkv_bias);
  EXPECT_EQ(w.layers[0].q_norm.empty(), !v.qk_norm);
  // Norm weights are ~1 + N(0, 0.1): catches a wrong conversion of bf16/fp16 vectors.
  for (int64_t i = 0; i < 64; ++i) {
    EXPECT_GT(w.layers[0].ffn_norm.f32()[i], 0.3f);
    EXPECT_LT(w.layers[0].ffn_norm.f32()[i], 1.7f);
  }
  ASSERT_NE(m.tokenizer, nullptr) << "tokenizer.json is present";
  EXPECT_LE(m.tokenizer->vocab_size(), c.vocab_size);
}

// Compares rows [row0, row0 + n) of the golden with `got` ([n, vocab]); returns max abs diff.
double compare_rows(const Golden& g, int row0, int n, std::span<const float> got, double tol,
                    const std::string& what) {
  EXPECT_EQ(got.size(), size_t(n) * g.vocab) << what;
  if (got.size() != size_t(n) * g.vocab) return INFINITY;
  std::string why;
  const float* ref = g.logits.data() + size_t(row0) * g.vocab;
  const double err = test::max_abs_diff(got.data(), ref, got.size(), &why);
  EXPECT_LE(err, tol) << what << " " << why;
  for (int t = 0; t < n; ++t) {
    const float* a = got.data() + size_t(t) * g.vocab;
    const float* b = ref + size_t(t) * g.vocab;
    const int top_a = int(std::max_element(a, a + g.vocab) - a);
    const int top_b = int(std::max_element(b, b + g.vocab) - b);
    EXPECT_EQ(top_a, top_b) << what << ": top-1 differs at position " << row0 + t;
  }
  return err;
}

TEST_P(HfVariantTest, ForwardMatchesGolden) {
  const Variant& v = GetParam();
  Result<Model> r = load_hf_model(kTinyDir + v.name);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Golden g = read_golden(kTinyDir + v.name + "/golden_logits.bin");
  ASSERT_EQ(g.vocab, r->config.vocab_size);
  const int n = int(g.ids.size());
  double scale = 0.0;
  for (float x : g.logits) scale = std::max(scale, double(std::fabs(x)));
  const double tol = v.rel_tol * scale;

  SessionOptions opts;
  opts.max_context = 64;
  opts.num_threads = 2;
  auto s = Session::create(*r, opts);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  Session& sess = **s;

  // One prefill of the whole sequence.
  auto all = sess.forward(g.ids, Logits::kAll);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  const double err_prefill = compare_rows(g, 0, n, *all, tol, std::string(v.name) + " prefill");
  EXPECT_EQ(sess.pos(), n);

  // Prefill of the first half, then one token at a time (reads K/V from the cache).
  sess.reset();
  const int half = n / 2;
  auto first = sess.forward(std::span<const int>(g.ids.data(), size_t(half)), Logits::kAll);
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  double err_decode = compare_rows(g, 0, half, *first, tol, std::string(v.name) + " half prefill");
  for (int t = half; t < n; ++t) {
    auto step = sess.forward(std::span<const int>(g.ids.data() + t, 1), Logits::kLast);
    ASSERT_TRUE(step.is_ok()) << step.status().message();
    err_decode = std::max(err_decode, compare_rows(g, t, 1, *step, tol,
                                                   fmt::format("{} decode pos {}", v.name, t)));
  }
  EXPECT_EQ(sess.pos(), n);
  std::printf("[ %s ] max |logit| %.3f  prefill max abs err %.3g (%.2g rel)  decode %.3g (%.2g rel)  "
              "tol %.2g rel\n",
              v.name, scale, err_prefill, err_prefill / scale, err_decode, err_decode / scale,
              v.rel_tol);
}

INSTANTIATE_TEST_SUITE_P(TinyHf, HfVariantTest, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(HfModel, LoadModelDispatchesDirectories) {
  Result<Model> r = load_model(kTinyDir + "qwen2_f16");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->format, "hf");
  EXPECT_EQ(r->config.arch, Arch::kQwen2);
}

TEST(HfModel, MissingTokenizerLeavesItNull) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  fs::remove(dir + "/tokenizer.json");
  Result<Model> r = load_hf_model(dir);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->tokenizer, nullptr);
}

// Llama with attention_bias: q/k/v biases are loaded; an all-zero o_proj bias is accepted. With
// zero biases the logits must still match the golden of the bias-free model.
TEST(HfModel, LlamaAttentionBias) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  json c = read_json(dir + "/config.json");
  c["attention_bias"] = true;
  write_json(dir + "/config.json", c);
  auto ts = read_all(dir + "/model.safetensors");
  for (int i = 0; i < 2; ++i) {
    const std::string p = fmt::format("model.layers.{}.self_attn.", i);
    ts.push_back({p + "q_proj.bias", "F32", {64}, std::string(64 * 4, '\0')});
    ts.push_back({p + "k_proj.bias", "F32", {32}, std::string(32 * 4, '\0')});
    ts.push_back({p + "v_proj.bias", "F32", {32}, std::string(32 * 4, '\0')});
    ts.push_back({p + "o_proj.bias", "F32", {64}, std::string(64 * 4, '\0')});
  }
  write_tensors(dir + "/model.safetensors", ts);
  Result<Model> r = load_hf_model(dir);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_TRUE(r->config.qkv_bias);
  EXPECT_FALSE(r->weights.layers[1].bv.empty());

  const Golden g = read_golden(kTinyDir + "llama_f32/golden_logits.bin");
  auto s = Session::create(*r, SessionOptions{64, 2, nullptr});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  auto out = (*s)->forward(g.ids, Logits::kAll);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  compare_rows(g, 0, int(g.ids.size()), *out, 1e-4 * 6.5, "llama_f32 with zero biases");
}

// ---------------------------------------------------------------------------------------------
// config.json errors

TEST(HfModelErrors, MissingConfig) {
  TempDir tmp;
  expect_load_error(tmp.path(), {tmp.path(), "config.json"});
}

TEST(HfModelErrors, NotADirectory) {
  expect_load_error("/nonexistent/seer_model_dir", {"/nonexistent/seer_model_dir"});
}

// The llama_f32 variant with one of its JSON files (config.json, tokenizer.json) edited must fail to load
// with an error holding every needle.
void expect_edit_error(const std::string& file, const std::function<void(json&)>& edit,
                       const std::vector<std::string>& needles) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  json j = read_json(dir + "/" + file);
  edit(j);
  write_json(dir + "/" + file, j);
  expect_load_error(dir, needles);
}

TEST(HfModelErrors, UnknownArchitecture) {
  expect_edit_error("config.json", [](json& c) { c["architectures"] = {"MistralForCausalLM"}; },
                    {"config.json", "unsupported architecture", "MistralForCausalLM"});
}

TEST(HfModelErrors, MissingKey) {
  expect_edit_error("config.json", [](json& c) { c.erase("hidden_size"); }, {"config.json", "missing key", "hidden_size"});
}

TEST(HfModelErrors, WrongKeyType) {
  expect_edit_error("config.json", [](json& c) { c["num_hidden_layers"] = "two"; },
                    {"config.json", "num_hidden_layers", "\"two\""});
}

// Counts and ids taken from the files bound nothing they allocate before the tensors are checked
// (found by fuzzing: each of these once asked for gigabytes up front).
TEST(HfModelErrors, LayerCountBeyondTheTensors) {
  expect_edit_error("config.json", [](json& c) { c["num_hidden_layers"] = 1 << 30; },
                    {"model.safetensors", "missing tensor", "model.layers."});
}

TEST(HfModelErrors, TokenIdFarBeyondTheVocabulary) {
  expect_edit_error("tokenizer.json", [](json& t) { t["model"]["vocab"].begin().value() = 2147483647; },
                    {"tokenizer.json", "2147483647", "above the largest supported"});
}

TEST(HfModelErrors, TokenizerBeyondTheModelsVocabulary) {
  const int vocab = read_json(kTinyDir + "llama_f32/config.json")["vocab_size"].get<int>();
  expect_edit_error("tokenizer.json",
                    [&](json& t) {
                      t["added_tokens"].push_back(json{{"id", vocab + 10}, {"content", "<extra>"}, {"special", true}});
                    },
                    {"tokenizer.json", std::to_string(vocab + 11) + " token ids", "vocab_size"});
}

TEST(HfModelErrors, InvalidConfigJson) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  write_text(dir + "/config.json", "{\"architectures\": [\"LlamaForCausalLM\"], ");
  expect_load_error(dir, {"config.json", "invalid JSON"});
}

// 300,000 levels of nesting overflowed the stack when the parsed value was copied (fuzzing); every
// JSON the loaders read now stops at kMaxJsonDepth.
std::string deeply_nested(int depth) { return std::string(size_t(depth), '[') + std::string(size_t(depth), ']'); }

TEST(HfModelErrors, DeeplyNestedJson) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  write_text(dir + "/config.json", "{\"architectures\": " + deeply_nested(300000) + "}");
  expect_load_error(dir, {"config.json", "invalid JSON", "nested deeper than"});
  TempDir tmp2;
  const std::string dir2 = copy_variant(tmp2, "llama_f32");
  json t = read_json(dir2 + "/tokenizer.json");
  write_text(dir2 + "/tokenizer.json", t.dump().substr(0, t.dump().size() - 1) + ", \"x\": " + deeply_nested(300000) + "}");
  expect_load_error(dir2, {"tokenizer.json", "nested deeper than"});
}

TEST(HfModelErrors, UnsupportedRopeScaling) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  json c = read_json(dir + "/config.json");
  c["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  write_json(dir + "/config.json", c);
  expect_load_error(dir, {"config.json", "rope_scaling", "dynamic"});
}

TEST(HfModelErrors, Llama3RopeScalingMissingField) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_bf16");
  json c = read_json(dir + "/config.json");
  c["rope_scaling"].erase("low_freq_factor");
  write_json(dir + "/config.json", c);
  expect_load_error(dir, {"config.json", "rope_scaling.low_freq_factor"});
}

TEST(HfModelErrors, SlidingWindow) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "qwen2_f16");
  json c = read_json(dir + "/config.json");
  c["use_sliding_window"] = true;
  write_json(dir + "/config.json", c);
  expect_load_error(dir, {"config.json", "use_sliding_window"});
}

TEST(HfModelErrors, HeadsNotMultipleOfKvHeads) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  json c = read_json(dir + "/config.json");
  c["num_key_value_heads"] = 3;
  write_json(dir + "/config.json", c);
  expect_load_error(dir, {"config.json", "num_key_value_heads", "3"});
}

// ---------------------------------------------------------------------------------------------
// safetensors errors (reader directly, then through the loader)

TEST(SafetensorsErrors, FileShorterThanHeaderLength) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_text(p, "abc");
  expect_open_error(p, {p, "3 bytes"});
}

TEST(SafetensorsErrors, TruncatedHeader) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  // The length field matches the file, but the JSON stops in the middle.
  write_raw_safetensors(p, "{\"w\": {\"dtype\": \"F32\", \"sha", "");
  expect_open_error(p, {p, "invalid JSON"});
}

TEST(SafetensorsErrors, DeeplyNestedHeader) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(p, "{\"__metadata__\": " + deeply_nested(300000) + "}", "");
  expect_open_error(p, {p, "invalid JSON", "nested deeper than"});
}

TEST(SafetensorsErrors, OverlappingTensors) {  // (accepted before; found by fuzzing)
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(p,
                        R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                        R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                        std::string(16, '\0'));
  expect_open_error(p, {p, "'a' [0, 16)", "'b' [8, 16)", "overlap"});
}

TEST(SafetensorsErrors, HeaderLengthBeyondFile) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(p, "{}", "", 1000000);
  expect_open_error(p, {p, "1000000", "beyond the file"});
}

TEST(SafetensorsErrors, OffsetsBeyondData) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(
      p, R"({"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}})",
      std::string(16, '\0'));
  expect_open_error(p, {p, "'w'", "4096", "beyond the data section", "16 bytes"});
}

TEST(SafetensorsErrors, OffsetsInconsistentWithShape) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(p, R"({"w": {"dtype": "BF16", "shape": [3, 4], "data_offsets": [0, 16]}})",
                        std::string(32, '\0'));
  expect_open_error(p, {p, "'w'", "16 bytes", "shape [3, 4] of BF16 needs 24"});
}

TEST(SafetensorsErrors, WrongDtypeString) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(p, R"({"w": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})",
                        std::string(8, '\0'));
  expect_open_error(p, {p, "'w'", "F33"});
}

TEST(SafetensorsErrors, DuplicateName) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(p,
                        R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                        R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                        std::string(8, '\0'));
  expect_open_error(p, {p, "'w'", "twice"});
}

TEST(SafetensorsErrors, NegativeShape) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  write_raw_safetensors(p, R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
                        std::string(8, '\0'));
  expect_open_error(p, {p, "'w'", "-2"});
}

TEST(SafetensorsReader, ParsesTensorsAndIgnoresMetadata) {
  TempDir tmp;
  const std::string p = tmp.file("a.safetensors");
  const float vals[3] = {1.5f, -2.0f, 0.25f};
  write_raw_safetensors(p,
                        R"({"__metadata__": {"format": "pt"},)"
                        R"( "w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},)"
                        R"( "i": {"dtype": "I64", "shape": [1, 1], "data_offsets": [12, 20]}})",
                        std::string(reinterpret_cast<const char*>(vals), 12) + std::string(8, '\0'));
  auto f = SafetensorsFile::open(p);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  ASSERT_EQ((*f)->tensors().size(), 2u);
  const SafetensorsTensor* w = (*f)->find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::kF32);
  EXPECT_EQ(w->shape, std::vector<int64_t>{3});
  float got[3];
  std::memcpy(got, w->data, 12);
  EXPECT_EQ(got[2], 0.25f);
  const SafetensorsTensor* i = (*f)->find("i");
  ASSERT_NE(i, nullptr);
  EXPECT_FALSE(i->dtype.has_value());  // listed, not usable as a weight
  EXPECT_EQ(i->dtype_name, "I64");
  EXPECT_EQ((*f)->find("__metadata__"), nullptr);
}

TEST(HfModelErrors, BrokenSafetensorsThroughLoader) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  write_raw_safetensors(dir + "/model.safetensors", "{}", "", 123456789);
  expect_load_error(dir, {"model.safetensors", "123456789", "beyond the file"});
}

TEST(HfModelErrors, MisShapedTensor) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  auto ts = read_all(dir + "/model.safetensors");
  for (RawTensor& t : ts) {
    if (t.name == "model.layers.1.self_attn.q_proj.weight") {
      t.shape = {32, 64};
      t.bytes.resize(32 * 64 * 4);
    }
  }
  write_tensors(dir + "/model.safetensors", ts);
  expect_load_error(dir, {"model.safetensors", "model.layers.1.self_attn.q_proj.weight",
                          "expected shape [64, 64]", "got [32, 64]"});
}

TEST(HfModelErrors, MissingTensor) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  auto ts = read_all(dir + "/model.safetensors");
  std::erase_if(ts, [](const RawTensor& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  write_tensors(dir + "/model.safetensors", ts);
  expect_load_error(dir, {"model.safetensors", "missing tensor", "model.layers.1.mlp.up_proj.weight"});
}

TEST(HfModelErrors, MissingLmHeadWhenUntied) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  auto ts = read_all(dir + "/model.safetensors");
  std::erase_if(ts, [](const RawTensor& t) { return t.name == "lm_head.weight"; });
  write_tensors(dir + "/model.safetensors", ts);
  expect_load_error(dir, {"missing tensor", "lm_head.weight"});
}

TEST(HfModelErrors, UnsupportedTensorDtype) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  auto ts = read_all(dir + "/model.safetensors");
  for (RawTensor& t : ts)
    if (t.name == "model.norm.weight") t.dtype = "I32";  // same byte size as F32
  write_tensors(dir + "/model.safetensors", ts);
  expect_load_error(dir, {"model.safetensors", "model.norm.weight", "I32"});
}

TEST(HfModelErrors, NonZeroOutputProjectionBias) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  auto ts = read_all(dir + "/model.safetensors");
  const float one = 1.0f;
  std::string bias(64 * 4, '\0');
  std::memcpy(bias.data(), &one, 4);
  ts.push_back({"model.layers.0.self_attn.o_proj.bias", "F32", {64}, bias});
  write_tensors(dir + "/model.safetensors", ts);
  expect_load_error(dir, {"model.layers.0.self_attn.o_proj.bias", "not supported"});
}

TEST(HfModelErrors, ShardListedButAbsent) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "qwen2_f16");
  fs::remove(dir + "/model-00002-of-00002.safetensors");
  expect_load_error(dir, {"model.safetensors.index.json", "model-00002-of-00002.safetensors"});
}

TEST(HfModelErrors, IndexNamesTensorAbsentFromShard) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "qwen2_f16");
  json idx = read_json(dir + "/model.safetensors.index.json");
  idx["weight_map"]["model.norm.weight"] = "model-00002-of-00002.safetensors";
  // model.norm.weight lives in the first shard; pointing the index elsewhere must be caught.
  const bool in_first = idx["weight_map"]["model.embed_tokens.weight"] ==
                        "model-00001-of-00002.safetensors";
  ASSERT_TRUE(in_first);
  auto second = read_all(dir + "/model-00002-of-00002.safetensors");
  bool norm_in_second = false;
  for (const RawTensor& t : second) norm_in_second |= t.name == "model.norm.weight";
  if (norm_in_second) idx["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
  write_json(dir + "/model.safetensors.index.json", idx);
  expect_load_error(dir, {"model.safetensors.index.json", "model.norm.weight", "does not contain"});
}

TEST(HfModelErrors, NoWeights) {
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  fs::remove(dir + "/model.safetensors");
  expect_load_error(dir, {dir, "model.safetensors"});
}

// ---------------------------------------------------------------------------------------------
// Files that are not regular files

// `file` of a copy of `variant` replaced by a FIFO: the load fails promptly, naming it.
void expect_fifo_refused(const std::string& variant, const std::string& file) {
  SCOPED_TRACE(variant + "/" + file);
  TempDir tmp;
  const std::string dir = copy_variant(tmp, variant);
  const std::string path = dir + "/" + file;
  fs::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  const Status s = test::run_against_fifo(path, [&] { return load_hf_model(dir).status(); });
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find(path + ": not a regular file"), std::string::npos) << s.message();
}

// A safetensors file was opened before any check: a FIFO blocked forever, a directory gave
// "mmap failed: No such device".
TEST(HfModelErrors, FifoInPlaceOfAFile) {
  expect_fifo_refused("llama_f32", "config.json");
  expect_fifo_refused("llama_f32", "tokenizer.json");
  expect_fifo_refused("llama_f32", "model.safetensors");
  expect_fifo_refused("qwen2_f16", "model.safetensors.index.json");
  expect_fifo_refused("qwen2_f16", "model-00002-of-00002.safetensors");
  TempDir tmp;
  const std::string fifo = tmp.file("a.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const Status s = test::run_against_fifo(fifo, [&] { return SafetensorsFile::open(fifo).status(); });
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find(fifo + ": not a regular file"), std::string::npos) << s.message();
}

TEST(HfModelErrors, DeviceOrDirectoryInPlaceOfAFile) {
  for (const char* file : {"config.json", "tokenizer.json", "model.safetensors"}) {
    SCOPED_TRACE(file);
    TempDir tmp;
    const std::string dir = copy_variant(tmp, "llama_f32");
    fs::remove(dir + "/" + file);
    fs::create_symlink("/dev/zero", dir + "/" + file);
    expect_load_error(dir, {dir + "/" + file + ": not a regular file"});
  }
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  fs::remove(dir + "/model.safetensors");
  fs::create_directory(dir + "/model.safetensors");
  expect_load_error(dir, {dir + "/model.safetensors: not a regular file (a directory)"});
}

// ---------------------------------------------------------------------------------------------
// Float parameters: checked for finiteness and range before they are narrowed to float (1e39
// became inf, 1e-39 a subnormal, and the model loaded with NaN or garbage perplexity).

TEST(HfModelErrors, FloatParametersCheckedBeforeNarrowing) {
  auto yarn = [](json extra) {
    return [extra](json& c) {
      c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}};
      for (auto it = extra.begin(); it != extra.end(); ++it) c["rope_scaling"][it.key()] = it.value();
    };
  };
  auto llama3 = [](json extra) {
    return [extra](json& c) {
      c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
      for (auto it = extra.begin(); it != extra.end(); ++it) c["rope_scaling"][it.key()] = it.value();
    };
  };
  expect_edit_error("config.json", yarn({{"factor", 1e39}}), {"config.json", "'rope_scaling.factor'", "1e+39", "[1e-06, 1000000]"});
  expect_edit_error("config.json", yarn({{"attention_factor", 1e39}}), {"'rope_scaling.attention_factor'", "1e+39", "(0, 1000]"});
  expect_edit_error("config.json", yarn({{"beta_fast", -32}}), {"'rope_scaling.beta_fast'", "value -32", "(0, 1000000]"});
  expect_edit_error("config.json", yarn({{"beta_slow", 1e7}}), {"'rope_scaling.beta_slow'", "value 10000000"});
  expect_edit_error("config.json", yarn({{"mscale", -100}, {"mscale_all_dim", 1}}),
                    {"'rope_scaling.mscale / mscale_all_dim (the attention factor)'", "out of range"});
  expect_edit_error("config.json", llama3({{"factor", 1e-39}}), {"'rope_scaling.factor'", "value 1e-39"});
  expect_edit_error("config.json", llama3({{"low_freq_factor", 0}}), {"'rope_scaling.low_freq_factor'", "value 0"});
  expect_edit_error("config.json", llama3({{"high_freq_factor", 1e39}}), {"'rope_scaling.high_freq_factor'", "1e+39"});
  expect_edit_error("config.json", [](json& c) { c["rms_norm_eps"] = 1e39; }, {"'rms_norm_eps'", "1e+39", "(0, 1)"});
  expect_edit_error("config.json", [](json& c) { c["rms_norm_eps"] = 1e-50; }, {"'rms_norm_eps'", "1e-50", "too small for a float"});
  expect_edit_error("config.json", [](json& c) { c["rope_theta"] = 1e-30; }, {"'rope_theta'", "1e-30", "(1, 1000000000000]"});

  // transformers' `or 32` / `or 1`: a beta of 0 means the default, and still loads.
  TempDir tmp;
  const std::string dir = copy_variant(tmp, "llama_f32");
  json c = read_json(dir + "/config.json");
  yarn({{"beta_fast", 0}, {"beta_slow", 0}, {"attention_factor", 0.5}})(c);
  write_json(dir + "/config.json", c);
  Result<Model> r = load_hf_model(dir);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->config.rope_scaling.beta_fast, 32.0f);
  EXPECT_EQ(r->config.rope_scaling.beta_slow, 1.0f);
  EXPECT_EQ(r->config.rope_scaling.attention_factor, 0.5f);
}

// ---------------------------------------------------------------------------------------------
// Tensors the loader does not use were dropped silently: num_hidden_layers 29 over 30 layers of
// tensors loaded, and a q_proj.bias without attention_bias was ignored.

TEST(HfModelErrors, TensorsOfLayersBeyondTheCount) {
  expect_edit_error("config.json", [](json& c) { c["num_hidden_layers"] = 1; },
                    {"model.safetensors", "tensor 'model.layers.1.", "is of layer 1", "num_hidden_layers is 1",
                     "config.json", "tensors of layers >= 1: 9"});
}

TEST(HfModelErrors, UnusedTensors) {
  auto with_tensors = [](const std::string& variant, const std::vector<RawTensor>& extra) {
    auto tmp = std::make_unique<TempDir>();
    const std::string dir = copy_variant(*tmp, variant);
    auto ts = read_all(dir + "/model.safetensors");
    ts.insert(ts.end(), extra.begin(), extra.end());
    write_tensors(dir + "/model.safetensors", ts);
    return std::pair{std::move(tmp), dir};
  };
  {
    auto [tmp, dir] = with_tensors("llama_f32", {{"model.layers.0.self_attn.q_proj.bias", "F32", {64}, std::string(256, '\1')}});
    expect_load_error(dir, {"model.safetensors", "tensor 'model.layers.0.self_attn.q_proj.bias' is not used",
                            "unused tensors: 1", "attention_bias is not true in", "config.json"});
  }
  {
    auto [tmp, dir] = with_tensors("llama_f32", {{"model.foo.weight", "F32", {2}, std::string(8, '\0')},
                                                 {"model.layers.1.mlp.experts.weight", "I64", {1}, std::string(8, '\0')}});
    expect_load_error(dir, {"tensor 'model.foo.weight' is not used", "unused tensors: 2"});
  }
  {  // a shard holding a tensor that the index does not list
    TempDir tmp;
    const std::string dir = copy_variant(tmp, "qwen2_f16");
    const std::string shard = dir + "/model-00002-of-00002.safetensors";
    auto ts = read_all(shard);
    ts.push_back({"model.stray.weight", "F16", {4}, std::string(8, '\0')});
    write_tensors(shard, ts);
    expect_load_error(dir, {"model-00002-of-00002.safetensors", "tensor 'model.stray.weight' is not used"});
  }
  // Left in real checkpoints and unused by design: the tied copy of the embeddings, and the RoPE
  // inv_freq buffers older transformers saved.
  {
    auto ts = read_all(kTinyDir + "llama_bf16/model.safetensors");
    std::vector<RawTensor> extra;
    for (const RawTensor& t : ts)
      if (t.name == "model.embed_tokens.weight") extra.push_back({"lm_head.weight", t.dtype, t.shape, t.bytes});
    ASSERT_EQ(extra.size(), 1u);
    for (int i = 0; i < 2; ++i)
      extra.push_back({fmt::format("model.layers.{}.self_attn.rotary_emb.inv_freq", i), "F32", {8}, std::string(32, '\0')});
    auto [tmp, dir] = with_tensors("llama_bf16", extra);
    Result<Model> r = load_hf_model(dir);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r->weights.output.data, r->weights.tok_embd.data);
  }
}

// ---------------------------------------------------------------------------------------------
// Messages that named the wrong key or value

TEST(HfModelErrors, DerivedHeadDimZeroNamesBothKeys) {
  // Was "key 'head_dim' must be a positive integer, got 0", though config.json has no head_dim.
  expect_edit_error("config.json", [](json& c) { c["num_attention_heads"] = 1 << 20; },
                    {"config.json", "'head_dim' is absent", "hidden_size (64) / num_attention_heads (1048576) is 0"});
}

TEST(HfModelErrors, Uint64AboveInt64PrintedAsWritten) {
  // Was "got -1": the value wrapped when read as int64.
  expect_edit_error("config.json", [](json& c) { c["num_hidden_layers"] = UINT64_MAX; },
                    {"config.json", "'num_hidden_layers'", "18446744073709551615"});
  expect_edit_error("config.json", [](json& c) { c["hidden_size"] = uint64_t(1) << 40; },
                    {"'hidden_size'", "1099511627776"});
  expect_edit_error("config.json", [](json& c) { c["intermediate_size"] = 4096.5; },
                    {"'intermediate_size'", "4096.5"});
}

}  // namespace
}  // namespace seer
