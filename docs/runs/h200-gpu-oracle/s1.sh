#!/usr/bin/env bash
# Call 4 (carries model.part.3): the CUDA tests (all, then memcheck of the new oracle tests), and the oracles
# on the GPU (AttentionContext::block_scores) over the held-out text: prefill Top-K over the first 4 windows
# (the CPU table's windows) and all 31, the mass rule for oracle-mass, and one decode window to time it.
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh
/tmp/bt/seer_cuda_tests > $OUT/tests.txt 2>&1; echo "tests rc=$? $(grep -cE '^\[       OK' $OUT/tests.txt) ok, $(grep -E '^\[  FAILED' $OUT/tests.txt | head -3) (t=$(( $(date +%s) - t0 )))"
timeout 200 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaModel.Oracle*' > $OUT/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
G=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval.jsonl --gates $G)
run() { local tag=$1 lim=$2; shift 2; local s=$(date +%s); timeout $lim "${E[@]}" "$@" > $OUT/$tag.md 2>> $OUT/err.txt; echo "== $tag rc=$? $(( $(date +%s) - s )) s (t=$(( $(date +%s) - t0 )))"; grep -E "^\|" $OUT/$tag.md | tail -n +3; }
run prefill-4windows 120 --windows 4 --phase prefill --policies oracle,oracle-mass --densities 0.5,0.2,0.1
run prefill-31windows 260 --windows 64 --phase prefill --policies gate,oracle,oracle-mass,oracle-mass-sum --densities 0.5,0.2,0.1
P=(/tmp/seerw ppl /tmp/m/eval.txt -c 8192 --max-windows 64 --json -m "$M" --device cuda --policy oracle-mass)
for mp in 0.6 0.8; do s=$(date +%s); timeout 100 "${P[@]}" --prefill-sparsity mass:$mp > $OUT/mass-$mp.json 2>> $OUT/err.txt; echo "oracle-mass mass:$mp rc=$? $(( $(date +%s) - s )) s: $(tail -1 $OUT/mass-$mp.json | cut -c1-200)"; done
run decode-1window 120 --windows 1 --phase decode --policies oracle-mass --budgets 512
echo "total $(( $(date +%s) - t0 )) s"
