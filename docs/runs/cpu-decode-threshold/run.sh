#!/usr/bin/env bash
# The shipped decode gates with --decode-sparsity threshold:TAU against the fixed budgets, on the four CPU windows
# (the first four of the 31 held-out 8k windows; dense decode 32.162), teacher-forced over the last 2048 tokens
# after a dense 6144-token prefill. One `seer ppl` per line of runs.jsonl, two at a time (-t 1 each) on the
# project's 2-core Xeon; /tmp/eval.txt from scripts/eval-gates.py make-eval-text. Binary: a build of commit
# 07667e1 (build-cuda/seer, running on the CPU).
SEER=${SEER:-build/seer}
row() { $SEER ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates gates/smollm2-135m-instruct \
  --policy gate --prefill-len 6144 "$@" | tail -1; }
for b in 512 1024 2048; do row --decode-sparsity budget:$b; done
for t in 0.035 0.03 0.025 0.015 0.012 0.006 0.005 0.004; do row --decode-sparsity threshold:$t; done
# mass:P (mass.jsonl). These rows ran before the rule had its flag: a temporary switch made threshold:P select as
# mass:P (SEER_EXP_DECODE_MASS). The committed `--decode-sparsity mass:0.8` gives the same perplexity and density on
# the first window with -t 1 (24.8806, 0.16918); with -t 2 the gate's scores round differently (24.960, 0.16920).
for p in 0.55 0.6 0.75 0.8 0.9 0.93; do row --decode-sparsity mass:$p; done
