#!/usr/bin/env python3
"""Make SmolLM2-135M-Instruct golden files from the numpy reference forward (ref_forward.py).

Token ids come from llama.cpp's `llama-tokenize` (scripts/ref/build-llamacpp.sh builds it); the
logits and NLLs come from ref_forward.py (float32 numpy over the GGUF's dequantized weights). No BOS
is added: the GGUF says tokenizer.ggml.add_bos_token = false, and llama-tokenize follows it.

Outputs
  tests/golden/smollm2_logits.bin   per prompt: ids, top-1/top-5 per position, last position's logits
  tests/golden/smollm2_logits.json  the same prompts as text + ids + top-1 + metadata (human-readable)
  tests/golden/smollm2_ppl.json     perplexity of tests/data/tdavid_excerpt.txt (two protocols)

smollm2_logits.bin, little-endian, version 1:
  header (32 bytes):
    char     magic[8]     = "SEERLGT\\0"
    uint32   version      = 1
    uint32   num_prompts
    uint32   n_vocab      = 49152
    uint32   top_k        = 5
    uint32   reserved[2]  = 0
  then per prompt, in order:
    uint32   n_tokens
    int32    ids[n_tokens]                    token ids fed to the model (positions 0..n-1)
    int32    top1[n_tokens]                   argmax of logits at each position
    int32    topk_ids[n_tokens][top_k]        ids of the top_k logits, descending
    float32  topk_logits[n_tokens][top_k]     their logits
    float32  last_logits[n_vocab]             full logits of position n_tokens-1
  Position i's logits predict token i+1 from ids[0..i] (causal, positions start at 0).
  Ties in top-k are broken by the lower id first.

Usage:
  python3 scripts/golden/make_smollm2_golden.py [--model GGUF] [--llama-bin DIR] [--only logits|ppl]
        [--skip-llama-perplexity]
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_forward  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAGIC = b"SEERLGT\0"
VERSION = 1
TOP_K = 5
PPL_CTX = 512

PROMPTS = [
    # ~7 tokens
    "The capital of France is",
    # ~40 tokens, ChatML with special tokens (<|im_start|> id 1, <|im_end|> id 2) and digits
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is 12 times 34?<|im_end|>\n<|im_start|>assistant\n",
    # ~130 tokens: digits, contractions, punctuation, non-ASCII, newlines
    "In 1969, Apollo 11 carried 3 astronauts 384,400 km to the Moon; Neil Armstrong's first step came at "
    "02:56 UTC on July 21. It's said he'd rehearsed the line, but he always denied it — \"that's one small "
    "step for (a) man\". Café owners in Zürich reportedly stayed open all night.\n\n"
    "Today, a single smartphone has roughly 100,000 times the processing power of the Apollo Guidance "
    "Computer, which ran at 1.024 MHz with 2048 words of RAM. We've come a long way, haven't we? "
    "The next missions (Artemis II & III) are planned for 2026-2027.",
]
# a 4th prompt longer than 512 tokens: the start of the Treasury of David excerpt (~600 tokens)
LONG_PROMPT_CHARS = 2600


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_llama_bin(arg: str | None) -> str:
    if arg:
        return arg
    out = subprocess.run([os.path.join(REPO, "scripts", "ref", "build-llamacpp.sh")], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def tokenize(bin_dir: str, model: str, text: str) -> list[int]:
    """llama-tokenize with its defaults (special tokens parsed, BOS only if the model adds one)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
        path = f.name
    try:
        out = subprocess.run([os.path.join(bin_dir, "llama-tokenize"), "-m", model, "-f", path,
                              "--ids", "--log-disable"], check=True, capture_output=True, text=True)
    finally:
        os.unlink(path)
    line = [l for l in out.stdout.splitlines() if l.startswith("[")][-1]
    return [int(x) for x in line.strip("[]").split(",") if x.strip()]


def topk(logits: np.ndarray, k: int):
    # stable sort on -logit keeps the lower id first among ties
    idx = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    return idx.astype(np.int32), np.take_along_axis(logits, idx, axis=-1).astype(np.float32)


def make_logits(m: ref_forward.RefModel, bin_dir: str, model: str, out_bin: str, out_json: str):
    with open(os.path.join(REPO, "tests", "data", "tdavid_excerpt.txt"), encoding="utf-8") as f:
        excerpt = f.read()
    long_text = excerpt[:LONG_PROMPT_CHARS]
    long_text = long_text[: long_text.rfind(" ")]
    prompts = PROMPTS + [long_text]
    c = m.cfg
    meta = []
    with open(out_bin, "wb") as fb:
        fb.write(MAGIC + struct.pack("<IIIIII", VERSION, len(prompts), c.n_vocab, TOP_K, 0, 0))
        for text in prompts:
            ids = tokenize(bin_dir, model, text)
            lg = m.logits(ids)
            assert lg.shape == (len(ids), c.n_vocab) and np.isfinite(lg).all()
            tk_ids, tk_val = topk(lg, TOP_K)
            top1 = tk_ids[:, 0].copy()
            fb.write(struct.pack("<I", len(ids)))
            fb.write(np.asarray(ids, dtype="<i4").tobytes())
            fb.write(top1.astype("<i4").tobytes())
            fb.write(tk_ids.astype("<i4").tobytes())
            fb.write(tk_val.astype("<f4").tobytes())
            fb.write(lg[-1].astype("<f4").tobytes())
            meta.append({"text": text, "n_tokens": len(ids), "ids": ids, "top1": top1.tolist(),
                         "greedy_next_text": m.detok([int(top1[-1])])})
            print(f"prompt: {len(ids)} tokens, next={top1[-1]} {m.detok([int(top1[-1])])!r}", file=sys.stderr)
    doc = {
        "what": "SmolLM2-135M-Instruct reference logits; binary layout in scripts/golden/make_smollm2_golden.py",
        "binary": os.path.basename(out_bin), "magic": MAGIC.decode().rstrip("\0"), "version": VERSION,
        "top_k": TOP_K, "n_vocab": c.n_vocab,
        "model": os.path.basename(model), "model_sha256": sha256(model),
        "add_bos": c.add_bos, "bos_added": False,
        "tokenizer": "llama.cpp llama-tokenize (defaults: parse special tokens, BOS per GGUF)",
        "reference": "scripts/golden/ref_forward.py (numpy float32, dequantized weights, adjacent-pair RoPE)",
        "prompts": meta,
    }
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


def run_llama_perplexity(bin_dir: str, model: str, text_path: str) -> dict:
    cmd = [os.path.join(bin_dir, "llama-perplexity"), "-m", model, "-f", text_path, "-c", str(PPL_CTX),
           "-t", "2"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    log = out.stdout + out.stderr
    mm = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
    chunks = re.search(r"calculating perplexity over (\d+) chunks", log)
    shown = " ".join(["llama-perplexity", "-m", "$MODEL", "-f", "tests/data/tdavid_excerpt.txt",
                      "-c", str(PPL_CTX), "-t", "2"])
    return {"command": shown, "ppl": float(mm.group(1)) if mm else None,
            "ppl_stderr": float(mm.group(2)) if mm else None,
            "chunks": int(chunks.group(1)) if chunks else None}


def make_ppl(m: ref_forward.RefModel, bin_dir: str, model: str, out_json: str, skip_llama: bool):
    text_path = os.path.join(REPO, "tests", "data", "tdavid_excerpt.txt")
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    ids = tokenize(bin_dir, model, text)
    n_windows = len(ids) // PPL_CTX
    assert n_windows >= 2, f"excerpt too short: {len(ids)} tokens"
    total_nll, n_scored = 0.0, 0
    half_nll, half_scored = 0.0, 0
    per_window = []
    for wi in range(n_windows):
        win = ids[wi * PPL_CTX:(wi + 1) * PPL_CTX]
        nll = m.nll(win)  # nll[j] = -log p(win[j+1] | win[:j+1])
        total_nll += float(nll.sum())
        n_scored += len(nll)
        # llama-perplexity's protocol: score only tokens PPL_CTX/2+1 .. PPL_CTX-1 of each window
        first = PPL_CTX // 2
        half_nll += float(nll[first:].sum())
        half_scored += len(nll[first:])
        per_window.append({"start": wi * PPL_CTX, "nll_sum": float(nll.sum()),
                           "ppl": float(np.exp(nll.mean()))})
        print(f"window {wi}: ppl {per_window[-1]['ppl']:.4f}", file=sys.stderr)
    doc = {
        "what": "perplexity of SmolLM2-135M-Instruct (numpy reference forward) on tests/data/tdavid_excerpt.txt",
        "text": "tests/data/tdavid_excerpt.txt (Spurgeon, Treasury of David, Psalm 1; public domain; "
                "made by scripts/golden/make_tdavid_excerpt.py)",
        "text_sha256": sha256(text_path),
        "model": os.path.basename(model), "model_sha256": sha256(model),
        "tokenizer": "llama.cpp llama-tokenize -f FILE --ids (whole file, trailing newline included)",
        "bos_added": False,
        "n_text_tokens": len(ids),
        "protocol": (f"non-overlapping windows of {PPL_CTX} tokens from token 0; only full windows "
                     f"(the last {len(ids) - n_windows * PPL_CTX} tokens are dropped); each window is an "
                     "independent sequence starting at position 0 with an empty cache; every token of a "
                     "window except the first is scored (the first has no context), i.e. "
                     f"{PPL_CTX - 1} tokens per window; ppl = exp(total_nll / n_scored), natural log"),
        "window": PPL_CTX, "n_windows": n_windows, "n_scored": n_scored,
        "total_nll": total_nll, "mean_nll": total_nll / n_scored, "ppl": float(np.exp(total_nll / n_scored)),
        "windows": per_window,
        "numpy_llama_perplexity_protocol": {
            "what": (f"same windows, scoring only tokens {PPL_CTX // 2 + 1}..{PPL_CTX - 1} of each (llama-perplexity's "
                     "protocol), computed with the numpy reference: directly comparable with llama_perplexity.ppl"),
            "n_scored": half_scored, "total_nll": half_nll, "ppl": float(np.exp(half_nll / half_scored)),
        },
    }
    if not skip_llama:
        lp = run_llama_perplexity(bin_dir, model, text_path)
        lp["note"] = ("informational: llama.cpp CPU (Q8 activations, f16 KV cache), its own protocol: "
                      f"chunks of {PPL_CTX}, scores only the second half of each chunk")
        doc["llama_perplexity"] = lp
        print(f"llama-perplexity: {lp}", file=sys.stderr)
    doc["generated"] = datetime.date.today().isoformat()
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"ppl {doc['ppl']:.4f} over {n_scored} tokens", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--llama-bin", help="directory with llama-tokenize / llama-perplexity")
    ap.add_argument("--only", choices=["logits", "ppl"])
    ap.add_argument("--skip-llama-perplexity", action="store_true")
    args = ap.parse_args()
    model = args.model or ref_forward.default_model_path()
    bin_dir = find_llama_bin(args.llama_bin)
    m = ref_forward.RefModel(model)
    gold = os.path.join(REPO, "tests", "golden")
    os.makedirs(gold, exist_ok=True)
    if args.only in (None, "logits"):
        make_logits(m, bin_dir, model, os.path.join(gold, "smollm2_logits.bin"),
                    os.path.join(gold, "smollm2_logits.json"))
    if args.only in (None, "ppl"):
        make_ppl(m, bin_dir, model, os.path.join(gold, "smollm2_ppl.json"), args.skip_llama_perplexity)
    return 0


if __name__ == "__main__":
    sys.exit(main())
