#!/usr/bin/env bash
# Benchmark the default model (SmolLM2-135M-Instruct Q4_1) with llama.cpp's llama-bench on the CPU,
# and (later) with seer's bench/bench_model, and print one markdown table in tokens/s.
#   prompt processing (pp): 512, 2048, 8192 tokens from an empty cache (depth 0)
#   generation (tg):        128 tokens after a context of 512 and of 8192 tokens (llama-bench -d)
# llama-bench reports the mean and standard deviation over -r repetitions; the best repetition is
# printed too, because on shared cores contention only ever makes a repetition slower. Threads: -t 2 (this
# machine has 2 cores). Environment: THREADS, REPS, TG (tokens generated), LLAMA_BENCH_ARGS (extra).
# Usage: scripts/bench-vs-llamacpp.sh [MODEL.gguf]
set -euo pipefail

case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
THREADS="${THREADS:-2}"
REPS="${REPS:-2}"
TG="${TG:-128}"
model="${1:-$("$repo/scripts/fetch-model.sh")}"
[ -f "$model" ] || { echo "bench-vs-llamacpp: $model: no such file (a GGUF model; --help)" >&2; exit 2; }
bin=$("$repo/scripts/ref/build-llamacpp.sh")
bench="$bin/llama-bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
pp_cmd=("$bench" -m "$model" -t "$THREADS" -r "$REPS" -p 512,2048,8192 -n 0 -d 0 -o json ${LLAMA_BENCH_ARGS:-})
tg_cmd=("$bench" -m "$model" -t "$THREADS" -r "$REPS" -p 0 -n "$TG" -d 512,8192 -o json ${LLAMA_BENCH_ARGS:-})

echo "## seer vs llama.cpp: $(basename "$model")"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), seer commit: $rev, CPU: $cpu ($(nproc) cores visible), threads: $THREADS"
echo "- llama.cpp: vendored in llama-cpp-python $(basename "$(dirname "$bin")" | sed "s/^build-llamacpp-//") (PyPI sdist), CPU backend"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the cores are shared; a load above $THREADS means contention)"
echo "- command (pp): llama-bench -m \$MODEL -t $THREADS -r $REPS -p 512,2048,8192 -n 0 -d 0 ${LLAMA_BENCH_ARGS:-}"
echo "- command (tg): llama-bench -m \$MODEL -t $THREADS -r $REPS -p 0 -n $TG -d 512,8192 ${LLAMA_BENCH_ARGS:-}"
echo

"${pp_cmd[@]}" > "$tmp/pp.json" 2> "$tmp/pp.log" || { cat "$tmp/pp.log" >&2; exit 1; }
"${tg_cmd[@]}" > "$tmp/tg.json" 2> "$tmp/tg.log" || { cat "$tmp/tg.log" >&2; exit 1; }
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- seer side ---------------------------------------------------------------------------------
# Same tests, same threads and repetitions, same model, one after the other on an otherwise idle
# machine: prompt processing at depth 0, generation of $TG tokens after a context of 512 and 8192.
seer_bench="$repo/build/bench_model"
[ -x "$seer_bench" ] || "$repo/scripts/build.sh" >&2
echo "- command (seer): build/bench_model -m \$MODEL -t $THREADS --reps $REPS --pp 512,2048,8192 --tg 512,8192 --tg-tokens $TG"
"$seer_bench" -m "$model" -t "$THREADS" --reps "$REPS" --pp 512,2048,8192 --tg 512,8192 --tg-tokens "$TG" \
  --jsonl "$tmp/seer.jsonl" > "$tmp/seer.log" 2>&1 || { cat "$tmp/seer.log" >&2; exit 1; }
# --------------------------------------------------------------------------------------------------

python3 - "$tmp" <<'PY'
import json, os, sys
tmp = sys.argv[1]
rows = []
for name in ("pp.json", "tg.json"):
    for r in json.load(open(os.path.join(tmp, name))):
        test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        n = r["n_prompt"] + r["n_gen"]
        ts = [n * 1e9 / ns for ns in r.get("samples_ns", [])]
        rows.append((test, r.get("n_depth", 0), r["avg_ts"], r["stddev_ts"], max(ts) if ts else r["avg_ts"], r))
seer = {}
if os.path.exists(os.path.join(tmp, "seer.jsonl")):
    for line in open(os.path.join(tmp, "seer.jsonl")):
        if line.strip():
            s = json.loads(line)
            seer[(s["test"], s["depth"])] = (s["tps_mean"], s["tps_std"])
r0 = rows[0][5]
print(f"llama.cpp build {r0.get('build_commit', '?')} ({r0.get('build_number', '?')}), backend {r0.get('backends', '?')}, "
      f"model {r0.get('model_type', '?')}, {r0.get('model_size', 0) / 2**20:.1f} MiB, "
      f"n_batch {r0.get('n_batch')}, n_ubatch {r0.get('n_ubatch')}, flash_attn {r0.get('flash_attn')}, "
      f"KV {r0.get('type_k')}/{r0.get('type_v')}")
print()
print("| test | depth | llama.cpp tokens/s (mean ± sd) | llama.cpp best rep | seer tokens/s | seer / llama.cpp |")
print("|---|---:|---:|---:|---:|---:|")
for test, depth, m, sd, best, _ in rows:
    s = seer.get((test, depth))
    st = f"{s[0]:.2f} ± {s[1]:.2f}" if s else "—"
    ratio = f"{s[0] / m:.2f}×" if s else "—"
    print(f"| {test} | {depth} | {m:.2f} ± {sd:.2f} | {best:.2f} | {st} | {ratio} |")
PY
