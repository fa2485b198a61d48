# Call 7 (the machine still warm from calls 4-6; common.sh as in ../h200-train-mixed-lengths/):
# the shipped gates at 1k/2k/4k windows, Top-K and threshold rows, against streaming at matched density.
set -u
t0=$(date +%s)
source out/common.sh
S=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval.jsonl)
for ctx in 1024 2048 4096; do
  s=$(date +%s)
  timeout 130 "${E[@]}" --gates $S --ctx $ctx --windows 64 --phase prefill --policies gate,streaming --densities 0.5,0.2 --thresholds 0.002,0.005,0.01 > $OUT/t$ctx.md 2>>$OUT/err.txt
  echo "== $ctx rc=$? $(( $(date +%s) - s )) s"; grep -E "^\|" $OUT/t$ctx.md | grep -v -- "---"
done
echo "total $(( $(date +%s) - t0 )) s"
