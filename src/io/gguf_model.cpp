// GGUF -> Model: config from `{arch}.*` metadata, weights from the tensors (llama, qwen2, qwen3).
// GGUF dims are innermost-first, so a tensor of shape {cols, rows} becomes Weight{rows, cols}.
// Matrices stay zero-copy in the mapping (the GgufFile lives in Model::storage), except attn_q /
// attn_k of arch llama: convert_hf_to_gguf.py permuted their rows for adjacent-pair RoPE,
//   w.reshape(n_head, 2, head_dim/2, cols).swapaxes(1, 2)
// i.e. GGUF row h*d + 2*i + j holds HF row h*d + j*d/2 + i (i < d/2, j in {0, 1}). We copy them back
// into HF order (whole rows, so quantised blocks are untouched). qwen2/qwen3 files are not permuted.
// Norms and biases are converted to owned fp32 buffers. Like llama.cpp's loader, every tensor of
// the file must be used: one of a layer past block_count, or one the model has no slot for, is an
// error rather than silently ignored.
#include <seer/gguf.h>
#include <seer/model.h>
#include <seer/tokenizer.h>

#include "io/config_checks.h"

#include <fmt/ranges.h>

#include <climits>
#include <cstring>

namespace seer {

namespace {

Result<int> get_positive_int(const GgufFile& f, const std::string& key, std::optional<int64_t> dflt) {
  Result<int64_t> v = dflt ? f.get_int_or(key, *dflt) : f.get_int(key);
  if (!v) return v.status();
  if (*v <= 0 || *v > INT_MAX) {
    return Status::error("{}: key '{}': value {} is out of range (1..{})", f.path(), key, *v, INT_MAX);
  }
  return int(*v);
}

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// Finds tensors by name and remembers which ones were taken, so that the rest can be refused.
class TensorUse {
 public:
  explicit TensorUse(const GgufFile& f) : f_(f), used_(f.tensors().size(), false) {}

  const GgufTensor* take(const std::string& name) {
    const GgufTensor* t = f_.find_tensor(name);
    if (t != nullptr) used_[size_t(t - f_.tensors().data())] = true;
    return t;
  }

  // Errors name the first tensor not taken and how many there are; tensors of a layer at or past
  // `num_layers` (a block_count too small for the file) are reported first.
  Status refuse_unused(int num_layers, const std::string& block_count_key) const {
    UnusedTensors u{num_layers, "blk."};
    for (size_t i = 0; i < used_.size(); ++i)
      if (!used_[i]) u.add(f_.tensors()[i].name, f_.path());
    if (u.beyond > 0) {
      return Status::error("{}: tensor '{}' is of layer {}, but key '{}' is {} (tensors of layers >= {} in the file: {})",
                           f_.path(), u.first_beyond, u.first_layer, block_count_key, num_layers, num_layers, u.beyond);
    }
    if (u.other > 0) {
      return Status::error("{}: tensor '{}' is not used by this model (unused tensors in the file: {}); seer does not support it",
                           f_.path(), u.first_other, u.other);
    }
    return Status::ok();
  }

 private:
  const GgufFile& f_;
  std::vector<bool> used_;
};

// A 2-D tensor as a zero-copy Weight{rows = shape[1], cols = shape[0]}; empty if absent.
Result<Weight> matrix(const GgufFile& f, TensorUse& use, const std::string& name, bool required) {
  const GgufTensor* t = use.take(name);
  if (t == nullptr) {
    if (required) return Status::error("{}: missing tensor '{}'", f.path(), name);
    return Weight{};
  }
  if (t->shape.size() != 2) {
    return Status::error("{}: tensor '{}': expected a matrix (2 dims), got shape {}", f.path(), name,
                         shape_str(t->shape));
  }
  return Weight{t->dtype, t->shape[1], t->shape[0], t->data};
}

// A 1-D tensor converted to an owned fp32 Weight{1, n}; empty if absent.
Result<Weight> vector_f32(const GgufFile& f, TensorUse& use, Model& m, const std::string& name, bool required) {
  const GgufTensor* t = use.take(name);
  if (t == nullptr) {
    if (required) return Status::error("{}: missing tensor '{}'", f.path(), name);
    return Weight{};
  }
  if (t->shape.size() != 1) {
    return Status::error("{}: tensor '{}': expected a vector (1 dim), got shape {}", f.path(), name,
                         shape_str(t->shape));
  }
  const int64_t n = t->shape[0];
  auto* out = static_cast<float*>(m.alloc(size_t(n) * sizeof(float)));
  dequantize_row(t->dtype, t->data, out, n);
  return Weight{DType::kF32, 1, n, out};
}

// A bias the model contract has no slot for (llama's attn_output.bias) is accepted only when all
// its elements are zero (-0.0 included), as the HF loader does for o_proj.bias.
Status require_zero(const GgufFile& f, TensorUse& use, Model& m, const std::string& name) {
  SEER_ASSIGN_OR_RETURN(Weight b, vector_f32(f, use, m, name, false));
  for (int64_t i = 0; i < b.cols; ++i) {
    if (b.f32()[i] != 0.0f) {
      return Status::error("{}: tensor '{}' is non-zero (element {} is {}): an output projection bias is not supported by seer",
                           f.path(), name, i, b.f32()[i]);
    }
  }
  return Status::ok();
}

// HF row of GGUF row r within a permuted Q/K matrix with heads of `head_dim` rows.
int64_t hf_row(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, k = r % head_dim, i = k / 2, j = k % 2;
  return h * head_dim + j * (head_dim / 2) + i;
}

// Undoes the llama Q/K row permutation into an owned copy. Shapes that do not match the config
// are left as they are: validate_weights reports them with the expected shape.
void unpermute_rows(Model& m, Weight& w, int n_head, int head_dim) {
  if (w.empty() || w.rows != int64_t(n_head) * head_dim) return;
  const size_t rb = w.row_bytes();
  auto* dst = static_cast<uint8_t*>(m.alloc(rb * size_t(w.rows)));
  for (int64_t r = 0; r < w.rows; ++r) std::memcpy(dst + hf_row(r, head_dim) * rb, w.row(r), rb);
  w.data = dst;
}

// The same permutation applied to the elements of a (rare) llama Q/K bias, in place.
void unpermute_bias(Weight& b, int n_head, int head_dim) {
  if (b.empty() || b.cols != int64_t(n_head) * head_dim) return;
  std::vector<float> tmp(b.f32(), b.f32() + b.cols);
  auto* out = const_cast<float*>(b.f32());  // owned buffer from Model::alloc
  for (int64_t r = 0; r < b.cols; ++r) out[hf_row(r, head_dim)] = tmp[size_t(r)];
}

// A float key (or `dflt` when absent) checked against `range` before it is narrowed to float.
Result<float> get_checked_float(const GgufFile& f, const std::string& key, std::optional<double> dflt,
                                FloatRange range) {
  Result<double> v = dflt ? f.get_float_or(key, *dflt) : f.get_float(key);
  if (!v) return v.status();
  return checked_float(f.path(), key, *v, range);
}

Status read_rope_scaling(const GgufFile& f, const std::string& a, RopeScaling* rs) {
  const std::string type_key = a + ".rope.scaling.type";
  std::string type = "none";
  if (f.find(type_key) != nullptr) {
    SEER_ASSIGN_OR_RETURN(type, f.get_string(type_key));
  }
  if (type == "none") {
    rs->type = RopeScalingType::kNone;
    return Status::ok();
  }
  if (type != "yarn") {
    return Status::error("{}: key '{}': RoPE scaling type '{}' is not supported (supported: none, yarn)",
                         f.path(), type_key, type);
  }
  rs->type = RopeScalingType::kYarn;
  SEER_ASSIGN_OR_RETURN(rs->factor, get_checked_float(f, a + ".rope.scaling.factor", std::nullopt, {1.0, 1e6}));
  SEER_ASSIGN_OR_RETURN(rs->original_max_position,
                        get_positive_int(f, a + ".rope.scaling.original_context_length", std::nullopt));
  const FloatRange beta{0.0, 1e6, /*lo_open=*/true};
  SEER_ASSIGN_OR_RETURN(rs->beta_fast, get_checked_float(f, a + ".rope.scaling.yarn_beta_fast", rs->beta_fast, beta));
  SEER_ASSIGN_OR_RETURN(rs->beta_slow, get_checked_float(f, a + ".rope.scaling.yarn_beta_slow", rs->beta_slow, beta));
  // 0: the kernels derive 0.1*ln(factor)+1.
  SEER_ASSIGN_OR_RETURN(rs->attention_factor, get_checked_float(f, a + ".rope.scaling.attn_factor", 0.0, {0.0, 1e3}));
  return Status::ok();
}

Status read_config(const GgufFile& f, ModelConfig* c) {
  SEER_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (arch == "llama") c->arch = Arch::kLlama;
  else if (arch == "qwen2") c->arch = Arch::kQwen2;
  else if (arch == "qwen3") c->arch = Arch::kQwen3;
  else {
    return Status::error("{}: key 'general.architecture': unsupported architecture '{}' (supported: llama, qwen2, qwen3)",
                         f.path(), arch);
  }
  const std::string& a = arch;
  SEER_ASSIGN_OR_RETURN(c->hidden_size, get_positive_int(f, a + ".embedding_length", std::nullopt));
  SEER_ASSIGN_OR_RETURN(c->intermediate_size, get_positive_int(f, a + ".feed_forward_length", std::nullopt));
  SEER_ASSIGN_OR_RETURN(c->num_layers, get_positive_int(f, a + ".block_count", std::nullopt));
  SEER_ASSIGN_OR_RETURN(c->num_qo_heads, get_positive_int(f, a + ".attention.head_count", std::nullopt));
  SEER_ASSIGN_OR_RETURN(c->num_kv_heads, get_positive_int(f, a + ".attention.head_count_kv", c->num_qo_heads));
  const std::string key_length_key = a + ".attention.key_length";
  if (f.find(key_length_key) == nullptr && c->hidden_size / c->num_qo_heads == 0) {
    return Status::error("{}: key '{}' is absent and the head_dim derived from key '{}' ({}) / key '{}' ({}) is 0",
                         f.path(), key_length_key, a + ".embedding_length", c->hidden_size,
                         a + ".attention.head_count", c->num_qo_heads);
  }
  SEER_ASSIGN_OR_RETURN(c->head_dim, get_positive_int(f, key_length_key, c->hidden_size / c->num_qo_heads));
  SEER_ASSIGN_OR_RETURN(int v_dim, get_positive_int(f, a + ".attention.value_length", c->head_dim));
  if (v_dim != c->head_dim) {
    return Status::error("{}: key '{}': value_length {} differs from key_length {} (not supported)", f.path(),
                         a + ".attention.value_length", v_dim, c->head_dim);
  }
  SEER_ASSIGN_OR_RETURN(int rope_dim, get_positive_int(f, a + ".rope.dimension_count", c->head_dim));
  if (rope_dim != c->head_dim) {
    return Status::error("{}: key '{}': partial RoPE over {} of {} head dims is not supported", f.path(),
                         a + ".rope.dimension_count", rope_dim, c->head_dim);
  }
  SEER_ASSIGN_OR_RETURN(c->max_position, get_positive_int(f, a + ".context_length", std::nullopt));
  SEER_ASSIGN_OR_RETURN(c->rms_eps, get_checked_float(f, a + ".attention.layer_norm_rms_epsilon", std::nullopt,
                                                      {0.0, 1.0, /*lo_open=*/true, /*hi_open=*/true}));
  SEER_ASSIGN_OR_RETURN(c->rope_theta,
                        get_checked_float(f, a + ".rope.freq_base", 10000.0, {1.0, 1e12, /*lo_open=*/true}));
  SEER_RETURN_IF_ERROR(read_rope_scaling(f, a, &c->rope_scaling));
  if (f.find_tensor("rope_freqs.weight") != nullptr) {
    return Status::error("{}: tensor 'rope_freqs.weight': llama3-style RoPE frequency scaling is not supported yet",
                         f.path());
  }
  return Status::ok();
}

}  // namespace

Result<Model> load_gguf_model(const std::string& path) {
  SEER_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file_owned, GgufFile::open(path));
  std::shared_ptr<GgufFile> file(std::move(file_owned));
  const GgufFile& f = *file;

  Model m;
  m.path = path;
  m.format = "gguf";
  m.storage.push_back(file);
  if (f.find("general.name") != nullptr) {
    SEER_ASSIGN_OR_RETURN(m.name, f.get_string("general.name"));
  } else {
    const size_t slash = path.find_last_of('/');
    m.name = slash == std::string::npos ? path : path.substr(slash + 1);
  }

  ModelConfig& c = m.config;
  SEER_RETURN_IF_ERROR(read_config(f, &c));

  ModelWeights& w = m.weights;
  TensorUse use(f);
  SEER_ASSIGN_OR_RETURN(w.tok_embd, matrix(f, use, "token_embd.weight", true));
  if (w.tok_embd.rows > INT_MAX) {
    return Status::error("{}: tensor 'token_embd.weight': vocab size {} is too large", path, w.tok_embd.rows);
  }
  c.vocab_size = int(w.tok_embd.rows);
  SEER_ASSIGN_OR_RETURN(w.out_norm, vector_f32(f, use, m, "output_norm.weight", true));
  SEER_ASSIGN_OR_RETURN(w.output, matrix(f, use, "output.weight", false));
  c.tied_embeddings = w.output.empty();
  if (c.tied_embeddings) w.output = w.tok_embd;
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.qk_norm = f.find_tensor("blk.0.attn_q_norm.weight") != nullptr;

  // One layer at a time: a block count beyond the file fails at its first missing tensor, not in an
  // allocation of the count.
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers.emplace_back();
    auto n = [i](const char* t) { return fmt::format("blk.{}.{}", i, t); };
    SEER_ASSIGN_OR_RETURN(l.attn_norm, vector_f32(f, use, m, n("attn_norm.weight"), true));
    SEER_ASSIGN_OR_RETURN(l.wq, matrix(f, use, n("attn_q.weight"), true));
    SEER_ASSIGN_OR_RETURN(l.wk, matrix(f, use, n("attn_k.weight"), true));
    SEER_ASSIGN_OR_RETURN(l.wv, matrix(f, use, n("attn_v.weight"), true));
    SEER_ASSIGN_OR_RETURN(l.wo, matrix(f, use, n("attn_output.weight"), true));
    // Biases and QK norms are all-or-none, decided at layer 0: one in a later layer alone is left
    // untaken, and refused below.
    if (c.qkv_bias) {
      SEER_ASSIGN_OR_RETURN(l.bq, vector_f32(f, use, m, n("attn_q.bias"), true));
      SEER_ASSIGN_OR_RETURN(l.bk, vector_f32(f, use, m, n("attn_k.bias"), true));
      SEER_ASSIGN_OR_RETURN(l.bv, vector_f32(f, use, m, n("attn_v.bias"), true));
    }
    SEER_RETURN_IF_ERROR(require_zero(f, use, m, n("attn_output.bias")));
    if (c.qk_norm) {
      SEER_ASSIGN_OR_RETURN(l.q_norm, vector_f32(f, use, m, n("attn_q_norm.weight"), true));
      SEER_ASSIGN_OR_RETURN(l.k_norm, vector_f32(f, use, m, n("attn_k_norm.weight"), true));
    }
    SEER_ASSIGN_OR_RETURN(l.ffn_norm, vector_f32(f, use, m, n("ffn_norm.weight"), true));
    SEER_ASSIGN_OR_RETURN(l.w_gate, matrix(f, use, n("ffn_gate.weight"), true));
    SEER_ASSIGN_OR_RETURN(l.w_up, matrix(f, use, n("ffn_up.weight"), true));
    SEER_ASSIGN_OR_RETURN(l.w_down, matrix(f, use, n("ffn_down.weight"), true));
    if (c.arch == Arch::kLlama) {
      unpermute_rows(m, l.wq, c.num_qo_heads, c.head_dim);
      unpermute_rows(m, l.wk, c.num_kv_heads, c.head_dim);
      unpermute_bias(l.bq, c.num_qo_heads, c.head_dim);
      unpermute_bias(l.bk, c.num_kv_heads, c.head_dim);
    }
  }
  // (rope_freqs.weight, the one tensor llama.cpp may carry that seer does not use, was refused by
  // read_config.)
  SEER_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  SEER_RETURN_IF_ERROR(use.refuse_unused(c.num_layers, arch + ".block_count"));
  SEER_RETURN_IF_ERROR(validate_weights(m));

  SEER_ASSIGN_OR_RETURN(m.tokenizer, Tokenizer::from_gguf(f));
  // Token ids index the embedding rows: a tokenizer with more ids than the rows fails later, in
  // the middle of a forward.
  if (m.tokenizer->vocab_size() > c.vocab_size) {
    return Status::error("{}: the tokenizer has {} tokens (key 'tokenizer.ggml.tokens'), more than the {} rows of tensor 'token_embd.weight'",
                         path, m.tokenizer->vocab_size(), c.vocab_size);
  }
  return m;
}

}  // namespace seer
