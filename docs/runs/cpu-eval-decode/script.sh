#!/usr/bin/env bash
# 2026-12-02, this project's 2-core machine (device.txt), build/seer at fe0a165: decode over the last 2048
# tokens of four held-out 8k windows after a dense 6144-token prefill, the shipped gates against quest
# (budgets 2048 / 1024 / 512) and the oracle (2048).
scripts/eval-gates.py --gates gates/smollm2-135m-instruct --text /tmp/eval.txt --windows 4 --phase decode \
  --policies gate,quest,oracle --budgets 2048 --threads 2 --jsonl eval.jsonl
for b in 1024 512; do for p in gate quest; do
  build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 2 --gates gates/smollm2-135m-instruct \
    --prefill-len 6144 --policy $p --decode-sparsity budget:$b | tail -1 >> eval.jsonl
done; done
