// Byte-level BPE tokenizer (GPT-2 family) as used by SmolLM2, Llama-3 and Qwen2/3.
// Built from GGUF metadata (tokenizer.ggml.*) or a Hugging Face tokenizer.json.
//  * Pre-tokenizer: a regex split (PCRE2, Unicode properties); SmolLM2 additionally splits every
//    digit on its own first (DATA.md). Llama-3 and Qwen2 have their own patterns.
//  * Bytes -> printable unicode code points with the GPT-2 byte map, then BPE merges by rank.
//  * Special / control tokens (e.g. <|im_start|>) are matched verbatim in the text before
//    pre-tokenisation when `parse_special` is set.
#pragma once

#include <seer/status.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace seer {

class GgufFile;

enum class PreTokenizer { kSmolLM, kGpt2, kLlama3, kQwen2 };

struct TokenizerData {
  std::vector<std::string> tokens;  // id -> token text (GPT-2 byte-mapped)
  std::vector<int> token_types;     // id -> 1 normal, 3 control, 4 user-defined (GGUF convention); may be empty
  std::vector<std::string> merges;  // "a b", in rank order
  PreTokenizer pre = PreTokenizer::kGpt2;
  int bos_id = -1;
  int eos_id = -1;
  int pad_id = -1;
  bool add_bos = false;
  std::string chat_template;  // jinja source as stored in the file (informational)
};

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(TokenizerData data);
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& f);
  static Result<std::unique_ptr<Tokenizer>> from_hf_json(const std::string& tokenizer_json_path);
  ~Tokenizer();

  // `parse_special`: recognise special tokens written literally in the text.
  std::vector<int> encode(const std::string& text, bool parse_special = true) const;
  std::string decode(const std::vector<int>& ids) const;
  std::string token_text(int id) const;  // decoded bytes of one token (may be a partial UTF-8 sequence)

  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  bool add_bos() const;
  int find_token(const std::string& text) const;  // id of an exact token, or -1
  bool is_special(int id) const;

  // ChatML: "<|im_start|>system\n...<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
  bool has_chatml() const;
  // Without `system_message` the template's own default system prompt (SmolLM2's injects one) is
  // used; an empty one gives an empty system turn, as the GGUF's template renders it.
  std::string apply_chat_template(const std::string& user_message,
                                  const std::optional<std::string>& system_message = std::nullopt) const;

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seer
