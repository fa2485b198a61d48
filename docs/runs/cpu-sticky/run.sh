#!/usr/bin/env bash
# EXPERIMENT (twenty-second session): the decode gate's probabilities, raised for the blocks the previous step
# selected to f * M * m (m: the previous query's true attention mass of the block within that selection, the
# largest over the KV head's query heads; M: the gate's probability of the selection), then the rule. A
# temporary switch, SEER_EXP_STICKY=f, in GatePolicy (sticky_not_kept.diff; CPU only). What the sparse
# attention of the step before computes anyway (its softmax over the selected keys) joins the gate's ranking.
# Four 8k windows of the held-out text (the Xeon's figures: dense decode 32.162), teacher-forced over the last
# 2048 tokens, one thread per run, two runs at a time.
# usage: run.sh F RULE OUT.json
set -u
SEER_EXP_STICKY=$1 build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 \
  --gates gates/smollm2-135m-instruct --policy gate --prefill-len 6144 --decode-sparsity "$2" > "$3"
