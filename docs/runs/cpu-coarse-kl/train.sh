#!/usr/bin/env bash
# Thirty-second session: decode-gate fine-tunes on the coarse KL (coarse_kl.diff, SEER_EXP_COARSE_M=16: the target's
# 16 largest blocks one by one, the rest as one outcome; 16 blocks are budget 1024) against a control on the plain KL,
# side by side, one thread each, the same rows, seed and schedule (docs/runs/cpu-target-power's command).
C=~/.cache/seer/corpus
S=${SEER:-build/seer}
ft() {  # ft NAME [env]
  env $2 $S train-gates --kind decode --data $C/tdavid $C/web $C/kjv --out /tmp/ft-$1 \
    --init gates/smollm2-135m-instruct --seq-len 8192 --batch 4 --steps 60 --max-rows 16 --lr 5e-4 \
    --ground-truth mass --exclude-sink --eval-rows 2 --eval-every 0 -s 7 --checkpoint-every 1000 -t 1 \
    > docs/runs/cpu-coarse-kl/train-$1.log 2>&1
}
rm -rf /tmp/ft-ctl /tmp/ft-c16
ft ctl SEER_EXP_NONE=1 & ft c16 SEER_EXP_COARSE_M=16 & wait
tail -n1 docs/runs/cpu-coarse-kl/train-*.log
