#!/usr/bin/env bash
# Call 6 (thirty-second session), after the uploads: session 31's e3.sh (GPU generation speed of the shipped gates,
# budget shares against --uniform-budget and dense), then its t2.sh (decode-gate fine-tunes on targets raised to a
# power, GT_POWS, default "1 1.5").
set -u
mkdir -p $OUT
bash docs/runs/h100-session31/e3.sh 2>&1 | tee $OUT/e3.txt
bash docs/runs/h100-session31/t2.sh 2>&1 | tee $OUT/t2.txt
