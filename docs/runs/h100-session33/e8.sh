#!/usr/bin/env bash
# Call 8 (thirty-third session), after the uploads (calls 5-7): session 31's e3.sh again, now that a GPU session
# sets its gates up when it gets the policy (CudaForward::prepare): the shipped gates' prompt and generation tok/s
# with the budget shares, --uniform-budget and dense, three alternated rounds.
set -u
mkdir -p $OUT
bash docs/runs/h100-session31/e3.sh 2>&1 | tee $OUT/e3.txt
