#!/usr/bin/env bash
# Session 13, call 4: the group-sum ground truth on the GPU (CudaGroundTruth test), then stage 1 of the shipped
# gates' schedule with --group-pool sum (as stage 1 "X" of docs/runs/h200-sink-excluded, which pooled by max),
# and the decode evaluation over the 8 held-out windows.
set -u
t0=$(date +%s)
source out/common.sh
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1
ninja -C /tmp/bt seer_cuda_tests > /tmp/bt.log 2>&1 || { grep error -A3 /tmp/bt.log | head -20; }
timeout 60 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGroundTruth.*:CudaModel.*GroundTruth*' > $OUT/tests.txt 2>&1
echo "tests rc=$? $(grep -E '^\[  (PASSED|FAILED) ' $OUT/tests.txt | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -E "Failure|FAILED" -A4 $OUT/tests.txt | head -20
name=S1
R=/tmp/run-$name
rm -rf $R
timeout 330 /tmp/seerw train-gates -m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both \
  --out $R --device cuda --seq-len 8192 --batch 4 --steps 280 --eval-rows 2 --eval-every 70 \
  --checkpoint-every 40 --cache-mb 100000 --ground-truth mass --exclude-sink --group-pool sum > $OUT/train-$name.log 2>&1
echo "train $name rc=$? $(( $(date +%s) - t0 )) s"; tail -n 3 $OUT/train-$name.log
cp $R/loss.tsv $OUT/loss-$name.tsv; cp $R/eval_loss.tsv $OUT/eval_loss-$name.tsv
tar czf $OUT/gates-$name.tgz -C $R prefill decode eval_documents.txt 2>/dev/null
left=$(( 590 - ($(date +%s) - t0) ))
s=$(date +%s)
timeout $left python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" \
  --jsonl $OUT/eval-$name.jsonl --gates $R --windows 8 --phase decode --policies gate > $OUT/decode-$name.md 2> $OUT/err-$name.txt
echo "== decode rc=$? $(( $(date +%s) - s )) s"; grep -E "^\|" $OUT/decode-$name.md | tail -n +3
echo "total $(( $(date +%s) - t0 )) s"
