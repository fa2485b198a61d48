// The model contract: configuration, weights and how they are loaded.
// Llama / Qwen2 / Qwen3 decoder-only transformers, from GGUF or a Hugging Face directory.
//
// One layout for everything in memory, whatever the file format:
//  * matrices are row-major [out_features, in_features] (quantised blocks run along in_features);
//  * Q/K projection rows are in Hugging Face order, so RoPE always rotates pairs (i, i + head_dim/2)
//    ("rotate_half"). GGUF llama files store Q/K rows permuted for adjacent-pair RoPE; the GGUF loader
//    undoes that permutation on load (DATA.md). This matters for SeerAttention: gates act on pre-RoPE
//    Q/K channels and the released gates assume the HF channel order.
//  * norms and biases are fp32.
#pragma once

#include <seer/dtype.h>
#include <seer/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seer {

enum class Arch { kLlama, kQwen2, kQwen3 };
std::string_view arch_name(Arch a);

enum class RopeScalingType { kNone, kLlama3, kYarn };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  float factor = 1.0f;
  // llama3
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position = 8192;  // also yarn's original_max_position_embeddings
  // yarn
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  float attention_factor = 0.0f;  // 0 = derive as 0.1*ln(factor)+1 (HF default)
};

struct ModelConfig {
  Arch arch = Arch::kLlama;
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_qo_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int max_position = 0;  // context length the model was trained for
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tied_embeddings = false;
  bool qkv_bias = false;  // Qwen2
  bool qk_norm = false;   // Qwen3: per-head RMSNorm on q and k before RoPE
  int group_size() const { return num_qo_heads / num_kv_heads; }
};

// A weight tensor in memory. `data` points either into a file mapping or into memory owned by
// the Model. Matrices: shape {rows, cols} = {out_features, in_features}; vectors: {n}.
struct Weight {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;  // 1-D tensors have rows = 1
  const void* data = nullptr;
  bool empty() const { return data == nullptr; }
  size_t row_bytes() const { return dtype_row_bytes(dtype, cols); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes(); }
  const float* f32() const { return static_cast<const float*>(data); }  // only when dtype == kF32
};

struct LayerWeights {
  Weight attn_norm;        // [hidden] f32
  Weight wq, wk, wv, wo;   // [qo_heads*head_dim, hidden], [kv_heads*head_dim, hidden] x2, [hidden, qo_heads*head_dim]
  Weight bq, bk, bv;       // optional biases (Qwen2), f32
  Weight q_norm, k_norm;   // optional [head_dim] f32 (Qwen3)
  Weight ffn_norm;         // [hidden] f32
  Weight w_gate, w_up;     // [intermediate, hidden]
  Weight w_down;           // [hidden, intermediate]
};

struct ModelWeights {
  Weight tok_embd;  // [vocab, hidden]
  Weight out_norm;  // [hidden] f32
  Weight output;    // [vocab, hidden]; same storage as tok_embd when tied
  std::vector<LayerWeights> layers;
};

class Tokenizer;

// Everything a loader produces. Owns the file mapping and any converted buffers.
struct Model {
  std::string path;    // the file or directory it was loaded from
  std::string format;  // "gguf" or "hf"
  std::string name;    // general.name or the directory name
  ModelConfig config;
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;

  // Storage behind `weights`: file mappings kept alive and owned buffers.
  std::vector<std::shared_ptr<void>> storage;
  // Allocate an owned, 64-byte aligned buffer that lives as long as the model.
  void* alloc(size_t bytes);

  Model();
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
};

// Loads a GGUF file or a Hugging Face directory (config.json + *.safetensors + tokenizer.json),
// chosen by what `path` is. Errors name the file, the field and the value.
Result<Model> load_model(const std::string& path);
Result<Model> load_gguf_model(const std::string& path);
Result<Model> load_hf_model(const std::string& dir);

// Checks shapes of every tensor against the config (used by both loaders).
Status validate_weights(const Model& m);

// Default model location: ${SEER_HOME:-$HOME/.cache/seer}/models/SmolLM2-135M-Instruct.Q4_1.gguf
std::string default_model_path();

}  // namespace seer
