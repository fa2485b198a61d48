#!/usr/bin/env bash
# Call 6 (twenty-fourth session), model-free. The tree: the scores kernel's early loads as __ldcg (call 5's c),
# and the decode selection's keys loaded with no branch between them (the SASS had eight dependent L2 round
# trips after the wait) and kv_lens read before its wait. The CudaGate suite, memcheck of two decode tests,
# the decode gate rows three times; then an ablation copy (/tmp/a: the tree plus SEER_EXP_SEL stops in the
# selection, as call 2: 0 after the wait, 1 after the keys, 2 after the k-th largest) twice per stop.
set -u
t0=$(date +%s)
rm -rf /tmp/a && mkdir -p /tmp/a && cp -r CMakeLists.txt include src tests bench /tmp/a/
python3 - <<'PY'
p='/tmp/a/src/kernels/cuda/gate.cuh'
s=open(p).read()
i=s.index('struct GateSelectParams'); j=s.index('\n};',i)
s=s[:j]+'\n  int exp_stop = 99;'+s[j:]
open(p,'w').write(s)
p='/tmp/a/src/kernels/cuda/gate.cu'
s=open(p).read()
s=s.replace('#include <algorithm>\n','#include <algorithm>\n#include <cstdlib>\n',1)
old='''  pdl_wait();  // launched early after the scores kernel (run_gate_select): its scores, through L2
'''
assert old in s
s=s.replace(old, old+'  if (p.exp_stop == 0) return;\n',1)
old='''  const int k = min(p.k, n);
  const bool take_all = top_k && k >= n;'''
assert old in s
s=s.replace(old,'''  if (p.exp_stop == 1) {
    uint32_t x = 0;
    for_each([&](int, uint32_t key) { x ^= key; });
    if (x == 0x12345678u && p.num_rows < 0) p.block_indices[0] = 1;
    return;
  }
'''+old,1)
old='''  const bool rank_ties = ties < equal;  // as in gate_select_kernel
  ThresholdState th;'''
assert old in s
s=s.replace(old,'''  if (p.exp_stop == 2) {
    if (kth == 0x12345678u && p.num_rows < 0) p.block_indices[0] = ties;
    return;
  }
'''+old,1)
old='''cudaError_t run_gate_select(const GateSelectParams& p, cudaStream_t stream) {'''
assert old in s
s=s.replace(old,'''cudaError_t run_gate_select(const GateSelectParams& p0, cudaStream_t stream) {
  GateSelectParams p = p0;
  if (const char* e = std::getenv("SEER_EXP_SEL")) p.exp_stop = std::atoi(e);''',1)
open(p,'w').write(s)
PY
( cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt -j10 seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; } ) &
( cmake -S /tmp/a/tests/cuda -B /tmp/ba -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_a.log 2>&1 &&
  ninja -C /tmp/ba -j6 bench_cuda_attention > /tmp/build_a.log 2>&1 || { echo "build a failed"; grep -E "error" -A3 /tmp/build_a.log | head -20; } ) &
wait
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g6
for r in 1 2 3; do /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g6/dgate_$r.txt 2>&1; done
for r in 1 2; do for st in 0 1 2 99; do SEER_EXP_SEL=$st /tmp/ba/bench_cuda_attention --gates 0 > /tmp/g6/abl_s${st}_$r.txt 2>&1; done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
echo "== tree"; grep -hE 'graph' /tmp/g6/dgate_*.txt | grep -E 'mid, (int8, )?graph|end, int8|sel, graph' | cut -c1-80 | sort
for st in 0 1 2 99; do echo "== ablation SEL=$st"; grep -hE 'mid, (int8, )?graph' /tmp/g6/abl_s${st}_*.txt | cut -c1-80 | sort; done
timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g6/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g6/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g6/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu:CudaGate.DecodeInt8CacheMatchesCpu' > /tmp/g6/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g6/memcheck.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g6 && tar czf $OUT/c6.tgz *.txt
