// Hugging Face model directory loader: config.json + model.safetensors (or shards listed in
// model.safetensors.index.json) + tokenizer.json, for LlamaForCausalLM, Qwen2ForCausalLM and
// Qwen3ForCausalLM.
//  * Matrices stay zero-copy in the file mapping with the file's dtype (F32/F16/BF16), row-major
//    [out_features, in_features] exactly as PyTorch's nn.Linear stores them.
//  * Norm weights and biases are converted to owned f32 (Model::alloc).
//  * HF q_proj/k_proj rows are already in rotate_half order (model.h): no permutation.
//  * rope_scaling follows transformers' modeling_rope_utils (_compute_llama3_parameters,
//    _compute_yarn_parameters); the numbers are kept as written, the kernels derive inv_freq.
#include <seer/model.h>
#include <seer/tokenizer.h>

#include "core/file.h"
#include "io/config_checks.h"
#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace seer {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Typed access to one JSON object with errors naming the file and the key ("rope_scaling.factor").
class JsonReader {
 public:
  JsonReader(std::string path, const json& j, std::string prefix = "")
      : path_(std::move(path)), j_(j), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  Result<int64_t> get_int(const char* key) const {
    if (!has(key)) return missing(key);
    return as_int(key);
  }
  Result<int64_t> get_int_or(const char* key, int64_t dflt) const {
    return has(key) ? as_int(key) : Result<int64_t>(dflt);
  }
  Result<double> get_float(const char* key) const {
    if (!has(key)) return missing(key);
    return as_float(key);
  }
  Result<double> get_float_or(const char* key, double dflt) const {
    return has(key) ? as_float(key) : Result<double>(dflt);
  }
  // `value` (read from `key`, or its default) checked against `range` before narrowing to float.
  Result<float> checked(const char* key, double value, FloatRange range) const {
    return checked_float(path_, name(key), value, range);
  }
  Result<bool> get_bool_or(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    const json& v = j_.at(key);
    if (!v.is_boolean()) return bad(key, "a boolean", v);
    return v.get<bool>();
  }
  Result<std::string> get_string_or(const char* key, const std::string& dflt) const {
    if (!has(key)) return dflt;
    const json& v = j_.at(key);
    if (!v.is_string()) return bad(key, "a string", v);
    return v.get<std::string>();
  }
  // Positive integer that must fit an int.
  Result<int> get_dim(const char* key) const { return check_dim(key, get_int(key)); }
  Result<int> get_dim_or(const char* key, int64_t dflt) const {
    return check_dim(key, get_int_or(key, dflt));
  }

  std::string name(const char* key) const { return prefix_ + key; }
  const std::string& path() const { return path_; }

 private:
  Status missing(const char* key) const {
    return Status::error("{}: missing key '{}'", path_, name(key));
  }
  Status bad(const char* key, const char* what, const json& v) const {
    return Status::error("{}: key '{}' must be {}, got {}", path_, name(key), what, v.dump());
  }
  Result<int64_t> as_int(const char* key) const {
    const json& v = j_.at(key);
    // (get<int64_t> of a uint64 above 2^63 wraps: 18446744073709551615 became -1)
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
      return Status::error("{}: key '{}' is out of range, got {}", path_, name(key), v.dump());
    if (v.is_number_integer()) return v.get<int64_t>();
    // Some exporters write integral values as floats ("4096.0").
    if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
        std::fabs(v.get<double>()) < 9e15)
      return int64_t(v.get<double>());
    return bad(key, "an integer", v);
  }
  Result<double> as_float(const char* key) const {
    const json& v = j_.at(key);
    if (!v.is_number()) return bad(key, "a number", v);
    return v.get<double>();
  }
  Result<int> check_dim(const char* key, Result<int64_t> r) const {
    if (!r) return r.status();
    if (*r <= 0 || *r > (int64_t(1) << 30))  // (the value as written: "4096.0" stays "4096.0")
      return Status::error("{}: key '{}' must be a positive integer of at most 2^30, got {}", path_, name(key),
                           has(key) ? j_.at(key).dump() : std::to_string(*r));
    return int(*r);
  }

  std::string path_;
  const json& j_;
  std::string prefix_;
};

Result<RopeScaling> parse_rope_scaling(const JsonReader& cfg, const json& rs, int max_position) {
  RopeScaling s;
  if (rs.is_null()) return s;
  const std::string& path = cfg.path();
  if (!rs.is_object())
    return Status::error("{}: key 'rope_scaling' must be an object or null, got {}", path, rs.dump());
  JsonReader r(path, rs, "rope_scaling.");
  std::string type;
  if (r.has("rope_type")) {
    SEER_ASSIGN_OR_RETURN(type, r.get_string_or("rope_type", ""));
  } else if (r.has("type")) {
    SEER_ASSIGN_OR_RETURN(type, r.get_string_or("type", ""));
  } else {
    return Status::error("{}: key 'rope_scaling' has neither 'rope_type' nor 'type'", path);
  }
  if (type == "default") return s;
  if (type == "llama3") {
    s.type = RopeScalingType::kLlama3;
    SEER_ASSIGN_OR_RETURN(double factor, r.get_float("factor"));
    SEER_ASSIGN_OR_RETURN(double lo, r.get_float("low_freq_factor"));
    SEER_ASSIGN_OR_RETURN(double hi, r.get_float("high_freq_factor"));
    SEER_ASSIGN_OR_RETURN(int orig, r.get_dim("original_max_position_embeddings"));
    SEER_ASSIGN_OR_RETURN(s.factor, r.checked("factor", factor, {1e-6, 1e6}));
    SEER_ASSIGN_OR_RETURN(s.low_freq_factor, r.checked("low_freq_factor", lo, {0.0, 1e6, /*lo_open=*/true}));
    SEER_ASSIGN_OR_RETURN(s.high_freq_factor, r.checked("high_freq_factor", hi, {0.0, 1e6, /*lo_open=*/true}));
    if (!(hi > lo))
      return Status::error(
          "{}: rope_scaling.high_freq_factor ({}) must be greater than low_freq_factor ({})", path,
          hi, lo);
    s.original_max_position = orig;
    return s;
  }
  if (type == "yarn") {
    s.type = RopeScalingType::kYarn;
    SEER_ASSIGN_OR_RETURN(int orig, r.get_dim_or("original_max_position_embeddings", max_position));
    // transformers derives a missing factor from the two context lengths.
    double factor = double(max_position) / orig;
    if (r.has("factor")) {
      SEER_ASSIGN_OR_RETURN(factor, r.get_float("factor"));
    }
    // (a factor derived from the two lengths is checked under the same key)
    SEER_ASSIGN_OR_RETURN(s.factor, r.checked("factor", factor, {1e-6, 1e6}));
    // `or 32` / `or 1` in transformers: a 0 counts as absent.
    SEER_ASSIGN_OR_RETURN(double beta_fast, r.get_float_or("beta_fast", 32.0));
    SEER_ASSIGN_OR_RETURN(double beta_slow, r.get_float_or("beta_slow", 1.0));
    if (beta_fast == 0.0) beta_fast = 32.0;
    if (beta_slow == 0.0) beta_slow = 1.0;
    const FloatRange beta{0.0, 1e6, /*lo_open=*/true};
    SEER_ASSIGN_OR_RETURN(s.beta_fast, r.checked("beta_fast", beta_fast, beta));
    SEER_ASSIGN_OR_RETURN(s.beta_slow, r.checked("beta_slow", beta_slow, beta));
    SEER_ASSIGN_OR_RETURN(bool truncate, r.get_bool_or("truncate", true));
    if (!truncate)
      return Status::error("{}: key 'rope_scaling.truncate' = false is not supported", path);
    auto mscale_of = [&](double m) { return factor <= 1.0 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; };
    const FloatRange attention{0.0, 1e3, /*lo_open=*/true};
    s.attention_factor = 0.0f;  // 0: the kernels derive 0.1*ln(factor)+1
    if (r.has("attention_factor")) {
      SEER_ASSIGN_OR_RETURN(double attention_factor, r.get_float("attention_factor"));
      SEER_ASSIGN_OR_RETURN(s.attention_factor, r.checked("attention_factor", attention_factor, attention));
    } else if (r.has("mscale") && r.has("mscale_all_dim")) {
      SEER_ASSIGN_OR_RETURN(double m, r.get_float("mscale"));
      SEER_ASSIGN_OR_RETURN(double m_all, r.get_float("mscale_all_dim"));
      if (m != 0.0 && m_all != 0.0) {
        // (named after both keys: a mscale of -100 or 1e308 gives a negative or infinite ratio)
        SEER_ASSIGN_OR_RETURN(s.attention_factor,
                              r.checked("mscale / mscale_all_dim (the attention factor)", mscale_of(m) / mscale_of(m_all),
                                        attention));
      }
    }
    s.original_max_position = orig;
    return s;
  }
  return Status::error(
      "{}: rope_scaling type '{}' is not supported (supported: llama3, yarn, or null)", path, type);
}

Result<ModelConfig> parse_config(const std::string& path, const json& j) {
  JsonReader r(path, j);
  ModelConfig c;
  if (!j.contains("architectures") || !j["architectures"].is_array() ||
      j["architectures"].empty() || !j["architectures"][0].is_string())
    return Status::error("{}: missing key 'architectures' (a list of strings)", path);
  const std::string arch = j["architectures"][0].get<std::string>();
  if (arch == "LlamaForCausalLM") {
    c.arch = Arch::kLlama;
  } else if (arch == "Qwen2ForCausalLM") {
    c.arch = Arch::kQwen2;
  } else if (arch == "Qwen3ForCausalLM") {
    c.arch = Arch::kQwen3;
  } else {
    return Status::error(
        "{}: unsupported architecture '{}' in 'architectures' (supported: LlamaForCausalLM, "
        "Qwen2ForCausalLM, Qwen3ForCausalLM)",
        path, arch);
  }

  SEER_ASSIGN_OR_RETURN(c.hidden_size, r.get_dim("hidden_size"));
  SEER_ASSIGN_OR_RETURN(c.intermediate_size, r.get_dim("intermediate_size"));
  SEER_ASSIGN_OR_RETURN(c.num_layers, r.get_dim("num_hidden_layers"));
  SEER_ASSIGN_OR_RETURN(c.num_qo_heads, r.get_dim("num_attention_heads"));
  SEER_ASSIGN_OR_RETURN(c.num_kv_heads, r.get_dim_or("num_key_value_heads", c.num_qo_heads));
  // transformers' Qwen3Config defaults head_dim to 128; Llama and Qwen2 derive it.
  const int64_t default_head_dim = c.arch == Arch::kQwen3 ? 128 : c.hidden_size / c.num_qo_heads;
  if (!r.has("head_dim") && default_head_dim == 0)
    return Status::error(
        "{}: key 'head_dim' is absent and the head_dim derived from hidden_size ({}) / num_attention_heads ({}) is 0",
        path, c.hidden_size, c.num_qo_heads);
  SEER_ASSIGN_OR_RETURN(c.head_dim, r.get_dim_or("head_dim", default_head_dim));
  SEER_ASSIGN_OR_RETURN(c.max_position, r.get_dim("max_position_embeddings"));
  SEER_ASSIGN_OR_RETURN(c.vocab_size, r.get_dim("vocab_size"));
  SEER_ASSIGN_OR_RETURN(double eps, r.get_float("rms_norm_eps"));
  SEER_ASSIGN_OR_RETURN(double theta, r.get_float_or("rope_theta", 10000.0));
  SEER_ASSIGN_OR_RETURN(c.tied_embeddings, r.get_bool_or("tie_word_embeddings", false));
  SEER_ASSIGN_OR_RETURN(c.rms_eps, r.checked("rms_norm_eps", eps, {0.0, 1.0, /*lo_open=*/true, /*hi_open=*/true}));
  SEER_ASSIGN_OR_RETURN(c.rope_theta, r.checked("rope_theta", theta, {1.0, 1e12, /*lo_open=*/true}));
  if (c.num_qo_heads % c.num_kv_heads != 0)
    return Status::error(
        "{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", path,
        c.num_qo_heads, c.num_kv_heads);
  if (c.head_dim % 2 != 0)
    return Status::error("{}: head_dim {} must be even for RoPE", path, c.head_dim);

  SEER_ASSIGN_OR_RETURN(std::string act, r.get_string_or("hidden_act", "silu"));
  if (act != "silu")
    return Status::error("{}: key 'hidden_act' = '{}' is not supported (only silu)", path, act);
  SEER_ASSIGN_OR_RETURN(bool mlp_bias, r.get_bool_or("mlp_bias", false));
  if (mlp_bias) return Status::error("{}: key 'mlp_bias' = true is not supported", path);

  switch (c.arch) {
    case Arch::kLlama:
    case Arch::kQwen3: {
      SEER_ASSIGN_OR_RETURN(c.qkv_bias, r.get_bool_or("attention_bias", false));
      break;
    }
    case Arch::kQwen2:
      c.qkv_bias = true;
      break;
  }
  c.qk_norm = c.arch == Arch::kQwen3;
  if (c.arch != Arch::kLlama) {
    SEER_ASSIGN_OR_RETURN(bool swa, r.get_bool_or("use_sliding_window", false));
    if (swa)
      return Status::error("{}: key 'use_sliding_window' = true is not supported", path);
  }
  if (j.contains("rope_scaling")) {
    SEER_ASSIGN_OR_RETURN(c.rope_scaling, parse_rope_scaling(r, j["rope_scaling"], c.max_position));
  }
  return c;
}

// Tensor name -> (file, tensor) over every safetensors file of the model.
struct TensorIndex {
  std::vector<std::shared_ptr<SafetensorsFile>> files;
  std::map<std::string, std::pair<const SafetensorsFile*, const SafetensorsTensor*>> tensors;
  std::string describe;  // "dir/model.safetensors" or "dir/model.safetensors.index.json"
};

Result<TensorIndex> open_weights(const std::string& dir) {
  TensorIndex idx;
  const std::string single = dir + "/model.safetensors";
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(single, ec)) {
    SEER_ASSIGN_OR_RETURN(auto f, SafetensorsFile::open(single));
    for (const SafetensorsTensor& t : f->tensors()) idx.tensors[t.name] = {f.get(), &t};
    idx.files.push_back(std::move(f));
    idx.describe = single;
    return idx;
  }
  if (!fs::exists(index_path, ec))
    return Status::error("{}: no model.safetensors or model.safetensors.index.json", dir);
  idx.describe = index_path;
  SEER_ASSIGN_OR_RETURN(json j, read_json_file(index_path));
  if (!j.contains("weight_map") || !j["weight_map"].is_object())
    return Status::error("{}: missing key 'weight_map' (an object)", index_path);
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string())
      return Status::error("{}: weight_map['{}'] must be a file name, got {}", index_path, it.key(),
                           it.value().dump());
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "..")
      return Status::error("{}: weight_map['{}'] = '{}' is not a file name in the directory",
                           index_path, it.key(), shard);
    auto s = shards.find(shard);
    if (s == shards.end()) {
      const std::string shard_path = dir + "/" + shard;
      auto f = SafetensorsFile::open(shard_path);
      if (!f)
        return f.status().with_context(
            fmt::format("{}: shard '{}' (listed for tensor '{}')", index_path, shard, it.key()));
      s = shards.emplace(shard, std::move(f).value()).first;
      idx.files.push_back(s->second);
    }
    const SafetensorsTensor* t = s->second->find(it.key());
    if (t == nullptr)
      return Status::error("{}: tensor '{}' is listed in shard '{}' but that file does not contain it",
                           index_path, it.key(), shard);
    idx.tensors[it.key()] = {s->second.get(), t};
  }
  return idx;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class WeightLoader {
 public:
  WeightLoader(Model& m, const TensorIndex& idx) : m_(m), idx_(idx) {}

  bool has(const std::string& name) const { return idx_.tensors.count(name) != 0; }

  // A matrix [rows, cols] kept in the mapping with its file dtype.
  Result<Weight> matrix(const std::string& name, int64_t rows, int64_t cols) {
    const std::vector<int64_t> shape = {rows, cols};
    SEER_ASSIGN_OR_RETURN(auto ft, find(name, shape));
    const SafetensorsTensor& t = *ft.second;
    Weight w;
    w.dtype = *t.dtype;
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    // The spec only promises byte offsets; a misaligned tensor is copied so f32/f16 loads are aligned.
    if (reinterpret_cast<uintptr_t>(t.data) % dtype_block_bytes(w.dtype) != 0) {
      void* buf = m_.alloc(t.nbytes);
      std::memcpy(buf, t.data, t.nbytes);
      w.data = buf;
    }
    return w;
  }

  // A vector [n] converted to owned f32.
  Result<Weight> vector(const std::string& name, int64_t n) {
    const std::vector<int64_t> shape = {n};
    SEER_ASSIGN_OR_RETURN(auto ft, find(name, shape));
    const SafetensorsTensor& t = *ft.second;
    float* out = static_cast<float*>(m_.alloc(size_t(n) * sizeof(float)));
    const uint8_t* src = t.data;
    for (int64_t i = 0; i < n; ++i) {
      switch (*t.dtype) {
        case DType::kF32: std::memcpy(&out[i], src + 4 * i, 4); break;
        case DType::kF16: {
          uint16_t h;
          std::memcpy(&h, src + 2 * i, 2);
          out[i] = fp16_to_fp32(h);
          break;
        }
        case DType::kBF16: {
          uint16_t h;
          std::memcpy(&h, src + 2 * i, 2);
          out[i] = bf16_to_fp32(h);
          break;
        }
        default: SEER_ASSERT(false);
      }
    }
    Weight w;
    w.dtype = DType::kF32;
    w.rows = 1;
    w.cols = n;
    w.data = out;
    return w;
  }

  // Fails if `name` is present with any non-zero element (a bias the model contract has no slot for).
  Status require_zero(const std::string& name, const char* why) {
    auto it = idx_.tensors.find(name);
    if (it == idx_.tensors.end()) return Status::ok();
    const SafetensorsTensor& t = *it->second.second;
    used_.insert(&t);
    for (uint64_t b = 0; b < t.nbytes; ++b) {
      // -0.0 has only the sign bit set; accept it as zero.
      const uint8_t v = t.data[b];
      if (v != 0 && v != 0x80)
        return Status::error("{}: tensor '{}' is non-zero: {}", it->second.first->path(), name, why);
    }
    return Status::ok();
  }

  // Fails on the first tensor of the files that no call above took (a layer at or past
  // num_hidden_layers first), naming it and how many there are: transformers would warn and drop it,
  // but a model that silently loses a layer or a bias computes something else.
  Status refuse_unused(const ModelConfig& c, const std::string& config_path) const {
    UnusedTensors u{c.num_layers, "model.layers."};
    for (const auto& f : idx_.files)
      for (const SafetensorsTensor& t : f->tensors()) {
        if (used_.count(&t) != 0) continue;
        // Left in checkpoints and unused by design: the tied copy of the embeddings, and the RoPE
        // inv_freq buffers that transformers before 4.31 saved (it ignores them on load too).
        const int64_t layer = layer_of(t.name, u.layer_prefix);
        if (layer < c.num_layers && ((c.tied_embeddings && t.name == "lm_head.weight") ||
                                     t.name == "model.rotary_emb.inv_freq" ||
                                     (layer >= 0 && t.name.ends_with(".self_attn.rotary_emb.inv_freq"))))
          continue;
        u.add(t.name, f->path());
      }
    if (u.beyond > 0)
      return Status::error("{}: tensor '{}' is of layer {}, but num_hidden_layers is {} in {} (tensors of layers >= {}: {})",
                           u.beyond_file, u.first_beyond, u.first_layer, c.num_layers, config_path, c.num_layers,
                           u.beyond);
    if (u.other > 0) {
      const bool qkv_bias = !c.qkv_bias && (u.first_other.ends_with(".self_attn.q_proj.bias") ||
                                            u.first_other.ends_with(".self_attn.k_proj.bias") ||
                                            u.first_other.ends_with(".self_attn.v_proj.bias"));
      return Status::error("{}: tensor '{}' is not used by this model (unused tensors: {}){}", u.other_file,
                           u.first_other, u.other,
                           qkv_bias ? fmt::format("; attention_bias is not true in {}", config_path) : std::string());
    }
    return Status::ok();
  }

 private:
  using Found = std::pair<const SafetensorsFile*, const SafetensorsTensor*>;
  Result<Found> find(const std::string& name, const std::vector<int64_t>& shape) {
    auto it = idx_.tensors.find(name);
    if (it == idx_.tensors.end())
      return Status::error("{}: missing tensor '{}' (expected shape {})", idx_.describe, name,
                           shape_str(shape));
    const SafetensorsFile* f = it->second.first;
    const SafetensorsTensor& t = *it->second.second;
    if (!t.dtype)
      return Status::error("{}: tensor '{}': dtype '{}' is not supported (F32, F16, BF16)",
                           f->path(), name, t.dtype_name);
    if (t.shape != shape)
      return Status::error("{}: tensor '{}': expected shape {}, got {}", f->path(), name,
                           shape_str(shape), shape_str(t.shape));
    used_.insert(&t);
    return it->second;
  }

  Model& m_;
  const TensorIndex& idx_;
  std::set<const SafetensorsTensor*> used_;
};

Result<Model> load_hf_model_impl(const std::string& dir_in) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::error("{}: not a directory", dir);
  const std::string config_path = dir + "/config.json";
  if (!fs::exists(config_path, ec)) return Status::error("{}: missing config.json", dir);

  Model m;
  m.path = dir;
  m.format = "hf";
  m.name = fs::path(dir).filename().string();
  {
    SEER_ASSIGN_OR_RETURN(json cfg_json, read_json_file(config_path));
    SEER_ASSIGN_OR_RETURN(m.config, parse_config(config_path, cfg_json));
  }
  const ModelConfig& c = m.config;

  SEER_ASSIGN_OR_RETURN(TensorIndex idx, open_weights(dir));
  for (auto& f : idx.files) m.storage.push_back(f);
  WeightLoader ld(m, idx);

  const int64_t hidden = c.hidden_size;
  const int64_t q_dim = int64_t(c.num_qo_heads) * c.head_dim;
  const int64_t kv_dim = int64_t(c.num_kv_heads) * c.head_dim;
  const int64_t inter = c.intermediate_size;
  ModelWeights& w = m.weights;
  SEER_ASSIGN_OR_RETURN(w.tok_embd, ld.matrix("model.embed_tokens.weight", c.vocab_size, hidden));
  SEER_ASSIGN_OR_RETURN(w.out_norm, ld.vector("model.norm.weight", hidden));
  if (c.tied_embeddings) {
    w.output = w.tok_embd;
  } else {
    SEER_ASSIGN_OR_RETURN(w.output, ld.matrix("lm_head.weight", c.vocab_size, hidden));
  }

  // One layer at a time: a layer count beyond the files fails at its first missing tensor, not in
  // an allocation of the count.
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers.emplace_back();
    const std::string p = fmt::format("model.layers.{}.", i);
    SEER_ASSIGN_OR_RETURN(l.attn_norm, ld.vector(p + "input_layernorm.weight", hidden));
    SEER_ASSIGN_OR_RETURN(l.wq, ld.matrix(p + "self_attn.q_proj.weight", q_dim, hidden));
    SEER_ASSIGN_OR_RETURN(l.wk, ld.matrix(p + "self_attn.k_proj.weight", kv_dim, hidden));
    SEER_ASSIGN_OR_RETURN(l.wv, ld.matrix(p + "self_attn.v_proj.weight", kv_dim, hidden));
    SEER_ASSIGN_OR_RETURN(l.wo, ld.matrix(p + "self_attn.o_proj.weight", hidden, q_dim));
    if (c.qkv_bias) {
      SEER_ASSIGN_OR_RETURN(l.bq, ld.vector(p + "self_attn.q_proj.bias", q_dim));
      SEER_ASSIGN_OR_RETURN(l.bk, ld.vector(p + "self_attn.k_proj.bias", kv_dim));
      SEER_ASSIGN_OR_RETURN(l.bv, ld.vector(p + "self_attn.v_proj.bias", kv_dim));
    }
    // Llama/Qwen3 with attention_bias also give o_proj a bias; the contract has no slot for it,
    // so accept it only when it is all zeros rather than silently dropping it.
    SEER_RETURN_IF_ERROR(ld.require_zero(p + "self_attn.o_proj.bias",
                                         "an o_proj bias is not supported by seer"));
    if (c.qk_norm) {
      SEER_ASSIGN_OR_RETURN(l.q_norm, ld.vector(p + "self_attn.q_norm.weight", c.head_dim));
      SEER_ASSIGN_OR_RETURN(l.k_norm, ld.vector(p + "self_attn.k_norm.weight", c.head_dim));
    }
    SEER_ASSIGN_OR_RETURN(l.ffn_norm, ld.vector(p + "post_attention_layernorm.weight", hidden));
    SEER_ASSIGN_OR_RETURN(l.w_gate, ld.matrix(p + "mlp.gate_proj.weight", inter, hidden));
    SEER_ASSIGN_OR_RETURN(l.w_up, ld.matrix(p + "mlp.up_proj.weight", inter, hidden));
    SEER_ASSIGN_OR_RETURN(l.w_down, ld.matrix(p + "mlp.down_proj.weight", hidden, inter));
  }
  SEER_RETURN_IF_ERROR(ld.refuse_unused(c, config_path));

  const std::string tok_path = dir + "/tokenizer.json";
  if (fs::exists(tok_path, ec)) {
    SEER_ASSIGN_OR_RETURN(m.tokenizer, Tokenizer::from_hf_json(tok_path));
    // Token ids index the embedding rows: a tokenizer with more ids than the model has rows would
    // fail in the middle of a forward.
    if (m.tokenizer->vocab_size() > c.vocab_size)
      return Status::error("{}: {} token ids, more than the model's vocab_size {} (config.json)", tok_path,
                           m.tokenizer->vocab_size(), c.vocab_size);
  }
  SEER_RETURN_IF_ERROR(validate_weights(m));
  return m;
}

}  // namespace

Result<Model> load_hf_model(const std::string& dir) {
  // Every JSON access is type-checked first and filesystem calls take error codes; this is the
  // safety net that keeps an exception from a case we missed inside the library.
  try {
    return load_hf_model_impl(dir);
  } catch (const std::exception& e) {
    return Status::error("{}: cannot load Hugging Face model: {}", dir, e.what());
  }
}

}  // namespace seer
