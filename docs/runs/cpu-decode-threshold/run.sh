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
