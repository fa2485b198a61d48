#!/usr/bin/env bash
# D2 (stage 2 on the corpus with the commentaries; stopped at step 257 of 280 by its call's limit, lr then at
# 1e-5) over the held-out text, rows to set beside the shipped gates' stage 2 (X2) and stage 3 (X3) of
# ../h200-sink-excluded and the mass rows of ../h200-mass-rule: prefill Top-K 0.1, threshold 0.02 and mass:0.6
# over the 31 windows, then the decode budgets over the 8 windows.
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh  # (as run: an identical copy in this directory)
R=/tmp/run-D2; rm -rf $R && mkdir -p $R && tar xzf /tmp/m/gates-D2.tgz -C $R
name=D2
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval-$name.jsonl)
run() { local tag=$1 lim=$2; shift 2; local s=$(date +%s); timeout $lim "${E[@]}" "$@" > $OUT/$tag-$name.md 2>> $OUT/err-$name.txt; echo "== $tag rc=$? $(( $(date +%s) - s )) s (t=$(( $(date +%s) - t0 )))"; grep -E "^\|" $OUT/$tag-$name.md | tail -n +3; }
run prefill 200 --gates $R --windows 64 --phase prefill --policies gate --densities 0.1 --thresholds 0.02 --masses 0.6
run decode $(( 585 - ($(date +%s) - t0) )) --gates $R --windows 8 --phase decode --policies gate
echo "total $(( $(date +%s) - t0 )) s"
