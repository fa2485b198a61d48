#!/usr/bin/env bash
# The shipped gates (--exclude-sink, stage 3) on the four CPU windows (the first four of the 31), one `seer ppl`
# per line of eval.jsonl, the most telling rows first (dense: 34.257 prefill, 32.16197 decode, from
# docs/runs/cpu-mass-shipped/). Run from the repository root with /tmp/eval.txt (scripts/eval-gates.py make-eval-text).
G=gates/smollm2-135m-instruct
out=docs/runs/cpu-sink-excluded/eval.jsonl
run() { build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 2 --gates $G --policy gate "$@" >> $out; }
run --prefill-len 6144 --decode-sparsity budget:1024
run --prefill-sparsity density:0.1
run --prefill-len 6144 --decode-sparsity budget:512
run --prefill-len 6144 --decode-sparsity budget:2048
run --prefill-sparsity density:0.2
run --prefill-sparsity density:0.5
