#!/usr/bin/env bash
# Call 9 (twenty-fourth session), model-free. The tree: the decode selection's counting passes add a warp's
# equal digits in one atomic (__match_any_sync; call 8 found each radix pass ~2,000 cycles of conflicting
# shared-memory atomics). The CudaGate suite, racecheck and memcheck of the decode selection test, the step
# rows three times, and call 8's phase stamps on a copy of this tree.
set -u
t0=$(date +%s)
rm -rf /tmp/d && mkdir -p /tmp/d && cp -r CMakeLists.txt include src tests bench /tmp/d/
sed -n '/^python3 - <<.PY.$/,/^PY$/p' docs/runs/h200-session24/c8.sh | sed '1d;$d' > /tmp/d_patch.py && python3 /tmp/d_patch.py
( cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt -j10 seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; } ) &
( cmake -S /tmp/d/tests/cuda -B /tmp/bd -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_d.log 2>&1 &&
  ninja -C /tmp/bd -j6 bench_cuda_attention > /tmp/build_d.log 2>&1 || { echo "build d failed"; grep -E "error" -A3 /tmp/build_d.log | head -20; } ) &
wait
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g9
for r in 1 2 3; do /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g9/dgate_$r.txt 2>&1; done
/tmp/bd/bench_cuda_attention --gates 0 16 > /tmp/g9/stamps_16.txt 2>&1
echo "benched (t=$(( $(date +%s) - t0 )))"
grep -hE 'graph' /tmp/g9/dgate_*.txt | grep -E 'mid, (int8, )?graph|end, int8|sel, graph|0 out' | cut -c1-80 | sort
grep STAMPS /tmp/g9/stamps_16.txt | tail -6
timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g9/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g9/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g9/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
timeout 120 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu' > /tmp/g9/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g9/racecheck.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
timeout 120 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu' > /tmp/g9/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g9/memcheck.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
cd /tmp/g9 && tar czf $OUT/c9.tgz *.txt
