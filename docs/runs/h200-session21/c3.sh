#!/usr/bin/env bash
# Call (twenty-first session): Nsight Compute's full set on one launch of gate_k_project_rope_kernel<128> at 32k
# (the bench's gate step), to see what bounds it.
set -u
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 && ninja -C /tmp/bt bench_cuda_attention > /tmp/build.log 2>&1 || exit 1
timeout 200 ncu --set full --kernel-name regex:gate_k_project --launch-skip 2 --launch-count 1 /tmp/bt/bench_cuda_attention --gates 32768 > $OUT/ncu_full.txt 2>&1
grep -E "Duration|Throughput|Registers|Achieved Occupancy|Theoretical Occupancy|Stall|Warp Cycles|Issue Slot|Executed Ipc|Block Limit|Waves|L1/TEX Hit|L2 Hit|Bank" $OUT/ncu_full.txt | head -60
