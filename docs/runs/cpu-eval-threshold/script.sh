#!/usr/bin/env bash
# 2026-12-02, this project's 2-core machine (device.txt), build/seer rebuilt during the run (d50eafe, then
# fe0a165; their CPU paths are the same): the shipped
# prefill gate with threshold:TAU against the oracle and quest at the Top-K density at or above the gate's,
# four held-out 8k windows (eval.txt as docs/TRAINING.md makes it).
scripts/eval-gates.py --gates gates/smollm2-135m-instruct --text /tmp/eval.txt --windows 4 --phase prefill \
  --policies gate,oracle,quest --densities "" --thresholds 0.003,0.0075,0.01,0.02 --threads 2 --jsonl eval.jsonl
