#!/usr/bin/env bash
# EXPERIMENT (twenty-second session): the decode oracle (oracle-mass, SPEC §6.6) scoring with the previous
# step's query instead of the current one (a temporary switch, SEER_EXP_PREV_Q, in OraclePolicy::score_decode;
# prev_query_not_kept.diff): how much of the oracle's lead over the gate survives one step's delay. Four 8k
# windows of the held-out text (the Xeon's figures: dense decode 32.162), teacher-forced over the last 2048
# tokens, one thread per run, two runs at a time.
# usage: run.sh POLICY RULE OUT.json [prev]
set -u
env ${4:+SEER_EXP_PREV_Q=1} build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 \
  --policy "$1" --prefill-len 6144 --decode-sparsity "$2" > "$3"
