#!/usr/bin/env bash
# Call 1 (thirty-second session), model-free: the tree as committed (d3d8a79; the last CUDA change 0116399, the
# folded decode query written by the scores kernel's CTA 0, which ran in session 31 only behind its switch). The
# standalone CUDA build, every CTest, memcheck and racecheck of the fold and the decode gate tests, the decode gate
# rows at batch 16 and 1 (twice each).
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/g11
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
(cd /tmp/bt && timeout 260 ctest --output-on-failure > $OUT/g11/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/g11/ctest.txt) (t=$(el))"
grep -E "^\s+[0-9]+ - " $OUT/g11/ctest.txt | head -10
grep -E "Failure" -A6 $OUT/g11/ctest.txt | head -30
S='CudaGate.FoldedQuery*:CudaGate.Decode*'
for tool in memcheck racecheck; do
  timeout 70 compute-sanitizer --tool $tool /tmp/bt/seer_cuda_tests --gtest_filter="$S" > /tmp/$tool.txt 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/$tool.txt | tail -1) (t=$(el))"
done
for r in 1 2; do [ $(el) -lt 500 ] && timeout 45 /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/dgate16_$r.txt 2>&1; done
for r in 1 2; do [ $(el) -lt 530 ] && timeout 40 /tmp/bt/bench_cuda_attention --gates 0 1 > /tmp/dgate1_$r.txt 2>&1; done
cd /tmp && tar czf $OUT/g11/logs.tgz memcheck.txt racecheck.txt dgate*.txt build.log 2>/dev/null
echo "gate benches (t=$(el))"
grep -HE 'graph|product' /tmp/dgate16_*.txt /tmp/dgate1_*.txt 2>/dev/null | grep -E 'mid, (int8, )?(folded, )?graph|end, int8|product|sel, graph' | cut -c1-100 | sort
echo "total (t=$(el))"
