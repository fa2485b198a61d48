#!/usr/bin/env bash
# Upload calls (twenty-second session): the carried .devcarry files (model parts, devpack, eval.txt) to /tmp/m.
# With BENCH=1 (the cold first of them) also the tests/cuda tree built in /tmp/bt and the gate bench: the decode gate
# rows (batch 1 and 16 at 128k; the step under budget, `0 out` and mass:0.9) twice, the 32k prefill gate twice.
set -u
t0=$(date +%s)
mkdir -p /tmp/m && cp .devcarry/* /tmp/m/ && ls /tmp/m | tr '\n' ' '; echo
if [ "${BENCH:-0}" = 1 ]; then
  cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_t.log 2>&1 && ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build_t.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build_t.log | head -20; }
  mkdir -p /tmp/g2
  for r in 1 2; do
    /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g2/dgate_$r.txt 2>&1
    /tmp/bt/bench_cuda_attention --gates 32768 > /tmp/g2/pgate_$r.txt 2>&1
  done
  grep -hE "^decode|^gate" /tmp/g2/dgate_*.txt | cut -c1-110
  grep -hE "gate\+rope - rope" /tmp/g2/pgate_*.txt | cut -c1-110
  (cd /tmp/g2 && tar czf $OUT/bench.tgz *.txt)
fi
echo "t=$(( $(date +%s) - t0 )) s"
