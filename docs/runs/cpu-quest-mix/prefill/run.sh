#!/usr/bin/env bash
# usage: run.sh ALPHA RULE OUT  (4 windows of /tmp/eval.txt, prefill)
if [ "$2" = dense ]; then
  /work/main/build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --policy dense > $3 2> $3.err
else
  SEER_EXP_QUEST_MIX_PREFILL=$1 /work/main/build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates /work/main/gates/smollm2-135m-instruct --policy gate --prefill-sparsity $2 > $3 2> $3.err
fi
