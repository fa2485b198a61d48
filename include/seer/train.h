// Gate training by self-distillation from the frozen model (SPEC §4): data, ground truth,
// optimiser, checkpoints. `seer train-gates` is a thin CLI over train_gates().
//
// Data. Every input path is a text file or a directory (its *.txt files, recursively, in sorted
// order); one file is one document. Documents are split into train and eval by a hash of their
// name (the directory's own name, then the path inside it: "web/01-Genesis.txt") and the seed, so a document's side never depends on which
// other documents exist; the eval list is written next to the checkpoint. Each document is
// tokenised (no BOS) and cut into rows of seq_lens tokens (one length, or several taken in turn: a
// mix of context lengths, docs/TRAINING.md); a document's last piece becomes a shorter
// row when it has at least min_row_len tokens. Rows never cross documents (SPEC §4.2 keeps
// document boundaries for the decode gate; we keep them for both gates, so one frozen forward
// serves both). Row order: a fresh seeded permutation every epoch.
//
// One step: `batch` rows, each through one frozen forward (dense attention) that yields every
// layer's gate inputs and ground truth (TrainingExample); the loss is the mean over rows of
// gate_loss_scale * sum over layers of the layer loss (seer/gate_train.h); gradients are averaged
// the same way, clipped to a global L2 norm, then AdamW. The examples of a row never change (the
// model is frozen), so they are cached in memory up to a limit and later epochs skip the forward.
//
// Checkpoints: OUT/checkpoint/ holds the gates (f32), the AdamW moments and state.json (step,
// options, data fingerprint, eval documents, loss history). It is written to a temporary directory
// and renamed into place, so an interrupted run never leaves a half-written checkpoint; resuming
// continues from the last one and gives bit-identical gates to an uninterrupted run.
// The trained gates themselves go to OUT/prefill and/or OUT/decode (loadable with --gates OUT).
#pragma once

#include <seer/attention.h>  // BlockStat, GroupPool
#include <seer/engine.h>
#include <seer/gates.h>
#include <seer/model.h>
#include <seer/status.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace seer {

class Tokenizer;

struct Document {
  std::string name;         // as DocumentFile::name
  std::vector<int> tokens;
};

// One document: the file, and the name the split and the checkpoint use.
struct DocumentFile {
  std::string path;
  std::string name;  // "<input dir name>/<path inside it>", or the file name for a file input
};
// Lists the documents under `paths` (see above); a file reached twice (a path given twice, or a file
// inside a directory also given) is listed once, at its first place; the file `skip` (the run's own
// OUT/eval_documents.txt, when --out lies inside a data directory) is not listed. Errors: a missing
// path, a directory without .txt files.
Result<std::vector<DocumentFile>> list_documents(const std::vector<std::string>& paths, const std::string& skip = "");
// True when the document `name` belongs to the eval side for `eval_fraction` and `seed`.
bool is_eval_document(const std::string& name, double eval_fraction, uint64_t seed);

struct TrainRow {
  int doc = 0;    // index into the train documents
  int begin = 0;  // first token
  int len = 0;
};
// Rows of at most max(seq_lens) tokens (see above): document d is cut into pieces of
// seq_lens[(d + i) % n] tokens, i = 0, 1, ..., so every length starts some documents.
std::vector<TrainRow> make_rows(const std::vector<Document>& docs, const std::vector<int>& seq_lens, int min_row_len);
// Row order of `epoch`: a permutation of [0, n) from the seed (own Fisher-Yates over splitmix64,
// identical on every platform).
std::vector<int> epoch_order(int n, uint64_t seed, int epoch);

// AdamW schedule: linear warmup from 0 over `warmup` steps, then cosine from lr to min_lr at
// step `steps` (HF get_cosine_with_min_lr_schedule_with_warmup).
double learning_rate(int step, int steps, double lr, double min_lr, int warmup);

struct TrainOptions {
  bool prefill = true;      // train a prefill gate (SeerAttention)
  bool decode = false;      // train a decode gate (SeerAttention-R)
  std::vector<std::string> data;
  std::string out;
  int steps = 100;
  std::vector<int> seq_lens = {8192};  // row lengths, taken in turn along each document (make_rows)
  int batch = 1;            // rows per optimiser step (gradient accumulation)
  double lr = 1e-3;
  double min_lr_prefill = 0.0;   // upstream cosine to 0 (SPEC §4.1)
  double min_lr_decode = 1e-5;   // upstream cosine_with_min_lr 1e-5 (SPEC §4.2)
  int warmup = 20;
  double weight_decay = 0.0;
  double clip = 1.0;        // global gradient L2 norm; <= 0: no clipping
  double loss_scale = 10.0; // gate_loss_scale
  uint64_t seed = 0;        // init, row order, row sample, decode token sample
  uint64_t split_seed = 0;  // train/eval split by document (kept apart from `seed` so that runs with
                            // different seeds share one held-out set)
  std::string init;         // start from these gates (a --gates directory) instead of N(0, 0.02)
  double eval_fraction = 0.1;
  int min_row_len = 0;      // 0: min(max(4 * block_size, min(seq_lens) / 8), min(seq_lens)); at least 2 blocks
  int max_rows = 0;         // > 0: train on this many rows only (a seeded sample), to reuse cached examples
  int decode_tokens = 512;  // decode loss tokens sampled per row from its second half; 0: all of them
  // What the targets take of each key block (GroundTruthRequest::stat): its largest probability
  // (SPEC §4, upstream) or its probability mass; both gates of a run share it.
  BlockStat ground_truth = BlockStat::kMax;
  // How the decode targets pool a GQA group's query heads (GroundTruthRequest::group): the max
  // (SPEC §4.2) or the sum.
  GroupPool group_pool = GroupPool::kMax;
  int eval_rows = 2;        // held-out rows scored for the eval loss (0: none)
  int eval_every = 0;       // steps between eval losses; 0: only at the end
  int checkpoint_every = 10;
  int64_t cache_mb = 8192;  // memory for cached examples
  int num_threads = 0;
  // Where the frozen forwards run (the ground truth comes out of the attention kernel on either);
  // the gate losses and gradients stay on the CPU.
  Device device = Device::kCpu;
  bool resume = false;
  GateOptions prefill_gate, decode_gate;  // architecture of fresh gates
  // Progress: one line per step (and eval) to this sink; null: stderr.
  std::function<void(const std::string&)> log;
  // Polled after every step; true: write a checkpoint and stop (SIGINT in the CLI).
  std::function<bool()> should_stop;
  // Tests: stop (after checkpointing) once this many steps are done; 0: run to `steps`.
  int stop_after = 0;
};

struct TrainResult {
  int steps_done = 0;
  bool stopped = false;  // should_stop/stop_after ended the run early
  double last_loss = 0.0;
  double eval_loss = -1.0;  // at the end; -1 when there are no eval rows
  double seconds = 0.0;
  int64_t tokens = 0;       // tokens through the frozen model in this process
};

// Trains from fresh gates, or from OUT/checkpoint with opts.resume. The model must be the one the
// checkpoint was made with (checked through its dims and the data fingerprint).
Result<TrainResult> train_gates(const Model& model, const TrainOptions& opts);

// ---------------------------------------------------------------------------------------------
// Lower-level pieces, exposed for tests and tools.

// Ground truth and gate inputs of one row for every layer, from one frozen forward.
struct ExampleOptions {
  const GateSet* prefill = nullptr;  // its config gives pools and block size; null: no prefill examples
  const GateSet* decode = nullptr;
  int decode_tokens = 0;   // 0: every token of the second half
  BlockStat ground_truth = BlockStat::kMax;  // each block's max probability (SPEC §4) or its mass
  GroupPool group_pool = GroupPool::kMax;    // decode targets: max (SPEC §4.2) or sum over the group
  uint64_t sample_seed = 0;
  int num_threads = 0;
  Device device = Device::kCpu;
  // Reused for the forward when given (reset first); its context must hold the row. A GPU session
  // keeps its uploaded weights between rows this way. Null: a session per call.
  Session* session = nullptr;
};
struct PrefillGateExample;
struct DecodeGateExample;
// Runs `tokens` through the model and returns per-layer examples (prefill [num_layers] and/or
// decode [num_layers]).
Status collect_examples(const Model& model, const std::vector<int>& tokens, const ExampleOptions& opts,
                        std::vector<PrefillGateExample>* prefill, std::vector<DecodeGateExample>* decode);

}  // namespace seer
