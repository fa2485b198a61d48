#!/usr/bin/env bash
# Call 14 (written in the twenty-fourth session, not run). In the SASS of the prefill selection
# (gate_select_kernel<16, true>, rows of 129-512 blocks: 8k-32k tokens), a warp's 16 key loads per lane go
# 4-5 at a time, each key's conversion waiting for its load between them (registers reused). row_loads.diff
# (on a copy, /tmp/l) issues all of them first (an index clamped to the row, as the decode selection's keys
# since 3ccf753). Builds t = the tree and l; l's CudaGate suite; the 32k prefill gate rows (the step against the
# attention, the *At a glance* 5% line) and the select rows, three times each, alternating.
set -u
t0=$(date +%s)
rm -rf /tmp/l && mkdir -p /tmp/l && cp -r CMakeLists.txt include src tests bench /tmp/l/
(cd /tmp/l && git apply "$OLDPWD/docs/runs/h200-session24/row_loads.diff") || { echo "patch failed"; exit 1; }
( cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt -j6 bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build t failed"; grep -E "error" -A3 /tmp/build.log | head -20; } ) &
( cmake -S /tmp/l/tests/cuda -B /tmp/bl -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_l.log 2>&1 &&
  ninja -C /tmp/bl -j10 bench_cuda_attention seer_cuda_tests > /tmp/build_l.log 2>&1 || { echo "build l failed"; grep -E "error" -A3 /tmp/build_l.log | head -20; } ) &
wait
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g14
for r in 1 2 3; do for v in t l; do /tmp/b$v/bench_cuda_attention --gates 32768 > /tmp/g14/pgate_${v}_$r.txt 2>&1; done; done
for v in t l; do echo "== $v"; grep -hE '^(gate|select|plan|prefill|rope)' /tmp/g14/pgate_${v}_*.txt | cut -c1-100 | sort | uniq; done
echo "benched (t=$(( $(date +%s) - t0 )))"
timeout 200 /tmp/bl/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g14/tests_l.txt 2>&1
echo "l: CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g14/tests_l.txt) ok $(grep -E '^\[  FAILED' /tmp/g14/tests_l.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
cd /tmp/g14 && tar czf $OUT/c14.tgz *.txt
