#!/usr/bin/env bash
# Call 6: the mixed-length gates (X, /tmp/run-mixed from call 5) against the shipped ones (S) and streaming:
# prefill Top-K at 1k/2k/4k/8k windows, thresholds at 8k, decode at 8k (budgets) and at 2k.
set -u
t0=$(date +%s)
source out/common.sh
X=/tmp/run-mixed; S=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval.jsonl)
run() { local name=$1; shift; local s=$(date +%s); timeout 200 "${E[@]}" "$@" > $OUT/$name.md 2>> $OUT/err.txt; echo "== $name rc=$? $(( $(date +%s) - s )) s (t=$(( $(date +%s) - t0 )))"; grep -E "^\|" $OUT/$name.md | tail -n +3; }
for ctx in 1024 2048 4096; do
  run p${ctx}S --gates $S --ctx $ctx --windows 64 --phase prefill --policies gate,streaming
  run p${ctx}X --gates $X --ctx $ctx --windows 64 --phase prefill --policies gate
done
run p8192X --gates $X --ctx 8192 --windows 64 --phase prefill --policies gate --thresholds 0.002,0.005,0.0075,0.01,0.02
run d8192X --gates $X --ctx 8192 --windows 8 --phase decode --policies gate
run d2048S --gates $S --ctx 2048 --decode-prefill 1024 --windows 16 --phase decode --policies gate,streaming --budgets 512,256
run d2048X --gates $X --ctx 2048 --decode-prefill 1024 --windows 16 --phase decode --policies gate --budgets 512,256
cat $OUT/p*.md $OUT/d*.md > $OUT/tables.md; rm -f $OUT/p*.md $OUT/d*.md
echo "total $(( $(date +%s) - t0 )) s"
