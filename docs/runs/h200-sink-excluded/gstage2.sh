#!/usr/bin/env bash
# Stage 2 of the shipped gates' schedule from /tmp/run-SRC (a second cosine at half the rate, another row order)
# with extra flags ($3...), then the same evaluation as gtrain.sh.
set -u
t0=$(date +%s)
source out/common.sh  # as run; a copy: docs/runs/h200-train-mixed-lengths/common.sh
name=$1; src=$2; shift 2
R=/tmp/run-$name
rm -rf $R
timeout 330 /tmp/seerw train-gates -m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both \
  --out $R --device cuda --init /tmp/run-$src -s 1 --lr 5e-4 --seq-len 8192 --batch 4 --steps 280 --eval-rows 2 \
  --eval-every 140 --checkpoint-every 40 --cache-mb 100000 --ground-truth mass "$@" > $OUT/train-$name.log 2>&1
echo "train $name rc=$? $(( $(date +%s) - t0 )) s"; grep -E "^seer: data" $OUT/train-$name.log | head -2; tail -n 3 $OUT/train-$name.log
cp $R/loss.tsv $OUT/loss-$name.tsv; cp $R/eval_loss.tsv $OUT/eval_loss-$name.tsv
tar czf $OUT/gates-$name.tgz -C $R prefill decode eval_documents.txt 2>/dev/null
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval-$name.jsonl)
run() { local tag=$1 lim=$2; shift 2; local s=$(date +%s); timeout $lim "${E[@]}" "$@" > $OUT/$tag-$name.md 2>> $OUT/err-$name.txt; echo "== $tag rc=$? $(( $(date +%s) - s )) s (t=$(( $(date +%s) - t0 )))"; grep -E "^\|" $OUT/$tag-$name.md | tail -n +3; }
run prefill 100 --gates $R --windows 64 --phase prefill --policies gate --thresholds 0.005,0.01,0.02
left=$(( 585 - ($(date +%s) - t0) ))
run decode $left --gates $R --windows 8 --phase decode --policies gate
echo "total $(( $(date +%s) - t0 )) s"
