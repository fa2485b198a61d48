#!/usr/bin/env bash
# The CPU gate policy with --gate-cache-int8 (twenty-second session): the shipped decode gates, four 8k windows
# of the held-out text (the Xeon's figures: dense decode 32.162; the gate with the default cache +2.20% / +3.93% at
# budgets 2048 / 1024), teacher-forced over the last 2048 tokens, one thread per run, two runs at a time.
# usage: run.sh RULE OUT.json
set -u
build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates gates/smollm2-135m-instruct \
  --policy gate --prefill-len 6144 --decode-sparsity "$1" --gate-cache-int8 > "$2"
