#!/usr/bin/env bash
# Call 8 (twenty-fourth session), model-free, diagnosis: call 7 found the decode selection's k-th largest at
# ~3.4 us per run even when run twice (so not its code's first fetch). A copy of the tree (/tmp/d) stamps
# clock64() at the phases of CTA 0 of the selection (after the wait, after the keys, in kth_largest: start,
# after the first counting pass, before the last ranking, each radix pass; end of the k-th; end of the
# emission) and prints the cycle deltas of 30 launches (printf), at batch 1 and 16.
set -u
t0=$(date +%s)
rm -rf /tmp/d && mkdir -p /tmp/d && cp -r CMakeLists.txt include src tests bench /tmp/d/
python3 - <<'PY'
p='/tmp/d/src/kernels/cuda/gate.cu'
s=open(p).read()
s=s.replace('namespace seer::cuda {','''#include <cstdio>
namespace seer::cuda {
__device__ long long g_st[24];
__device__ int g_nst, g_prints;
#define STAMP(k) do { if (blockIdx.x == 0 && threadIdx.x == 0 && size_is_cta) { g_st[k] = clock64(); } } while (0)
''',1)
def rep(old,new,count=1):
    global s
    assert old in s, old
    s=s.replace(old,new,count)
rep('''  int need = k, left = n;  // the answer is the need-th largest of the `left` keys remaining''','''  const bool size_is_cta = size == 256;
  STAMP(2);
  int radix_passes = 0;
  int need = k, left = n;  // the answer is the need-th largest of the `left` keys remaining''')
rep('''  auto rank_left = [&](auto&& in) {
    uint32_t* list = reinterpret_cast<uint32_t*>(hist);''','''  auto rank_left = [&](auto&& in) {
    STAMP(4);
    if (blockIdx.x == 0 && threadIdx.x == 0 && size_is_cta) { g_nst = left * 100 + radix_passes; }
    uint32_t* list = reinterpret_cast<uint32_t*>(hist);''')
rep('''      const int d = pass([&](uint32_t key) { return key >= lo ? bin(key) : -1; }, kShort ? mins : nullptr);''','''      const int d = pass([&](uint32_t key) { return key >= lo ? bin(key) : -1; }, kShort ? mins : nullptr);
      STAMP(3);''')
rep('''    const int shift = max(top - 7, 0);''','''    ++radix_passes;
    const int shift = max(top - 7, 0);''')
rep('''  pdl_wait();  // launched early after the scores kernel (run_gate_select): its scores, through L2
''','''  pdl_wait();  // launched early after the scores kernel (run_gate_select): its scores, through L2
  const bool size_is_cta = true;
  STAMP(0);
''')
rep('''  const int k = min(p.k, n);
  const bool take_all = top_k && k >= n;''','''  if (blockIdx.x == 0 && threadIdx.x == 0) { g_st[1] = clock64() + 0 * reg[kRegs ? kCtaChunks - 1 : 0]; }
  const int k = min(p.k, n);
  const bool take_all = top_k && k >= n;''')
rep('''  const bool rank_ties = ties < equal;  // as in gate_select_kernel''','''  STAMP(5);
  const bool rank_ties = ties < equal;  // as in gate_select_kernel''')
i=s.index('''  if (t == 0) {
    if (p.row_counts)''')
s=s[:i]+'''  STAMP(6);
  if (blockIdx.x == 0 && t == 0 && atomicAdd(&g_prints, 1) < 30)
    printf("STAMPS rows=%d n=%d k=%d left*100+radix=%d keys %lld kstart %lld pass1 %lld ranklist %lld kend %lld emit %lld\\n", int(p.num_rows), n, p.k, g_nst,
           g_st[1] - g_st[0], g_st[2] - g_st[1], g_st[3] - g_st[2], g_st[4] - g_st[3], g_st[5] - g_st[4], g_st[6] - g_st[5]);
'''+s[i:]
open(p,'w').write(s)
PY
cmake -S /tmp/d/tests/cuda -B /tmp/bd -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bd bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g8
for B in 1 16; do /tmp/bd/bench_cuda_attention --gates 0 $B > /tmp/g8/stamps_$B.txt 2>&1; done
for B in 1 16; do echo "B=$B"; grep STAMPS /tmp/g8/stamps_$B.txt | sort | uniq -c | sort -rn | head -12; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g8 && tar czf $OUT/c8.tgz *.txt
