#!/usr/bin/env bash
# Call 7 (twenty-fourth session), model-free. Builds: t = the tree (3ccf753); r = var/r/gate.cu (carried, not
# kept): the step kernel's RoPE tables by one sincos() each and computed in the first matvec's stage, while its
# weight prefetches are in flight; a = the tree plus SEER_EXP_SEL stops in the selection (1: after the keys,
# 2: after the k-th largest, 3: the k-th largest twice, then stop: is its time the code's first run?).
# r's decode tests; step rows three times for t and r alternating, twice per stop for a.
set -u
t0=$(date +%s)
rm -rf /tmp/a /tmp/r && mkdir -p /tmp/a /tmp/r && cp -r CMakeLists.txt include src tests bench /tmp/a/ && cp -r CMakeLists.txt include src tests bench /tmp/r/
cp docs/runs/h200-session24/var/r/gate.cu /tmp/r/src/kernels/cuda/gate.cu
python3 - <<'PY'
p='/tmp/a/src/kernels/cuda/gate.cuh'
s=open(p).read()
i=s.index('struct GateSelectParams'); j=s.index('\n};',i)
s=s[:j]+'\n  int exp_stop = 99;'+s[j:]
open(p,'w').write(s)
p='/tmp/a/src/kernels/cuda/gate.cu'
s=open(p).read()
s=s.replace('#include <algorithm>\n','#include <algorithm>\n#include <cstdlib>\n',1)
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
old='''    bounds([](uint32_t key) { return key != 0; }, &hi, &lo);  // 0: past the row's end
    kth = kth_largest<false>(hi, lo, n, k, t, kCtaThreads, hist, count, gather, bounds, [] { __syncthreads(); },
                             &ties, &equal);'''
assert old in s
s=s.replace(old,'''#pragma unroll 1
    for (int rep = 0; rep < (p.exp_stop == 3 ? 2 : 1); ++rep) {
    if (rep == 1) {
      __syncthreads();
      if (t == 0) listed = 0;
      __syncthreads();
    }
    bounds([](uint32_t key) { return key != 0; }, &hi, &lo);  // 0: past the row's end
    kth = kth_largest<false>(hi, lo, n, k, t, kCtaThreads, hist, count, gather, bounds, [] { __syncthreads(); },
                             &ties, &equal);
    }''',1)
old='''  const bool rank_ties = ties < equal;  // as in gate_select_kernel
  ThresholdState th;'''
assert old in s
s=s.replace(old,'''  if (p.exp_stop == 2 || p.exp_stop == 3) {
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
  ninja -C /tmp/bt -j5 bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build t failed"; grep -E "error" -A3 /tmp/build.log | head -20; } ) &
( cmake -S /tmp/r/tests/cuda -B /tmp/br -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_r.log 2>&1 &&
  ninja -C /tmp/br -j6 bench_cuda_attention seer_cuda_tests > /tmp/build_r.log 2>&1 || { echo "build r failed"; grep -E "error" -A3 /tmp/build_r.log | head -20; } ) &
( cmake -S /tmp/a/tests/cuda -B /tmp/ba -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_a.log 2>&1 &&
  ninja -C /tmp/ba -j5 bench_cuda_attention > /tmp/build_a.log 2>&1 || { echo "build a failed"; grep -E "error" -A3 /tmp/build_a.log | head -20; } ) &
wait
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g7
timeout 100 /tmp/br/seer_cuda_tests --gtest_filter='CudaGate.Decode*:CudaGate.ModelForward*' > /tmp/g7/tests_r.txt 2>&1
echo "r: decode tests rc=$? $(grep -cE '^\[       OK' /tmp/g7/tests_r.txt) ok $(grep -E '^\[  FAILED' /tmp/g7/tests_r.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do for v in t r; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g7/dgate_${v}_$r.txt 2>&1; done; done
for r in 1 2; do for st in 1 2 3; do SEER_EXP_SEL=$st /tmp/ba/bench_cuda_attention --gates 0 > /tmp/g7/abl_s${st}_$r.txt 2>&1; done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for v in t r; do echo "== $v"; grep -hE 'graph' /tmp/g7/dgate_${v}_*.txt | grep -E 'mid, (int8, )?graph|end, int8' | cut -c1-80 | sort; done
for st in 1 2 3; do echo "== ablation SEL=$st"; grep -hE 'mid, (int8, )?graph' /tmp/g7/abl_s${st}_*.txt | cut -c1-80 | sort; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g7 && tar czf $OUT/c7.tgz *.txt
