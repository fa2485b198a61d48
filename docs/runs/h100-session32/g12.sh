#!/usr/bin/env bash
# Call 9 (thirty-second session), model-free, in the session's last device minutes: the int8 K-compression cache as
# the default (PolicyOptions::gate_cache_int8 = true). The standalone build, the CUDA gate and model tests (the 54 s
# prefill selection sweep left out: the change is decode's), then the decode gate rows at batch 16 once (the
# unlabelled rows must still be bf16's: spec.options.gate_cache_int8 = false in the bench).
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
(cd /tmp/bt && timeout 80 ctest -R 'CudaGate|CudaModel|CudaSample' -E 'PrefillSelectionMatchesCpu' --output-on-failure > /tmp/ctest.txt 2>&1)
echo "ctest rc=$? $(grep -E 'tests passed|tests failed' /tmp/ctest.txt) (t=$(el))"
grep -E "^\s+[0-9]+ - |Failure" -A4 /tmp/ctest.txt | head -30
timeout 40 /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/dgate16.txt 2>&1
grep -E 'sel, graph|mid, (int8, )?(folded, )?graph' /tmp/dgate16.txt | cut -c1-100
echo "total (t=$(el))"
