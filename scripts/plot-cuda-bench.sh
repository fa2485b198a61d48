#!/usr/bin/env bash
# Plots the CUDA attention sweeps (`SWEEP=1 scripts/gpu-check.sh` writes them to $OUT/sweep.txt:
# `bench_cuda_attention --sweep` then `torch_baseline.py --sweep`) with Debian's gnuplot:
#   PREFIX_prefill_speedup.png  prefill at T=32k: speed-up over cuDNN dense causal vs density
#                               (seer Hopper kernel with rows per KV head and per query head, the
#                               mma.sync kernel, FlexAttention with one mask for all heads)
#   PREFIX_decode_bandwidth.png sparse decode: GB/s of K/V read vs batch, L = 32k and 128k,
#                               density 0.1 and dense
#   scripts/plot-cuda-bench.sh SWEEP_TXT PREFIX [TITLE]
set -euo pipefail
in=${1:?usage: plot-cuda-bench.sh SWEEP_TXT PREFIX [TITLE]}
prefix=${2:?usage: plot-cuda-bench.sh SWEEP_TXT PREFIX [TITLE]}
title=${3:-H100}
command -v gnuplot >/dev/null || { echo "plot-cuda-bench: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ -f $in ]] || { echo "plot-cuda-bench: $in not found" >&2; exit 1; }
cudnn=$(awk -F'\t' '$1=="tsv" && $2=="cudnn" {print $5}' "$in")
[[ -n $cudnn ]] || { echo "plot-cuda-bench: no cuDNN line in $in (run the sweep with torch)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# density, seer per-KV-head, seer per-head, mma.sync: speed-up = cuDNN ms / ms
awk -F'\t' -v c="$cudnn" '$1=="tsv" && $2=="prefill" {print $4, ($5>0? c/$5 : "NaN"), ($6>0? c/$6 : "NaN"), c/$7}' "$in" > "$tmp/prefill"
awk -F'\t' -v c="$cudnn" '$1=="tsv" && $2=="flex" {print $4, c/$5}' "$in" > "$tmp/flex"
for L in 32768 131072; do
  for d in 0.10 1.00; do
    awk -F'\t' -v L=$L -v d=$d '$1=="tsv" && $2=="decode" && $3==L && $5==d {print $4, $6}' "$in" > "$tmp/dec_${L}_$d"
  done
done
[[ -s $tmp/prefill ]] || { echo "plot-cuda-bench: no prefill lines in $in" >&2; exit 1; }
gnuplot <<EOF
set terminal pngcairo size 720,480 font ',10'
set output '${prefix}_prefill_speedup.png'
set title "Block-sparse prefill, T = 32k, bf16, 32 q / 8 kv heads, d = 128 ($title)"
set xlabel 'density (fraction of the causal block triangle)'
set ylabel 'speed-up over cuDNN dense causal'
set logscale xy
set xrange [0.04:1.2]
set grid
set key top right
plot '$tmp/prefill' u 1:2 w lp pt 7 lc rgb '#cc3311' t 'seer, Hopper kernel, rows per KV head', \
     '$tmp/prefill' u 1:3 w lp pt 5 lc rgb '#ee7733' t 'seer, Hopper kernel, rows per query head', \
     '$tmp/prefill' u 1:4 w lp pt 4 lc rgb '#999999' t 'seer, mma.sync kernel, rows per query head', \
     '$tmp/flex' u 1:2 w lp pt 9 lc rgb '#4477aa' t 'FlexAttention, one mask for all heads', \
     1/x w l dt 2 lc rgb '#000000' t 'ideal (1/density)'
set output '${prefix}_decode_bandwidth.png'
set title "Sparse decode, K/V bytes read per second ($title)"
set xlabel 'batch (sequences)'
set ylabel 'GB/s over the selected K/V'
unset logscale
set logscale x 2
set xrange [0.8:40]  # batches 1 .. 32 (the prefill plot's range would hide them)
set yrange [0:*]
set key bottom right
plot '$tmp/dec_131072_0.10' w lp pt 7 lc rgb '#cc3311' t 'L = 128k, density 0.1', \
     '$tmp/dec_131072_1.00' w lp pt 5 lc rgb '#ee7733' t 'L = 128k, dense', \
     '$tmp/dec_32768_0.10' w lp pt 9 lc rgb '#4477aa' t 'L = 32k, density 0.1', \
     '$tmp/dec_32768_1.00' w lp pt 11 lc rgb '#66ccee' t 'L = 32k, dense', \
     3350 w l dt 2 lc rgb '#000000' t 'HBM3 peak (3.35 TB/s)'
EOF
echo "wrote ${prefix}_prefill_speedup.png ${prefix}_decode_bandwidth.png"
