#!/usr/bin/env bash
# Plots a `seer train-gates` run: training loss per step (thin) and held-out eval loss (points),
# one panel per gate kind, from OUT/loss.tsv and OUT/eval_loss.tsv, with Debian's gnuplot.
#   scripts/plot-training.sh OUT_DIR PNG [TITLE]
set -euo pipefail
out=${1:?usage: plot-training.sh OUT_DIR PNG [TITLE]}
png=${2:?usage: plot-training.sh OUT_DIR PNG [TITLE]}
title=${3:-gate training}
command -v gnuplot >/dev/null || { echo "plot-training: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ -f $out/loss.tsv ]] || { echo "plot-training: $out/loss.tsv not found" >&2; exit 1; }
[[ $(wc -l < "$out/loss.tsv") -gt 1 ]] || { echo "plot-training: $out/loss.tsv has no steps yet" >&2; exit 1; }
# gnuplot strings are single-quoted: a quote in the title or the path is doubled.
gq() { printf '%s' "${1//\'/\'\'}"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
kinds=$(awk 'NR>1 {print $2}' "$out/loss.tsv" | sort -u)
n=$(echo "$kinds" | wc -w)
{
  echo "set terminal pngcairo size $((560 * n)),420 font ',10'"
  echo "set output '$(gq "$png")'"
  echo "set multiplot layout 1,$n title '$(gq "$title")'"
  for k in $kinds; do
    awk -v k="$k" 'NR>1 && $2==k {print $1, $3}' "$out/loss.tsv" > "$tmp/$k.train"
    awk -v k="$k" 'NR>1 && $2==k {print $1, $3}' "$out/eval_loss.tsv" 2>/dev/null > "$tmp/$k.eval" || true
    echo "set title '$k gate'; set xlabel 'step'; set ylabel 'loss (10 x sum over layers of KL)'; set grid"
    echo "set key top right"
    if [[ -s $tmp/$k.eval ]]; then
      echo "plot '$tmp/$k.train' w l lw 1 lc rgb '#4477aa' t 'train (per step)', '$tmp/$k.eval' w lp pt 7 ps 1 lc rgb '#cc3311' t 'held-out eval'"
    else
      echo "plot '$tmp/$k.train' w l lw 1 lc rgb '#4477aa' t 'train (per step)'"
    fi
  done
  echo "unset multiplot"
} > "$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
echo "$png"
