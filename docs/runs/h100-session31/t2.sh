#!/usr/bin/env bash
# Prepared in the thirty-first session, for the next GPU session (after the uploads: /tmp/m holds the model's parts,
# eval.txt, corpus.tar.xz, devpack.tar.xz of the tree and devpack-gtpow.tar.xz, the same tree with gt_pow.diff, which
# raises the training targets to the power SEER_EXP_GT_POW and renormalises them).
# Does the decode gate rank the blocks near a budget's cut better when trained on sharper (g > 1) or flatter (g < 1)
# targets? KL(target || gate) weights each block by its target, so the tail near the cut of budget 512 / 1024 counts
# for little. Decode-only fine-tunes from the shipped gates, stage 3's rate (5e-4), 100 steps x 4 rows (400 of the 639 rows, ~140 s each on an H100):
# g = 1 (the control: the same fine-tune on the shipped targets), 0.7 and 1.5; then each over the 8 held-out windows
# with uniform budgets (the shares are calibrated for the shipped gate) at 1024 and 512.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
source docs/runs/h200-train-mixed-lengths/common.sh
if [ ! -x /tmp/seerx ]; then
  rm -rf /tmp/dpx && mkdir -p /tmp/dpx && tar -C /tmp/dpx -xJf /tmp/m/devpack-gtpow.tar.xz
  cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
  libs="/tmp/dpx/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
  printf '#!/bin/sh\nexec /tmp/dpx/lib/ld-linux-x86-64.so.2 --library-path "%s" /tmp/dpx/seer "$@"\n' "$libs" > /tmp/seerx && chmod +x /tmp/seerx
fi
D=/tmp/corpus
G=gates/smollm2-135m-instruct
mkdir -p $OUT/t2
for g in ${GT_POWS:-1 1.5}; do   # a second call: GT_POWS=0.7
  [ $(el) -lt 300 ] || break
  SEER_EXP_GT_POW=$g timeout 240 /tmp/seerx train-gates -m "$M" --data $D/tdavid $D/web $D/kjv --kind decode --init $G \
    --out /tmp/ft$g --device cuda --seq-len 8192 --batch 4 --steps 100 --lr 5e-4 --eval-rows 0 --checkpoint-every 1000 \
    --cache-mb 100000 --ground-truth mass --exclude-sink -s 3 > $OUT/t2/train_$g.log 2>&1
  echo "g=$g train rc=$? $(tail -1 $OUT/t2/train_$g.log | cut -c1-80) (t=$(el))"
  for b in 1024 512; do
    /tmp/seerw ppl /tmp/m/eval.txt -c 8192 --max-windows 8 --json -m "$M" --device cuda --prefill-len 6144 \
      --gates /tmp/ft$g --policy gate --uniform-budget --decode-sparsity budget:$b > $OUT/t2/ppl_${g}_$b.json 2>/dev/null
    python3 -c "import json; r=json.load(open('$OUT/t2/ppl_${g}_$b.json')); print('g=$g budget $b: ppl %.4f (%+.3f%% vs 33.81528)' % (r['ppl'], 100*(r['ppl']/33.81528165066893-1)))"
  done
done
echo "total (t=$(el))"
