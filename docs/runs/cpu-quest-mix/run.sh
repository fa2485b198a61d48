#!/usr/bin/env bash
# The decode gate's logits plus ALPHA times quest's bound (SPEC §6.5: per block and KV head the largest of
# Σ_d max(q_d·min_d, q_d·max_d)/sqrt(d) over the group's query heads, from the post-RoPE K cache's page minima and
# maxima), then the rule (a softmax of the sum for mass:P). A temporary switch, SEER_EXP_QUEST_MIX=ALPHA, in
# GatePolicy::score_decode (quest_mix_not_kept.diff; CPU only). Four 8k windows of the held-out text (the Xeon's
# figures: dense decode 32.162), teacher-forced over the last 2048 tokens, one thread per run, two runs at a time.
# usage: run.sh ALPHA RULE OUT.json [TEXT]
set -u
SEER_EXP_QUEST_MIX=$1 build/seer ppl "${4:-/tmp/eval.txt}" -c 8192 --max-windows 4 --json -t 1 \
  --gates gates/smollm2-135m-instruct --policy gate --prefill-len 6144 --decode-sparsity "$2" > "$3"
