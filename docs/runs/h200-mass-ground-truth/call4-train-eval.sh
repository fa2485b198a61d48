#!/usr/bin/env bash
# Call 4: both gates trained from scratch on the blocks' masses (--ground-truth mass; run 3's command otherwise),
# then the new gates over the held-out text: prefill Top-K and thresholds (31 windows), decode budgets (8 windows).
set -u
t0=$(date +%s)
source out/common.sh
R=/tmp/run-mass
rm -rf $R
timeout 330 /tmp/seerw train-gates -m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both \
  --out $R --device cuda --seq-len 8192 --batch 4 --steps 280 --eval-rows 2 --eval-every 70 \
  --checkpoint-every 40 --cache-mb 90000 --ground-truth mass > $OUT/train.log 2>&1
echo "train rc=$? $(( $(date +%s) - t0 )) s"; grep -E "^seer: data" $OUT/train.log | head -2; tail -n 3 $OUT/train.log
cp $R/loss.tsv $R/eval_loss.tsv $OUT/ 2>/dev/null
tar czf $OUT/gates.tgz -C $R prefill decode eval_documents.txt 2>/dev/null
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval.jsonl)
run() { local name=$1; shift; local s=$(date +%s); timeout 150 "${E[@]}" "$@" > $OUT/$name.md 2>> $OUT/err.txt; echo "== $name rc=$? $(( $(date +%s) - s )) s (t=$(( $(date +%s) - t0 )))"; grep -E "^\|" $OUT/$name.md | tail -n +3; }
run prefill --gates $R --windows 64 --phase prefill --policies gate --thresholds 0.002,0.005,0.0075,0.01,0.015,0.02,0.03,0.05
run decode --gates $R --windows 8 --phase decode --policies gate
cat $OUT/prefill.md $OUT/decode.md > $OUT/tables.md; rm -f $OUT/prefill.md $OUT/decode.md
echo "total $(( $(date +%s) - t0 )) s"
