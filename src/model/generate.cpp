// Sampling and the generation loop; see seer/generate.h.
#include <seer/generate.h>
#include <seer/tokenizer.h>

#include <algorithm>
#include <cmath>

#include "core/timer.h"

namespace seer {

std::string Utf8Stream::push(const std::string& bytes) {
  pending_ += bytes;
  // Find the start of a trailing incomplete sequence, if any.
  size_t n = pending_.size(), cut = n;
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(pending_[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > back) cut = n - back;
    break;
  }
  std::string out = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

Result<GenerateStats> generate(Session& session, const Tokenizer& tok, const std::vector<int>& prompt,
                               const GenerateOptions& opts,
                               const std::function<bool(const std::string&)>& on_text) {
  GenerateStats st;
  st.prompt_tokens = int(prompt.size());
  if (prompt.empty()) return Status::error("the prompt is empty (no tokens)");
  std::vector<int> stops;
  for (int id : {tok.eos_id(), tok.find_token("<|im_end|>"), tok.find_token("<|endoftext|>")})
    if (id >= 0) stops.push_back(id);
  Sampler sampler(opts.sampling);
  Utf8Stream utf8;

  double t0 = now_seconds();
  SEER_ASSIGN_OR_RETURN(int next, session.forward_sample(prompt, sampler));
  st.prefill_seconds = now_seconds() - t0;
  t0 = now_seconds();
  for (int i = 0; i < opts.max_new_tokens; ++i) {
    if (opts.stop_at_eos && std::find(stops.begin(), stops.end(), next) != stops.end()) {
      st.stopped_at_eos = true;
      break;
    }
    ++st.generated_tokens;
    if (!on_text(utf8.push(tok.token_text(next)))) break;
    if (i + 1 == opts.max_new_tokens) break;
    if (session.pos() >= session.max_context()) {
      st.stopped_at_context = true;
      break;
    }
    const int one[1] = {next};
    SEER_ASSIGN_OR_RETURN(next, session.forward_sample(one, sampler));
  }
  on_text(utf8.flush());
  st.decode_seconds = now_seconds() - t0;
  return st;
}

}  // namespace seer
