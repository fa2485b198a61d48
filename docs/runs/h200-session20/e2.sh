#!/usr/bin/env bash
# EXPERIMENT (twentieth session): fixed decode budgets shared unevenly over the layers. Each layer l gets
# round(N * share_l / 64) blocks per step and KV head, the shares (mean 1) being each layer's decode density
# under mass:P over a calibration text of training documents (calib.txt: five Treasury of David psalms, none
# held out), 4 windows. Then the 8 eval windows with those budgets (SEER_DECODE_LAYER_SHARES, a temporary
# switch in src/model/cuda_gate.cpp). Pairs (N, P): (2048, 0.9), (1024, 0.75), (512, 0.55).
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh 2>/dev/null
G=gates/smollm2-135m-instruct
run() { /tmp/seerw ppl "$1" -c 8192 --max-windows "$2" --json -m "$M" --device cuda --gates $G --prefill-len 6144 --policy gate --decode-sparsity "$3"; }
for pair in 2048:0.9 1024:0.75 512:0.55; do
  N=${pair%%:*} P=${pair##*:}
  run /tmp/m/calib.txt 4 mass:$P > $OUT/calib_$P.json 2> $OUT/calib_$P.err
  shares=$(python3 -c "
import json,sys; d=json.load(open('$OUT/calib_$P.json'))['density_per_layer']; m=sum(d)/len(d)
print(','.join(f'{x/m:.4f}' for x in d))")
  echo "N=$N P=$P calib density $(python3 -c "import json; print(json.load(open('$OUT/calib_$P.json'))['density'])") shares $shares"
  SEER_DECODE_LAYER_SHARES=$shares run /tmp/m/eval.txt 8 budget:$N > $OUT/layers_$N.json 2> $OUT/layers_$N.err
  python3 -c "
import json; r=json.load(open('$OUT/layers_$N.json')); print('budget:$N layer shares: ppl %.4f (%+.2f%% vs 33.8153) density %.4f' % (r['ppl'], 100*(r['ppl']/33.8153-1), r['density']['decode'] if isinstance(r['density'],dict) else r['density']))"
  echo "(t=$(( $(date +%s) - t0 )))"
done
