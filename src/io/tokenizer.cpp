// Byte-level BPE tokenizer (GPT-2 family): SmolLM2, Llama-3, Qwen2/3.
//
// encode(text):
//   1. split on literal special tokens (leftmost, then longest; control tokens only with
//      `parse_special`, user-defined tokens always, as llama.cpp does);
//   2. pre-tokenise every other fragment with a PCRE2 regex (UTF + UCP, JIT when available);
//      SmolLM2 first isolates every \p{N} code point (HF `Digits(individual_digits)`);
//   3. map each piece's bytes to printable code points (GPT-2 byte map) and merge symbol pairs by
//      merge rank, lowest rank first, leftmost first on ties (priority queue, O(n log n) per
//      piece); pieces are cached so long texts cost one hash lookup per repeated word;
//   4. a final symbol that is not in the vocabulary falls back to one token per byte.
// decode: every token's bytes are precomputed (byte map inverted for normal tokens, raw text for
// control/user-defined tokens) and concatenated.
// Chat: ChatML only. With no system message, the default system prompt that the file's jinja
// template injects (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging
// Face") is used, so prompts match the model's training; no system turn if the template has none.
// Checked against llama.cpp's llama-tokenize and PyPI `tokenizers` (tests/test_tokenizer.cpp).
#include <seer/gguf.h>
#include <seer/tokenizer.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <queue>
#include <sstream>
#include <string_view>

#include "core/file.h"

namespace seer {
namespace {

// GGUF token types (llama.cpp convention).
constexpr int kTypeNormal = 1;
constexpr int kTypeControl = 3;
constexpr int kTypeUserDefined = 4;
constexpr int kTypeUnused = 5;
constexpr int64_t kMaxTokenId = int64_t(1) << 24;  // 16.7M ids; the largest vocabularies hold ~256k

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kDigitPattern = R"(\p{N})";

constexpr const char* kChatmlSystemHead = "<|im_start|>system";

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Length of the UTF-8 sequence starting at s[i]; 1 for a stray or truncated byte, so that any
// byte string can be walked (token texts are valid UTF-8; this only guards against bad files).
size_t utf8_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  return n;
}

uint32_t utf8_decode(std::string_view s, size_t i, size_t n) {
  const auto b = [&](size_t k) { return uint32_t(static_cast<unsigned char>(s[i + k])); };
  switch (n) {
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    case 4: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    default: return b(0);
  }
}

// GPT-2's reversible byte -> code point map: printable Latin-1 bytes map to themselves, the other
// 68 bytes to 256, 257, ... in byte order, so every token is printable text without spaces.
struct ByteMap {
  std::array<std::string, 256> to_text;          // byte -> UTF-8 of its code point
  std::unordered_map<uint32_t, uint8_t> to_byte;  // code point -> byte
  ByteMap() {
    uint32_t extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      const uint32_t cp = printable ? uint32_t(b) : extra++;
      append_utf8(to_text[b], cp);
      to_byte[cp] = uint8_t(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

// One compiled pattern. Matching state is per thread, so encode() may run concurrently.
class Regex {
 public:
  static Result<std::unique_ptr<Regex>> compile(const char* pattern) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
    if (!code) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(err, buf, sizeof(buf));
      return Status::error("tokenizer: cannot compile pre-tokenizer regex /{}/ at offset {}: {}", pattern,
                           size_t(err_off), reinterpret_cast<const char*>(buf));
    }
    auto r = std::unique_ptr<Regex>(new Regex());
    r->code_ = code;
    r->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;  // falls back to the interpreter
    return r;
  }
  ~Regex() { pcre2_code_free(code_); }

  // Appends the matches and the unmatched gaps between them, in order (HF "Isolated" split).
  void split(std::string_view text, std::vector<std::string_view>& out) const {
    ThreadState& ts = thread_state();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;
    while (pos < text.size()) {
      int rc = pcre2_match(code_, subject, text.size(), pos, 0, ts.match_data, ts.match_context);
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && jit_)  // e.g. JIT stack exhausted: retry interpreted
        rc = pcre2_match(code_, subject, text.size(), pos, PCRE2_NO_JIT, ts.match_data, ts.match_context);
      if (rc < 0) {
        out.push_back(text.substr(pos));
        return;
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.match_data);
      size_t start = ov[0], end = ov[1];
      if (start > pos) out.push_back(text.substr(pos, start - pos));
      if (end <= start) {  // none of our patterns match empty; guard against an endless loop anyway
        end = start + utf8_len(text, start);
      }
      out.push_back(text.substr(start, end - start));
      pos = end;
    }
  }

 private:
  struct ThreadState {
    pcre2_match_data* match_data = pcre2_match_data_create(4, nullptr);
    pcre2_match_context* match_context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    ThreadState() { pcre2_jit_stack_assign(match_context, nullptr, jit_stack); }
    ~ThreadState() {
      pcre2_match_data_free(match_data);
      pcre2_match_context_free(match_context);
      pcre2_jit_stack_free(jit_stack);
    }
  };
  static ThreadState& thread_state() {
    thread_local ThreadState ts;
    return ts;
  }
  Regex() = default;
  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

// The default system prompt a ChatML template injects when the conversation has none, e.g.
// SmolLM2's "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are
// a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}". We take the first
// "<|im_start|>system\n" followed by constant text up to "<|im_end|>" (no quote, brace or '+',
// i.e. not an expression such as `+ message['content']`). Empty when the template has none.
std::string default_system_prompt(const std::string& tmpl) {
  const std::string head = kChatmlSystemHead;
  size_t at = 0;
  while ((at = tmpl.find(head, at)) != std::string::npos) {
    size_t p = at + head.size();
    at = p;
    if (tmpl.compare(p, 1, "\n") == 0) {
      p += 1;
    } else if (tmpl.compare(p, 2, "\\n") == 0) {
      p += 2;
    } else {
      continue;
    }
    const size_t end = tmpl.find("<|im_end|>", p);
    if (end == std::string::npos) continue;
    std::string body = tmpl.substr(p, end - p);
    if (body.empty() || body.find_first_of("'\"{}+") != std::string::npos) continue;
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\\' && i + 1 < body.size() && body[i + 1] == 'n') {
        out += '\n';
        ++i;
      } else {
        out += body[i];
      }
    }
    return out;
  }
  return {};
}

}  // namespace

struct Tokenizer::Impl {
  TokenizerData data;
  std::unordered_map<std::string, int> token_to_id;  // first id wins for duplicate texts
  std::unordered_map<std::string, int> merge_rank;   // "a b" -> rank
  std::vector<std::string> decoded;                  // id -> bytes
  std::unique_ptr<Regex> digits;                     // SmolLM only
  std::unique_ptr<Regex> split;
  bool ignore_merges = false;  // Llama-3: a piece that is itself a token is emitted whole
  // Literal special tokens grouped by first byte, longest first.
  std::array<std::vector<int>, 256> specials_by_byte;
  std::string default_system;

  mutable std::mutex cache_mu;
  mutable std::unordered_map<std::string, std::vector<int>> cache;  // byte-mapped piece -> ids

  int type_of(int id) const {
    return data.token_types.empty() ? kTypeNormal : data.token_types[size_t(id)];
  }

  void bpe(const std::string& word, std::vector<int>& out) const;
  void encode_fragment(std::string_view text, std::vector<int>& out) const;
};

// BPE on one byte-mapped piece. Symbols form a linked list over the piece's code points; the heap
// holds candidate pairs (rank, left symbol); stale candidates (a side merged since) are skipped.
void Tokenizer::Impl::bpe(const std::string& word, std::vector<int>& out) const {
  if (ignore_merges) {
    auto it = token_to_id.find(word);
    if (it != token_to_id.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Sym {
    size_t start, len;
    int prev, next;
  };
  std::vector<Sym> syms;
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8_len(word, i);
    syms.push_back({i, n, int(syms.size()) - 1, int(syms.size()) + 1});
    i += n;
  }
  if (!syms.empty()) syms.back().next = -1;

  struct Cand {
    int rank, left;
    size_t len;  // combined byte length, to detect stale entries
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  std::string key;
  auto push = [&](int l) {
    if (l < 0) return;
    const int r = syms[size_t(l)].next;
    if (r < 0) return;
    const Sym& a = syms[size_t(l)];
    const Sym& b = syms[size_t(r)];
    key.assign(word, a.start, a.len);
    key += ' ';
    key.append(word, b.start, b.len);
    auto it = merge_rank.find(key);
    if (it != merge_rank.end()) heap.push({it->second, l, a.len + b.len});
  };
  for (int i = 0; i + 1 < int(syms.size()); ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& a = syms[size_t(c.left)];
    if (a.len == 0 || a.next < 0) continue;
    Sym& b = syms[size_t(a.next)];
    if (a.len + b.len != c.len) continue;
    a.len += b.len;
    b.len = 0;
    a.next = b.next;
    if (a.next >= 0) syms[size_t(a.next)].prev = c.left;
    push(a.prev);
    push(c.left);
  }
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[size_t(i)].next) {
    const Sym& s = syms[size_t(i)];
    key.assign(word, s.start, s.len);
    auto it = token_to_id.find(key);
    if (it != token_to_id.end()) {
      out.push_back(it->second);
      continue;
    }
    // Not reachable by merges: one token per byte (each mapped code point is one byte).
    for (size_t p = s.start; p < s.start + s.len;) {
      const size_t n = utf8_len(word, p);
      auto bt = token_to_id.find(word.substr(p, n));
      if (bt != token_to_id.end()) out.push_back(bt->second);
      p += n;
    }
  }
}

void Tokenizer::Impl::encode_fragment(std::string_view text, std::vector<int>& out) const {
  std::vector<std::string_view> pieces;
  if (digits) {
    std::vector<std::string_view> parts;
    digits->split(text, parts);
    for (std::string_view p : parts) {
      if (p.size() <= 4 && utf8_len(p, 0) == p.size()) {
        pieces.push_back(p);  // a single code point: an isolated digit or a one-character gap
      } else {
        split->split(p, pieces);
      }
    }
  } else {
    split->split(text, pieces);
  }
  const ByteMap& bm = byte_map();
  std::string word;
  for (std::string_view p : pieces) {
    word.clear();
    for (unsigned char c : p) word += bm.to_text[c];
    {
      std::lock_guard<std::mutex> lock(cache_mu);
      auto it = cache.find(word);
      if (it != cache.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    std::vector<int> ids;
    bpe(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(cache_mu);
    if (cache.size() > (1u << 18)) cache.clear();  // bound memory on adversarial inputs
    cache.emplace(word, std::move(ids));
  }
}

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(TokenizerData data) {
  const size_t n = data.tokens.size();
  if (n == 0) return Status::error("tokenizer: the vocabulary is empty");
  if (n > size_t(INT32_MAX)) return Status::error("tokenizer: vocabulary of {} tokens is too large", n);
  if (!data.token_types.empty() && data.token_types.size() != n)
    return Status::error("tokenizer: {} token types for {} tokens", data.token_types.size(), n);
  auto check_id = [&](const char* what, int id) -> Status {
    if (id < -1 || id >= int(n)) return Status::error("tokenizer: {} {} is outside the vocabulary (0..{})", what, id, n - 1);
    return Status::ok();
  };
  SEER_RETURN_IF_ERROR(check_id("bos_token_id", data.bos_id));
  SEER_RETURN_IF_ERROR(check_id("eos_token_id", data.eos_id));
  SEER_RETURN_IF_ERROR(check_id("padding_token_id", data.pad_id));

  auto tok = std::unique_ptr<Tokenizer>(new Tokenizer());
  Impl& im = *tok->impl_;
  im.token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!data.token_types.empty() && data.token_types[i] == kTypeUnused) continue;
    im.token_to_id.emplace(data.tokens[i], int(i));
  }
  im.merge_rank.reserve(data.merges.size());
  for (size_t i = 0; i < data.merges.size(); ++i) {
    const std::string& m = data.merges[i];
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size() || m.find(' ', sp + 1) != std::string::npos)
      return Status::error("tokenizer: merges[{}] = '{}' is not two tokens separated by one space", i, m);
    im.merge_rank.emplace(m, int(i));  // a duplicate merge keeps its first (lowest) rank
  }

  const ByteMap& bm = byte_map();
  im.decoded.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = data.tokens[i];
    const int type = data.token_types.empty() ? kTypeNormal : data.token_types[i];
    if (type == kTypeUnused) continue;
    if (type == kTypeControl || type == kTypeUserDefined) {
      im.decoded[i] = t;
      if (!t.empty()) im.specials_by_byte[static_cast<unsigned char>(t[0])].push_back(int(i));
      continue;
    }
    std::string& out = im.decoded[i];
    for (size_t p = 0; p < t.size();) {
      const size_t len = utf8_len(t, p);
      auto it = bm.to_byte.find(utf8_decode(t, p, len));
      if (it != bm.to_byte.end() && len == bm.to_text[it->second].size()) {
        out += char(it->second);
      } else {
        out.append(t, p, len);  // not a byte-mapped character: keep as is
      }
      p += len;
    }
  }
  for (auto& v : im.specials_by_byte) {
    std::stable_sort(v.begin(), v.end(), [&](int a, int b) {
      return data.tokens[size_t(a)].size() > data.tokens[size_t(b)].size();
    });
  }

  const char* pattern = data.pre == PreTokenizer::kLlama3  ? kLlama3Pattern
                        : data.pre == PreTokenizer::kQwen2 ? kQwen2Pattern
                                                           : kGpt2Pattern;
  SEER_ASSIGN_OR_RETURN(im.split, Regex::compile(pattern));
  if (data.pre == PreTokenizer::kSmolLM) {
    SEER_ASSIGN_OR_RETURN(im.digits, Regex::compile(kDigitPattern));
  }
  // Llama-3's tokenizer.json sets "ignore_merges": true (llama.cpp does the same for llama-bpe).
  im.ignore_merges = data.pre == PreTokenizer::kLlama3;
  im.default_system = default_system_prompt(data.chat_template);
  im.data = std::move(data);
  return tok;
}

std::vector<int> Tokenizer::encode(const std::string& text, bool parse_special) const {
  const Impl& im = *impl_;
  std::vector<int> out;
  out.reserve(text.size() / 3 + 1);
  size_t frag = 0;  // start of the current ordinary fragment
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& cands = im.specials_by_byte[static_cast<unsigned char>(text[i])];
    int hit = -1;
    for (int id : cands) {
      if (!parse_special && im.type_of(id) == kTypeControl) continue;
      const std::string& t = im.data.tokens[size_t(id)];
      if (text.compare(i, t.size(), t) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) continue;
    if (i > frag) im.encode_fragment(std::string_view(text).substr(frag, i - frag), out);
    out.push_back(hit);
    i += im.data.tokens[size_t(hit)].size() - 1;
    frag = i + 1;
  }
  if (frag < text.size()) im.encode_fragment(std::string_view(text).substr(frag), out);
  return out;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) {
    if (id >= 0 && id < vocab_size()) out += impl_->decoded[size_t(id)];
  }
  return out;
}

std::string Tokenizer::token_text(int id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->decoded[size_t(id)];
}

int Tokenizer::vocab_size() const { return int(impl_->data.tokens.size()); }
int Tokenizer::bos_id() const { return impl_->data.bos_id; }
int Tokenizer::eos_id() const { return impl_->data.eos_id; }
bool Tokenizer::add_bos() const { return impl_->data.add_bos; }

int Tokenizer::find_token(const std::string& text) const {
  auto it = impl_->token_to_id.find(text);
  return it == impl_->token_to_id.end() ? -1 : it->second;
}

bool Tokenizer::is_special(int id) const {
  if (id < 0 || id >= vocab_size()) return false;
  const int t = impl_->type_of(id);
  return t == kTypeControl || t == kTypeUserDefined;
}

bool Tokenizer::has_chatml() const { return find_token("<|im_start|>") >= 0 && find_token("<|im_end|>") >= 0; }

// Without `system_message`, the template's own default system prompt (if it injects one, as
// SmolLM2's does) is used, so the prompt matches what the model saw in training; an explicit empty
// one gives an empty system turn.
std::string Tokenizer::apply_chat_template(const std::string& user_message,
                                           const std::optional<std::string>& system_message) const {
  const std::string& system = system_message ? *system_message : impl_->default_system;
  if (!has_chatml()) return system.empty() ? user_message : system + "\n\n" + user_message;
  std::string out;
  if (!system.empty() || system_message) out += "<|im_start|>system\n" + system + "<|im_end|>\n";
  out += "<|im_start|>user\n" + user_message + "<|im_end|>\n";
  out += "<|im_start|>assistant\n";
  return out;
}

// ------------------------------------------------------------------------------------------------
// GGUF
Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& f) {
  const std::string& path = f.path();
  SEER_ASSIGN_OR_RETURN(std::string model, f.get_string("tokenizer.ggml.model"));
  if (model != "gpt2")
    return Status::error("{}: tokenizer.ggml.model is '{}'; only byte-level BPE ('gpt2') is supported", path, model);

  TokenizerData d;
  if (f.find("tokenizer.ggml.pre")) {
    SEER_ASSIGN_OR_RETURN(std::string pre, f.get_string("tokenizer.ggml.pre"));
    if (pre == "smollm") {
      d.pre = PreTokenizer::kSmolLM;
    } else if (pre == "llama-bpe" || pre == "llama3") {
      d.pre = PreTokenizer::kLlama3;
    } else if (pre == "qwen2") {
      d.pre = PreTokenizer::kQwen2;
    } else if (pre == "gpt2" || pre == "default") {
      d.pre = PreTokenizer::kGpt2;
    } else {
      return Status::error(
          "{}: tokenizer.ggml.pre is '{}'; supported: smollm, llama-bpe, llama3, qwen2, gpt2, default", path, pre);
    }
  }

  SEER_ASSIGN_OR_RETURN(const GgufValue* tokens, f.get_array("tokenizer.ggml.tokens"));
  if (tokens->elem_type != GgufType::kString || tokens->strings.size() != tokens->array_size())
    return Status::error("{}: tokenizer.ggml.tokens is not an array of strings", path);
  d.tokens = tokens->strings;

  if (f.find("tokenizer.ggml.token_type")) {
    SEER_ASSIGN_OR_RETURN(const GgufValue* types, f.get_array("tokenizer.ggml.token_type"));
    if (types->ints.size() != d.tokens.size() || types->array_size() != d.tokens.size())
      return Status::error("{}: tokenizer.ggml.token_type has {} integer entries for {} tokens", path,
                           types->ints.size(), d.tokens.size());
    d.token_types.reserve(types->ints.size());
    for (int64_t t : types->ints) d.token_types.push_back(int(t));
  }

  SEER_ASSIGN_OR_RETURN(const GgufValue* merges, f.get_array("tokenizer.ggml.merges"));
  if (merges->elem_type != GgufType::kString || merges->strings.size() != merges->array_size())
    return Status::error("{}: tokenizer.ggml.merges is not an array of strings", path);
  d.merges = merges->strings;

  SEER_ASSIGN_OR_RETURN(int64_t bos, f.get_int_or("tokenizer.ggml.bos_token_id", -1));
  SEER_ASSIGN_OR_RETURN(int64_t eos, f.get_int_or("tokenizer.ggml.eos_token_id", -1));
  SEER_ASSIGN_OR_RETURN(int64_t pad, f.get_int_or("tokenizer.ggml.padding_token_id", -1));
  const std::pair<const char*, int64_t> ids[] = {{"bos_token_id", bos}, {"eos_token_id", eos}, {"padding_token_id", pad}};
  for (const auto& [key, v] : ids) {
    if (v < -1 || v >= int64_t(d.tokens.size()))
      return Status::error("{}: tokenizer.ggml.{} = {} is outside the vocabulary of {} tokens", path, key, v,
                           d.tokens.size());
  }
  d.bos_id = int(bos);
  d.eos_id = int(eos);
  d.pad_id = int(pad);
  if (f.find("tokenizer.ggml.add_bos_token")) {
    SEER_ASSIGN_OR_RETURN(d.add_bos, f.get_bool("tokenizer.ggml.add_bos_token"));
  }
  if (f.find("tokenizer.chat_template")) {
    SEER_ASSIGN_OR_RETURN(d.chat_template, f.get_string("tokenizer.chat_template"));
  }
  auto r = create(std::move(d));
  if (!r) return r.status().with_context(path);
  return r;
}

// ------------------------------------------------------------------------------------------------
// Hugging Face tokenizer.json (+ tokenizer_config.json beside it)
namespace {

using nlohmann::json;

// Pre-tokenizer of a tokenizer.json, from its `pre_tokenizer` section.
Result<PreTokenizer> detect_pre(const json& pt, const std::string& path) {
  auto unsupported = [&](const std::string& why) {
    return Status::error("{}: pre_tokenizer: {} (supported: ByteLevel; Sequence[Digits(individual_digits), "
                         "ByteLevel]; Sequence[Split(Llama-3 or Qwen2 regex), ByteLevel(use_regex=false)])",
                         path, why);
  };
  if (pt.is_null()) return unsupported("missing or null");
  if (!pt.is_object() || !pt.contains("type") || !pt["type"].is_string()) return unsupported("no 'type'");
  std::vector<json> steps;
  if (pt["type"] == "Sequence") {
    if (!pt.contains("pretokenizers") || !pt["pretokenizers"].is_array())
      return unsupported("Sequence without 'pretokenizers'");
    for (const json& s : pt["pretokenizers"]) steps.push_back(s);
  } else {
    steps.push_back(pt);
  }
  bool digits = false, split_seen = false, byte_level = false, byte_level_regex = false;
  PreTokenizer split_kind = PreTokenizer::kGpt2;
  for (const json& s : steps) {
    const std::string type = s.value("type", "");
    if (type == "Digits") {
      if (!s.value("individual_digits", false)) return unsupported("Digits without individual_digits");
      digits = true;
    } else if (type == "ByteLevel") {
      if (s.value("add_prefix_space", false)) return unsupported("ByteLevel add_prefix_space=true");
      byte_level = true;
      byte_level_regex = s.value("use_regex", true);
    } else if (type == "Split") {
      std::string regex;
      if (s.contains("pattern") && s["pattern"].is_object() && s["pattern"].contains("Regex") &&
          s["pattern"]["Regex"].is_string())
        regex = s["pattern"]["Regex"].get<std::string>();
      if (regex == kLlama3Pattern) {
        split_kind = PreTokenizer::kLlama3;
      } else if (regex == kQwen2Pattern) {
        split_kind = PreTokenizer::kQwen2;
      } else if (regex == kGpt2Pattern) {
        split_kind = PreTokenizer::kGpt2;
      } else {
        return unsupported("Split pattern '" + regex + "' is not a known one");
      }
      split_seen = true;
    } else {
      return unsupported("step type '" + type + "'");
    }
  }
  if (!byte_level) return unsupported("no ByteLevel step");
  if (split_seen) {
    if (digits || byte_level_regex) return unsupported("Split combined with Digits or a regex ByteLevel");
    return split_kind;
  }
  if (!byte_level_regex) return unsupported("ByteLevel with use_regex=false and no Split");
  return digits ? PreTokenizer::kSmolLM : PreTokenizer::kGpt2;
}

// A token in tokenizer_config.json: "text" or {"content": "text", ...}.
std::string config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return {};
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

Result<TokenizerData> parse_hf(const json& j, const std::string& path) {
  TokenizerData d;
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    return Status::error("{}: field 'model' is missing or not an object", path);
  const json& m = j["model"];
  if (m.contains("type")) {
    if (!m["type"].is_string() || m["type"] != "BPE")
      return Status::error("{}: field 'model.type' is {}; only 'BPE' is supported", path, m["type"].dump());
  }
  if (m.value("byte_fallback", false))
    return Status::error("{}: field 'model.byte_fallback' is true (SentencePiece-style BPE) and not supported", path);
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    // NFC (Qwen2) leaves already-composed text unchanged; we do not normalise and say so here.
    const std::string t = j["normalizer"].value("type", "");
    if (t != "NFC") return Status::error("{}: field 'normalizer' of type '{}' is not supported", path, t);
  }
  if (!m.contains("vocab") || !m["vocab"].is_object())
    return Status::error("{}: field 'model.vocab' is missing or not an object", path);

  struct Entry {
    std::string text;
    int type;
  };
  std::map<int64_t, Entry> by_id;
  for (const auto& [text, idv] : m["vocab"].items()) {
    if (!idv.is_number_integer() || idv.get<int64_t>() < 0 || idv.get<int64_t>() > INT32_MAX)
      return Status::error("{}: field 'model.vocab': token '{}' has id {}", path, text, idv.dump());
    by_id[idv.get<int64_t>()] = {text, kTypeNormal};
  }
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) return Status::error("{}: field 'added_tokens' is not an array", path);
    size_t k = 0;
    for (const json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 ||
          a["id"].get<int64_t>() > INT32_MAX || !a.contains("content") || !a["content"].is_string())
        return Status::error("{}: field 'added_tokens[{}]' needs an integer 'id' and a string 'content'", path, k);
      by_id[a["id"].get<int64_t>()] = {a["content"].get<std::string>(),
                                       a.value("special", false) ? kTypeControl : kTypeUserDefined};
      ++k;
    }
  }
  if (by_id.empty()) return Status::error("{}: field 'model.vocab' is empty", path);
  // Ids index the token table: one far beyond the entries would allocate for every id below it.
  if (by_id.rbegin()->first >= kMaxTokenId)
    return Status::error("{}: token '{}' has id {}, above the largest supported ({})", path, by_id.rbegin()->second.text,
                         by_id.rbegin()->first, kMaxTokenId - 1);
  const size_t n = size_t(by_id.rbegin()->first) + 1;
  d.tokens.assign(n, std::string());
  d.token_types.assign(n, kTypeUnused);  // ids that no entry names stay unused
  for (auto& [id, e] : by_id) {
    d.tokens[size_t(id)] = std::move(e.text);
    d.token_types[size_t(id)] = e.type;
  }

  if (!m.contains("merges") || !m["merges"].is_array())
    return Status::error("{}: field 'model.merges' is missing or not an array", path);
  size_t k = 0;
  for (const json& mg : m["merges"]) {
    if (mg.is_string()) {
      d.merges.push_back(mg.get<std::string>());
    } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
      d.merges.push_back(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
    } else {
      return Status::error("{}: field 'model.merges[{}]' is {}; expected \"a b\" or [\"a\", \"b\"]", path, k,
                           mg.dump());
    }
    ++k;
  }

  SEER_ASSIGN_OR_RETURN(d.pre, detect_pre(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), path));
  return d;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_hf_json(const std::string& tokenizer_json_path) {
  const std::string& path = tokenizer_json_path;
  TokenizerData d;
  try {
    SEER_ASSIGN_OR_RETURN(json j, read_json_file(path));
    SEER_ASSIGN_OR_RETURN(d, parse_hf(j, path));

    const std::string cfg_path =
        (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
    std::error_code ec;
    if (std::filesystem::exists(cfg_path, ec)) {
      SEER_ASSIGN_OR_RETURN(json cfg, read_json_file(cfg_path));
      if (!cfg.is_object()) return Status::error("{}: not a JSON object", cfg_path);
      auto lookup = [&](const char* key, int* id) -> Status {
        const std::string t = config_token(cfg, key);
        if (t.empty()) return Status::ok();
        for (size_t i = 0; i < d.tokens.size(); ++i) {
          if (d.tokens[i] == t && d.token_types[i] != kTypeUnused) {
            *id = int(i);
            return Status::ok();
          }
        }
        return Status::error("{}: field '{}' is '{}', which is not a token of {}", cfg_path, key, t, path);
      };
      SEER_RETURN_IF_ERROR(lookup("bos_token", &d.bos_id));
      SEER_RETURN_IF_ERROR(lookup("eos_token", &d.eos_id));
      SEER_RETURN_IF_ERROR(lookup("pad_token", &d.pad_id));
      if (cfg.contains("add_bos_token")) {
        if (!cfg["add_bos_token"].is_boolean())
          return Status::error("{}: field 'add_bos_token' is {}; expected true or false", cfg_path,
                               cfg["add_bos_token"].dump());
        d.add_bos = cfg["add_bos_token"].get<bool>();
      }
      if (cfg.contains("chat_template")) {
        const json& ct = cfg["chat_template"];
        if (ct.is_string()) {
          d.chat_template = ct.get<std::string>();
        } else if (ct.is_array()) {  // [{"name": "default", "template": "..."}, ...]
          for (const json& e : ct) {
            if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
                e["template"].is_string())
              d.chat_template = e["template"].get<std::string>();
          }
        }
      }
    }
  } catch (const std::exception& e) {  // nlohmann type errors on malformed input
    return Status::error("{}: malformed tokenizer: {}", path, e.what());
  }
  auto r = create(std::move(d));
  if (!r) return r.status().with_context(path);
  return r;
}

}  // namespace seer
