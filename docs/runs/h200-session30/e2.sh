#!/usr/bin/env bash
# Prepared in the thirtieth session (no device was lent), for the next GPU session: after the model's parts,
# eval.txt and the devpack are in /tmp/m (docs/runs/h200-session22/up.sh) and the devpack holds this tree's seer.
# The shipped prefill gate over the 31 held-out windows (8k), as TRAINING.md's GPU prefill rows: Top-K
# (density:RHO) split over the query heads by the prefill gate's budget shares (the default since this session)
# against --uniform-budget (every head the same k, the rule of every Top-K row before), at 0.5 / 0.2 / 0.1 and
# 0.11; then the mass rule's rows at 0.1 for reference (mass:0.55 / 0.6).
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh 2>/dev/null
G=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval-prefill-shares.jsonl)
timeout 500 "${E[@]}" --gates $G --windows 64 --phase prefill --policies gate,gate-uniform --densities 0.5,0.2,0.11,0.1 \
  --masses 0.55,0.6 > $OUT/prefill-shares.md 2> $OUT/err-prefill-shares.txt
echo "== prefill shares rc=$? $(( $(date +%s) - t0 )) s"; grep -E "^\|" $OUT/prefill-shares.md
tail -3 $OUT/err-prefill-shares.txt
