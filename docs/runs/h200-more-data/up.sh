#!/usr/bin/env bash
# Upload calls: the carried .devcarry files (model parts, devpack, corpus with --more, eval.txt) to /tmp/m;
# with BUILD=1 also the CUDA test trees for the decode +inf-bins check (inf.sh): /tmp/bh = the tree (HEAD's
# gate.cu), /tmp/bf = the tree with ../h200-decode-inf-bins/decode_inf_bins_not_kept.diff (its racecheck fix).
set -u
t0=$(date +%s)
mkdir -p /tmp/m && cp .devcarry/* /tmp/m/ && ls /tmp/m | tr '\n' ' '; echo
if [ "${BUILD:-0}" = 1 ]; then
  cmake -S tests/cuda -B /tmp/bh -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_h.log 2>&1 && ninja -C /tmp/bh bench_cuda_attention > /tmp/build_h.log 2>&1 || { echo "H build failed"; grep error -A3 /tmp/build_h.log | head -20; }
  rm -rf /tmp/tf && mkdir /tmp/tf && cp -r include src tests bench CMakeLists.txt cmake /tmp/tf/ 2>/dev/null
  (cd /tmp/tf && patch -p1 < "$OLDPWD/docs/runs/h200-decode-inf-bins/decode_inf_bins_not_kept.diff") > /tmp/patch.log 2>&1 || { echo "patch failed"; cat /tmp/patch.log; }
  cmake -S /tmp/tf/tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_f.log 2>&1 && ninja -C /tmp/bf > /tmp/build_f.log 2>&1 || { echo "F build failed"; grep error -A3 /tmp/build_f.log | head -20; }
  ls -la /tmp/bh/bench_cuda_attention /tmp/bf/seer_cuda_tests /tmp/bf/bench_cuda_attention 2>&1 | awk '{print $NF}'
fi
echo "t=$(( $(date +%s) - t0 )) s"
