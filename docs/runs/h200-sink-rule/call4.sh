#!/usr/bin/env bash
# (out/common.sh: docs/runs/h200-train-mixed-lengths/common.sh)
set -u
t0=$(date +%s)
source out/common.sh
G=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --gates $G --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M")
echo "setup $(( $(date +%s) - t0 )) s"
s=$(date +%s)
timeout 250 "${E[@]}" --phase prefill --windows 64 --policies gate,streaming,random --jsonl $OUT/eval-topk.jsonl > $OUT/prefill-topk.md 2> $OUT/prefill-topk.err
echo "prefill topk rc=$? $(( $(date +%s) - s )) s"; cat $OUT/prefill-topk.md; tail -3 $OUT/prefill-topk.err
s=$(date +%s)
left=$(( 580 - ($(date +%s) - t0) ))
timeout $left "${E[@]}" --phase prefill --windows 64 --policies gate,streaming,random --densities 0.5 --thresholds 0.002,0.003,0.005,0.0075,0.01,0.015,0.02,0.03 --jsonl $OUT/eval-thr.jsonl > $OUT/prefill-thr.md 2> $OUT/prefill-thr.err
echo "prefill thr rc=$? $(( $(date +%s) - s )) s"; cat $OUT/prefill-thr.md; tail -3 $OUT/prefill-thr.err
echo "total $(( $(date +%s) - t0 )) s"
