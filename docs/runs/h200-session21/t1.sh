#!/usr/bin/env bash
# Eval call (twenty-first session; carries model.part.3 and the devpack): the prefill mass rule under a gate
# temperature. The shipped gates with their logits multiplied by a factor (scale_gates.py; 1 = the shipped gates,
# byte for byte), each under mass:P over a grid, on the calibration text (training psalms, calib_documents.txt)
# and on the 31 held-out windows; the perplexity above dense interpolated at densities 0.1, 0.2, 0.45.
# usage: t1.sh FACTORS MASSES
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh 2>/dev/null
G=gates/smollm2-135m-instruct
for f in ${1//,/ }; do python3 docs/runs/h200-session21/scale_gates.py $G /tmp/gt/s$f $f $f; done
S=(python3 docs/runs/h200-session21/sweep.py --seer /tmp/seerw -m "$M" --gates-root /tmp/gt --factors "$1" --masses "$2")
"${S[@]}" --phase prefill --text /tmp/m/calib.txt --windows 64 --at 0.1,0.2,0.45 --jsonl $OUT/prefill.jsonl > $OUT/calib.md 2> $OUT/calib.err
echo "calib rc=$? (t=$(( $(date +%s) - t0 )))"; cat $OUT/calib.md; tail -n 3 $OUT/calib.err
"${S[@]}" --phase prefill --text /tmp/m/eval.txt --windows 64 --at 0.1,0.2,0.45 --jsonl $OUT/prefill.jsonl > $OUT/eval.md 2> $OUT/eval.err
echo "eval rc=$? (t=$(( $(date +%s) - t0 )))"; cat $OUT/eval.md; tail -n 3 $OUT/eval.err
gzip -k $OUT/prefill.jsonl 2>/dev/null
