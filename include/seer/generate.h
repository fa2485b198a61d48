// Sampling and the generation loop.
// Sampling order: top-k -> temperature -> softmax -> top-p (nucleus) -> draw. temperature <= 0
// is greedy (argmax). The same seed gives the same tokens.
#pragma once

#include <seer/engine.h>
#include <seer/status.h>

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace seer {

class Tokenizer;

struct SamplingParams {
  float temperature = 0.7f;
  int top_k = 40;       // <= 0: no top-k
  float top_p = 0.95f;  // >= 1: no top-p
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int sample(std::span<const float> logits);
  // The uniform draw in [0, 1) that sample() makes for a non-greedy sample (advances the generator
  // the same way), for a sampler that runs elsewhere (the GPU's).
  double draw();
  const SamplingParams& params() const { return p_; }
  // Whether a GPU session can sample these settings on the device: greedy, or a top-k of at most
  // kMaxDeviceTopK below the vocabulary (the kernel does not sort the whole vocabulary).
  static constexpr int kMaxDeviceTopK = 1024;
  bool device_ok(int vocab) const;

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int>> cand_;
};

// Splits a byte stream into complete UTF-8 sequences so streamed output never cuts a character.
class Utf8Stream {
 public:
  std::string push(const std::string& bytes);  // returns what can be printed now
  std::string flush();                          // whatever is left

 private:
  std::string pending_;
};

struct GenerateOptions {
  int max_new_tokens = 128;
  SamplingParams sampling;
  bool stop_at_eos = true;
};

struct GenerateStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  bool stopped_at_eos = false;
  bool stopped_at_context = false;  // the session's context filled before max_new_tokens
};

// Runs the prompt as one prefill, then samples up to max_new_tokens tokens, calling `on_text` with
// printable text as it is produced. Stops at an end-of-generation token (EOS, <|im_end|>,
// <|endoftext|>) when stop_at_eos, or when `on_text` returns false.
Result<GenerateStats> generate(Session& session, const Tokenizer& tok, const std::vector<int>& prompt,
                               const GenerateOptions& opts,
                               const std::function<bool(const std::string&)>& on_text);

}  // namespace seer
