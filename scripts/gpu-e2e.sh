#!/usr/bin/env bash
# End-to-end check of `seer --device cuda` with the real default model on a GPU machine that has
# neither the build's Debian packages nor the model (the device tool's machines): the seer binary is
# built here (CUDA, sm_90a, no -march=native) and travels with its shared libraries and the dynamic
# loader, so the GPU machine's own glibc does not matter; the model travels in four parts (a call
# carries at most 64 MiB with the working tree).
#
#   scripts/gpu-e2e.sh pack            here: build-devpack/seer + libs -> .devcarry/devpack.tar.xz (built first
#                                      when missing), the model -> .devcarry/model.part.{0,1,2,3} + model.sha256,
#                                      the prepared corpus -> corpus.tar.xz and the held-out evaluation text of
#                                      the shipped gates -> eval.txt (when the corpus is there: scripts/setup.sh
#                                      --corpus, then scripts/prepare-corpus.py ~/.cache/seer/corpus)
#   call 1 (carry .devcarry/model.part.0):  mkdir -p /tmp/m && cp .devcarry/* /tmp/m/
#   calls 2, 3 (carry .devcarry/model.part.1, then .2 and .devcarry/corpus.tar.xz):  cp .devcarry/* /tmp/m/
#   call 4 (carry .devcarry/model.part.3, .devcarry/devpack.tar.xz, .devcarry/model.sha256):
#           cp .devcarry/* /tmp/m/ && OUT=$OUT bash scripts/gpu-e2e.sh run|train|fullrun
# (calls within 30 s of each other, so the machine stays warm). `run` joins and checks the model, then
# compares perplexity on CPU and GPU (dense, gate prefill, gate decode) and generates with the gates.
# `train` runs `seer train-gates --device cuda` on the corpus (scripts/prepare-corpus.py output) and the
# first steps of the same run on the CPU, to compare the losses and measure the GPU run's tokens/s.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
model="${SEER_HOME:-$HOME/.cache/seer}/models/SmolLM2-135M-Instruct.Q4_1.gguf"

if [ "$mode" = pack ]; then
  if [ ! -x build-devpack/seer ]; then
    command -v nvcc > /dev/null || { echo "gpu-e2e: pack needs nvcc to build build-devpack/seer" >&2; exit 1; }
    echo "gpu-e2e: building build-devpack/seer (CUDA, sm_90a)" >&2
    cmake -S . -B build-devpack -G Ninja -DSEER_CUDA=ON -DSEER_NATIVE=OFF -DSEER_TESTS=OFF \
      -DCMAKE_CUDA_ARCHITECTURES=90a > /dev/null
    cmake --build build-devpack --target seer -j "$(nproc)"
  fi
  [ -f "$model" ] || { echo "gpu-e2e: no model at $model (scripts/fetch-model.sh)" >&2; exit 1; }
  rm -rf .devcarry /tmp/devpack && mkdir -p .devcarry /tmp/devpack/lib
  cp build-devpack/seer /tmp/devpack/
  # Every shared library except the CUDA ones (the GPU machine has its own, matching its driver).
  ldd build-devpack/seer | awk '/=>/ {print $3}' | grep -v -E 'libcuda|libcublas|libcudart' | xargs -I{} cp -L {} /tmp/devpack/lib/
  cp -L /lib64/ld-linux-x86-64.so.2 /tmp/devpack/lib/
  tar -C /tmp/devpack -cJf .devcarry/devpack.tar.xz .
  split -n 4 -d -a 1 "$model" .devcarry/model.part.
  sha256sum "$model" | awk '{print $1}' > .devcarry/model.sha256
  corpus="${SEER_HOME:-$HOME/.cache/seer}/corpus"
  if [ -d "$corpus" ]; then
    tar -C "$corpus" -cJf .devcarry/corpus.tar.xz .
    python3 scripts/eval-gates.py make-eval-text --list gates/smollm2-135m-instruct/eval_documents.txt \
      --corpus "$corpus" -o .devcarry/eval.txt
  else
    echo "gpu-e2e: no corpus at $corpus: corpus.tar.xz and eval.txt left out" >&2
  fi
  ls -la .devcarry
  exit 0
fi

[ "$mode" = run ] || [ "$mode" = train ] || [ "$mode" = fullrun ] || { echo "usage: scripts/gpu-e2e.sh pack|run|train|fullrun" >&2; exit 2; }
OUT="${OUT:-$PWD/out-gpu-e2e}"
mkdir -p "$OUT"
M=/tmp/m/model.gguf
cat /tmp/m/model.part.[0-9] > "$M"
[ "$(sha256sum "$M" | awk '{print $1}')" = "$(cat /tmp/m/model.sha256)" ] || { echo "gpu-e2e: model sha256 mismatch" >&2; exit 1; }
rm -rf /tmp/dp && mkdir -p /tmp/dp && tar -C /tmp/dp -xJf /tmp/m/devpack.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
libs="/tmp/dp/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
# Through an explicit loader seer cannot start itself again to pick OpenBLAS's kernels for an unknown
# CPU (src/core/blas_kernels.cpp): name them here.
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
else export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}; fi
seer() { /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "$libs" /tmp/dp/seer "$@"; }
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/device.txt"
G=gates/smollm2-135m-instruct
T=tests/data/tdavid_8k.txt

if [ "$mode" = train ]; then
  rm -rf /tmp/corpus /tmp/run-gpu /tmp/run-cpu && mkdir -p /tmp/corpus && tar -C /tmp/corpus -xJf /tmp/m/corpus.tar.xz
  args=(-m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both --seq-len 8192 --batch 1 -s 1
        --eval-rows 0 --checkpoint-every 1000)
  start=$(date +%s)
  seer train-gates "${args[@]}" -o /tmp/run-gpu --steps "${STEPS:-40}" --device cuda > "$OUT/train-gpu.log" 2>&1 || true
  echo "gpu run: $(( $(date +%s) - start )) s"
  seer train-gates "${args[@]}" -o /tmp/run-cpu --steps 2 --device cpu > "$OUT/train-cpu.log" 2>&1 || true
  echo "== GPU (first and last steps)"; grep -E "^step|step " "$OUT/train-gpu.log" | head -3; tail -4 "$OUT/train-gpu.log"
  echo "== CPU (first steps)"; grep -E "^step|step " "$OUT/train-cpu.log" | head -3; tail -2 "$OUT/train-cpu.log"
  cp /tmp/run-gpu/loss.tsv "$OUT/loss-gpu.tsv" 2>/dev/null || true
  cp /tmp/run-cpu/loss.tsv "$OUT/loss-cpu.tsv" 2>/dev/null || true
  exit 0
fi

# `fullrun`: train both gates on the whole corpus on the GPU (ARGS from $FULLRUN_ARGS), bring the gates back.
if [ "$mode" = fullrun ]; then
  rm -f "$OUT/device.txt"; rm -rf /tmp/corpus /tmp/run-full && mkdir -p /tmp/corpus && tar -C /tmp/corpus -xJf /tmp/m/corpus.tar.xz
  start=$(date +%s)
  # shellcheck disable=SC2086
  # A run past its time or failing still brings back what it wrote (gates of the last checkpoint, losses).
  rc=0
  timeout "${FULLRUN_SECONDS:-540}" /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "$libs" /tmp/dp/seer train-gates \
    -m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both --out /tmp/run-full \
    --device cuda ${FULLRUN_ARGS:-} > "$OUT/train.log" 2>&1 || rc=$?
  echo "fullrun: rc=$rc in $(( $(date +%s) - start )) s"
  tail -5 "$OUT/train.log"
  for k in prefill decode; do
    [ -d "/tmp/run-full/$k" ] && mkdir -p "$OUT/$k" && { cp /tmp/run-full/$k/* "$OUT/$k/" 2>/dev/null || true; }
  done
  cp /tmp/run-full/loss.tsv /tmp/run-full/eval_loss.tsv /tmp/run-full/eval_documents.txt "$OUT/" 2>/dev/null || true
  exit "$rc"
fi
row() {  # row NAME ARGS... : ppl JSON on cpu and cuda
  local name=$1; shift
  for dev in cpu cuda; do
    seer ppl "$T" -m "$M" -c 8192 --json --device $dev "$@" > "$OUT/ppl-$name-$dev.json" 2> "$OUT/ppl-$name-$dev.err" \
      || { echo "| $name | $dev | FAILED: $(tail -1 "$OUT/ppl-$name-$dev.err") |"; continue; }
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('| %s | %s | %.4f | %s | %.1f s |' % (sys.argv[2], sys.argv[3], j['ppl'], j.get('density', '-'), j['seconds']))" \
      "$OUT/ppl-$name-$dev.json" "$name" "$dev"
  done
}
{
  echo "| run | device | ppl | density | time |"
  echo "|---|---|---:|---|---:|"
  row dense
  row gate-prefill-0.5 --policy gate --gates $G --prefill-sparsity density:0.5
  row gate-decode-1024 --policy gate --gates $G --prefill-len 6144 --decode-sparsity budget:1024
  row streaming-0.2 --policy streaming --prefill-sparsity density:0.2
} | tee "$OUT/ppl.md"
prompt="$(head -c 12000 tests/data/tdavid_excerpt.txt)

Question: In one sentence, what is this text about?
Answer:"
for dev in cpu cuda; do
  seer generate -m "$M" -p "$prompt" -n 48 --temp 0 --device $dev --gates $G --prefill-sparsity density:0.3 \
    --decode-sparsity budget:1024 -q > "$OUT/generate-$dev.txt" 2> "$OUT/generate-$dev.err" || true
  echo "== generate --device $dev"; tail -c 400 "$OUT/generate-$dev.txt"; echo; tail -3 "$OUT/generate-$dev.err"
done
