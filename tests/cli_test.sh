#!/usr/bin/env bash
# Command-line conventions of `seer`: exit codes, messages, --help, --json keys, and a greedy
# answer from the default model (skipped when it is not cached). Prints "N passed, M failed".
set -u
seer="$1"
pass=0
fail=0
check() {  # check NAME EXPECTED_RC COMMAND... ; stdout+stderr in $out
  local name=$1 want=$2
  shift 2
  out=$("$@" 2>&1)
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name: rc $rc, want $want: $out"; fi
}
contains() {  # contains NAME TEXT
  if grep -qF -- "$2" <<<"$out"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: output lacks '$2': $out"; fi
}

check "no subcommand" 2 "$seer"
check "unknown flag" 2 "$seer" generate --bogus
contains "unknown flag message" "--bogus"
check "bad value" 2 "$seer" generate -p hi --temp -1
check "bad sparsity" 2 "$seer" ppl /dev/null --prefill-sparsity density:2
contains "bad sparsity names flag and value" "density:2"
check "help" 0 "$seer" generate --help
contains "help lists --prefill-sparsity" "--prefill-sparsity"
check "ppl help" 0 "$seer" ppl --help
contains "ppl help lists --prefill-len" "--prefill-len"
check "missing model" 1 "$seer" info -m /nonexistent/model.gguf
contains "missing model names the file" "/nonexistent/model.gguf"
printf 'GGUF\x03\x00\x00\x00' > "${TMPDIR:-/tmp}/seer_cli_truncated.gguf"
check "truncated gguf" 1 "$seer" info -m "${TMPDIR:-/tmp}/seer_cli_truncated.gguf"
contains "truncated gguf names the file" "seer_cli_truncated.gguf"

model="${SEER_HOME:-$HOME/.cache/seer}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "$model" ]; then
  check "generate" 0 "$seer" generate -p "The capital of France is" -n 8 --temp 0 -q
  contains "greedy answer" "Paris"
  check "info" 0 "$seer" info
  contains "info architecture" "llama"
  contains "info tensor types" "Q4_1"
  src=$(cd "$(dirname "$0")/.." && pwd)
  check "ppl json" 0 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -c 256 --max-windows 1 --json \
    --policy streaming --prefill-sparsity density:0.5
  for key in '"ppl"' '"nll"' '"tokens"' '"windows"' '"ctx"' '"density"' '"density_per_layer"'; do
    contains "ppl json key $key" "$key"
  done
  check "unknown policy" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" --policy nope
  contains "unknown policy lists the valid ones" "oracle"
  check "gate without gates" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" --policy gate
else
  echo "default model not cached: skipping the model checks"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
