#!/usr/bin/env bash
# Call 13 (written in the twenty-fourth session, not run). In the SASS, the step kernel's matvec (64 registers
# under __launch_bounds__(256, 4)) issues its 16 rows of weight loads as 7 + 9 or 4 + 12, the first rows' FMAs
# between: two L2 round trips per 16 rows, eight for a warp's 64 rows at batch 16. ring_matvec.diff (applied to
# a copy, /tmp/w) streams the weights through a shared-memory ring instead: chunks of 32 KB, three in flight by
# cp.async, each read by all warps in matvec's row order (the same sums, bit for bit). SEER_EXP_RING=1 turns it
# on in the same build. The CudaGate suite, memcheck and racecheck of the decode tests with it on; the step
# rows three times each way, alternating.
set -u
t0=$(date +%s)
rm -rf /tmp/w && mkdir -p /tmp/w && cp -r CMakeLists.txt include src tests bench /tmp/w/
(cd /tmp/w && git apply "$OLDPWD/docs/runs/h200-session24/ring_matvec.diff") || { echo "patch failed"; exit 1; }
cmake -S /tmp/w/tests/cuda -B /tmp/bw -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bw seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g13
for r in 1 2 3; do for ring in 0 1; do SEER_EXP_RING=$ring /tmp/bw/bench_cuda_attention --gates 0 > /tmp/g13/dgate_ring${ring}_$r.txt 2>&1; done; done
for ring in 0 1; do echo "== ring=$ring"; grep -hE 'graph' /tmp/g13/dgate_ring${ring}_*.txt | grep -E 'mid, (int8, |0 out, )?graph|end, int8' | cut -c1-80 | sort; done
echo "benched (t=$(( $(date +%s) - t0 )))"
SEER_EXP_RING=1 timeout 200 /tmp/bw/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g13/tests_ring.txt 2>&1
echo "ring: CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g13/tests_ring.txt) ok $(grep -E '^\[  FAILED' /tmp/g13/tests_ring.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
SEER_EXP_RING=1 timeout 120 compute-sanitizer --tool racecheck /tmp/bw/seer_cuda_tests --gtest_filter='CudaGate.DecodeInt8CacheMatchesCpu:CudaGate.DecodeScoresMatchCpuCache' > /tmp/g13/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g13/racecheck.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
SEER_EXP_RING=1 timeout 120 compute-sanitizer --tool memcheck /tmp/bw/seer_cuda_tests --gtest_filter='CudaGate.DecodeInt8CacheMatchesCpu:CudaGate.DecodeScoresMatchCpuCache' > /tmp/g13/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g13/memcheck.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
cd /tmp/g13 && tar czf $OUT/c13.tgz *.txt
