// seer from C++, without the command line: load a model and trained AttnGates, generate with
// learned sparse attention (SeerAttention in prefill, SeerAttention-R in decode), and read how many
// key blocks the gates kept. The README's "Using seer from C++" walks through it.
//
//   example_sparse_generate MODEL GATES "prompt" [N [PREFILL_RULE DECODE_RULE]]
//   (MODEL: a GGUF file or a Hugging Face directory; GATES: a checkpoint, or prefill/ and decode/;
//   the rules as the command line's --prefill-sparsity / --decode-sparsity, by default threshold:0.01
//   and budget:1024, the README's main command's)
#include <seer/engine.h>
#include <seer/generate.h>
#include <seer/model.h>
#include <seer/policies.h>
#include <seer/tokenizer.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  const int n = argc > 4 ? std::atoi(argv[4]) : 32;
  if (argc < 4 || argc == 6 || argc > 7 || n < 1) {
    std::fprintf(stderr, "usage: %s MODEL GATES PROMPT [N [PREFILL_RULE DECODE_RULE]] (N >= 1; both rules or none)\n",
                 argv[0]);
    return 2;
  }
  auto fail = [](const seer::Status& s) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return 1;
  };
  // 1. The model (weights, config, tokenizer) and the gates trained for it.
  auto model = seer::load_model(argv[1]);
  if (!model) return fail(model.status());
  auto gates = seer::load_gate_bundle(argv[2], model->config);
  if (!gates) return fail(gates.status());

  // 2. The gate policy: by default a threshold on the prefill gate's probabilities (upstream's rule)
  //    and a 1024-token budget per decode step. Parsing gives the same errors as the command line's flags.
  auto prefill = seer::PrefillSparsity::parse(argc > 6 ? argv[5] : "threshold:0.01");
  auto decode = seer::DecodeSparsity::parse(argc > 6 ? argv[6] : "budget:1024");
  if (!prefill || !decode) return fail(!prefill ? prefill.status() : decode.status());
  seer::PolicyOptions po;
  po.prefill = *prefill;
  po.decode = *decode;
  po.block_size = gates->block_size();
  auto policy = seer::make_policy("gate", po, model->config, *gates);
  if (!policy) return fail(policy.status());

  // 3. A session on the CPU (SessionOptions::device = seer::Device::kCuda in a CUDA build).
  seer::SessionOptions so;
  so.policy = *policy;
  auto session = seer::Session::create(*model, so);
  if (!session) return fail(session.status());

  // 4. Tokens in, text out, greedy.
  const seer::Tokenizer& tok = *model->tokenizer;
  std::vector<int> ids;
  if (tok.add_bos() && tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  for (int id : tok.encode(argv[3], /*parse_special=*/false)) ids.push_back(id);
  seer::GenerateOptions go;
  go.max_new_tokens = n;
  go.sampling.temperature = 0.0f;
  auto stats = seer::generate(**session, tok, ids, go, [](const std::string& text) {
    std::fputs(text.c_str(), stdout);
    return true;
  });
  std::fputc('\n', stdout);
  if (!stats) return fail(stats.status());

  // 5. What the gates kept, over every layer of the prefill and of the decode steps.
  const auto pre = (*policy)->stats().prefill_total(), dec = (*policy)->stats().decode_total();
  std::printf("prompt %d tokens, generated %d; key blocks kept: prefill %.3f, decode %.3f\n", stats->prompt_tokens,
              stats->generated_tokens, pre.density(), dec.density());
  return 0;
}
