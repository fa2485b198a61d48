#!/usr/bin/env python3
"""Golden block selections for tests/test_sparsity.cpp: an independent numpy version of SPEC §3.

Prefill (SPEC §3.1), per (head, query block qb) row over the causal key blocks 0..qb:
  threshold:tau   prob > tau, prob = softmax over the causal blocks (logits) or the score (probs)
  density:rho     Top-K, k = max(1, int((1 - sqrt(1 - rho)) * nb)), nb = key blocks of the sequence
  last_block_dense: rows qb >= nb - 2 fully on
  mass:P          (project rule) weights w = float32(exp(s - max)) (logits) or the scores (probs); the
                  highest ones, in order, until their sum reaches P * sum(w), and every entry equal to
                  the last of them
  keep_sink (project rule, cases that set it): block 0 in every row; Top-K with k >= 2 ranks it first
                  (one of its k slots), a threshold or mass row without it gets it added (forced)
  project rule:   a row left empty gets its diagonal block (counted as forced)
Decode (SPEC §3.2, §2.3), per KV head over blocks 0..nb-1:
  budget:N        Top-K, k = N // block_size (all blocks if nb <= k)
  threshold:tau   prob > tau (softmax over all blocks for logits)
  then block 0 (sink) and block nb-1 (current) always on (counted as forced when added)
Top-K ties go to the lower index (stable sort on descending score).

Output tests/golden/sparsity.json: {"magic": "SEERSPARSITY", "version": 1, "cases": [...]} where a
case has the inputs (scores as float32 values) and the expected CSR rows and counts.
Usage: python3 scripts/golden/make_sparsity_golden.py [out.json]
"""
import json
import math
import os
import sys

import numpy as np

MAGIC = "SEERSPARSITY"
VERSION = 1


def top_k_mask(s, k):
    n = s.shape[0]
    keep = np.zeros(n, dtype=bool)
    if k >= n:
        keep[:] = True
        return keep
    if k <= 0:
        return keep
    order = np.argsort(-s.astype(np.float64), kind="stable")
    keep[order[:k]] = True
    return keep


def threshold_mask(s, tau, are_probs):
    s = s.astype(np.float64)
    if are_probs:
        return s > tau
    e = np.exp(s - s.max())
    return e / e.sum() > tau


def mass_mask(s, p, are_probs):
    s = s.astype(np.float64)
    w = np.where(s > 0, s, 0.0).astype(np.float32) if are_probs else np.exp(s - s.max()).astype(np.float32)
    w = w.astype(np.float64)
    order = np.argsort(-w, kind="stable")
    csum = np.cumsum(w[order])
    i = int(np.argmax(csum >= p * w.sum()))
    return (w >= w[order[i]]) & (w > 0)


def density_k(rho, nb):
    return max(1, int((1.0 - math.sqrt(1.0 - rho)) * nb))


def sink_top_k_mask(s, k):
    """Block 0 first, then the top k - 1 of the others (ties to the lower index); k = 1: plain Top-1."""
    n = s.shape[0]
    if k >= n or k < 2:
        return top_k_mask(s, k)
    keep = np.zeros(n, dtype=bool)
    keep[0] = True
    keep[1:] = top_k_mask(s[1:], k - 1)
    return keep


def prefill(kind, value, last_block_dense, scores, first_q_block, are_probs, keep_sink=False):
    heads, rows, nb = scores.shape
    out_rows, selected, dense, forced = [], 0, 0, 0
    for h in range(heads):
        for r in range(rows):
            qb = first_q_block + r
            s = scores[h, r, : qb + 1]
            if kind == "density":
                k = density_k(value, nb)
                picked = sink_top_k_mask(s, k) if keep_sink else top_k_mask(s, k)
            elif kind == "mass":
                picked = mass_mask(s, value, are_probs)
            else:
                picked = threshold_mask(s, value, are_probs)
            if last_block_dense and qb >= nb - 2:
                keep = np.ones(qb + 1, dtype=bool)
                forced += int((~picked).sum())
            else:
                keep = picked.copy()
                if keep_sink and kind in ("threshold", "mass") and not keep[0]:
                    keep[0] = True
                    forced += 1
                if not keep.any():
                    keep[qb] = True
                    forced += 1
            idx = [int(j) for j in np.nonzero(keep)[0]]
            out_rows.append(idx)
            selected += len(idx)
            dense += qb + 1
    return out_rows, {"selected": selected, "dense": dense, "forced": forced}


def decode(kind, value, scores, block_size, are_probs):
    heads, nb = scores.shape
    out_rows, selected, dense, forced = [], 0, 0, 0
    for h in range(heads):
        s = scores[h]
        if kind == "budget":
            keep = top_k_mask(s, min(int(value) // block_size, nb))
        else:
            keep = threshold_mask(s, value, are_probs)
        for j in (0, nb - 1):
            if not keep[j]:
                keep[j] = True
                forced += 1
        idx = [int(j) for j in np.nonzero(keep)[0]]
        out_rows.append(idx)
        selected += len(idx)
        dense += nb
    return out_rows, {"selected": selected, "dense": dense, "forced": forced}


def f32_list(a):
    return [float(x) for x in np.asarray(a, dtype=np.float32).ravel()]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "tests", "golden", "sparsity.json")
    rng = np.random.default_rng(20250704)
    cases = []

    def add_prefill(name, kind, value, lbd, heads, nb, first_q_block, are_probs, scores=None, keep_sink=False):
        rows = nb - first_q_block
        if scores is None:
            if are_probs:
                scores = rng.uniform(0.0, 0.05, size=(heads, rows, nb))
            else:
                scores = rng.normal(0.0, 2.0, size=(heads, rows, nb))
        scores = np.asarray(scores, dtype=np.float32).reshape(heads, rows, nb)
        sel, counts = prefill(kind, value, lbd, scores, first_q_block, are_probs, keep_sink)
        cases.append({"name": name, "phase": "prefill", "kind": kind, "value": value,
                      "last_block_dense": lbd, "keep_sink": keep_sink, "num_heads": heads, "num_blocks": nb,
                      "first_q_block": first_q_block, "num_rows": rows, "block_size": 64,
                      "are_probs": are_probs, "scores": f32_list(scores), "rows": sel,
                      "counts": counts})

    def add_decode(name, kind, value, heads, nb, block_size, are_probs, scores=None):
        if scores is None:
            if are_probs:
                scores = rng.uniform(0.0, 0.05, size=(heads, nb))
            else:
                scores = rng.normal(0.0, 2.0, size=(heads, nb))
        scores = np.asarray(scores, dtype=np.float32).reshape(heads, nb)
        sel, counts = decode(kind, value, scores, block_size, are_probs)
        cases.append({"name": name, "phase": "decode", "kind": kind, "value": value,
                      "num_heads": heads, "num_blocks": nb, "block_size": block_size,
                      "are_probs": are_probs, "scores": f32_list(scores), "rows": sel,
                      "counts": counts})

    # Prefill density: the k formula at several nb (odd ones included) and densities.
    for nb in (1, 2, 3, 5, 7, 8, 13):
        for rho in (0.05, 0.1, 0.3, 0.5, 0.9, 1.0):
            add_prefill(f"density nb={nb} rho={rho}", "density", rho, False, 2, nb, 0, False)
    for nb in (32, 63):
        for rho in (0.1, 0.5):
            add_prefill(f"density nb={nb} rho={rho}", "density", rho, False, 1, nb, 0, False)
    # Threshold on logits and on probabilities, sparse enough to empty some rows.
    for nb in (1, 4, 9, 17):
        for tau in (0.0, 0.01, 0.05, 0.2, 0.6):
            add_prefill(f"threshold logits nb={nb} tau={tau}", "threshold", tau, False, 3, nb, 0, False)
        for tau in (0.01, 0.03, 0.049):
            add_prefill(f"threshold probs nb={nb} tau={tau}", "threshold", tau, False, 2, nb, 0, True)
    # last_block_dense with both methods, and a chunk that starts mid-sequence.
    for nb in (1, 2, 3, 10):
        add_prefill(f"last_block_dense density nb={nb}", "density", 0.2, True, 2, nb, 0, False)
        add_prefill(f"last_block_dense threshold nb={nb}", "threshold", 0.3, True, 2, nb, 0, False)
    add_prefill("chunk density", "density", 0.4, False, 2, 11, 6, False)
    add_prefill("chunk threshold lbd", "threshold", 0.1, True, 2, 11, 7, False)
    # Ties: integer scores; Top-K keeps the lower index.
    ties = rng.integers(0, 3, size=(2, 12, 12)).astype(np.float32)
    add_prefill("density ties", "density", 0.5, False, 2, 12, 0, False, ties)

    # Decode budget (block 64 and 16), including budgets under one block and over the length.
    for nb in (1, 2, 3, 9, 40):
        for budget in (1, 64, 100, 256, 1000, 4096):
            add_decode(f"budget nb={nb} N={budget}", "budget", budget, 2, nb, 64, False)
        add_decode(f"budget bs16 nb={nb}", "budget", 80, 3, nb, 16, True)
        for tau in (0.0, 0.02, 0.1, 0.5):
            add_decode(f"decode threshold logits nb={nb} tau={tau}", "threshold", tau, 2, nb, 64, False)
        add_decode(f"decode threshold probs nb={nb}", "threshold", 0.03, 2, nb, 64, True)
    dties = rng.integers(0, 2, size=(2, 20)).astype(np.float32)
    add_decode("budget ties", "budget", 320, 2, 20, 64, False, dties)

    # The sink rule (appended, so the cases above keep their random scores): Top-K at several nb and
    # densities, thresholds on logits and probabilities, last_block_dense, a chunk, ties.
    for nb in (1, 2, 3, 7, 13, 40):
        for rho in (0.05, 0.2, 0.5, 1.0):
            add_prefill(f"sink density nb={nb} rho={rho}", "density", rho, False, 2, nb, 0, False, keep_sink=True)
        for tau in (0.0, 0.05, 0.3):
            add_prefill(f"sink threshold logits nb={nb} tau={tau}", "threshold", tau, False, 2, nb, 0, False,
                        keep_sink=True)
        add_prefill(f"sink threshold probs nb={nb}", "threshold", 0.03, False, 2, nb, 0, True, keep_sink=True)
    for nb in (2, 3, 10):
        add_prefill(f"sink last_block_dense density nb={nb}", "density", 0.2, True, 2, nb, 0, False, keep_sink=True)
        add_prefill(f"sink last_block_dense threshold nb={nb}", "threshold", 0.3, True, 2, nb, 0, False,
                    keep_sink=True)
    add_prefill("sink chunk density", "density", 0.3, False, 2, 11, 6, False, keep_sink=True)
    sties = rng.integers(0, 3, size=(2, 12, 12)).astype(np.float32)
    add_prefill("sink density ties", "density", 0.5, False, 2, 12, 0, False, sties, keep_sink=True)

    # mass:P (appended): logits and probabilities at several nb and shares, the sink rule, last_block_dense,
    # a chunk, ties (integer scores: the tie at the cut is kept whole).
    for nb in (1, 2, 5, 17, 40):
        for p in (0.1, 0.5, 0.9, 0.99, 1.0):
            add_prefill(f"mass logits nb={nb} P={p}", "mass", p, False, 2, nb, 0, False)
            add_prefill(f"sink mass logits nb={nb} P={p}", "mass", p, False, 2, nb, 0, False, keep_sink=True)
        add_prefill(f"mass probs nb={nb}", "mass", 0.7, False, 2, nb, 0, True)
        add_prefill(f"sink mass probs nb={nb}", "mass", 0.7, False, 2, nb, 0, True, keep_sink=True)
    add_prefill("mass last_block_dense", "mass", 0.6, True, 2, 10, 0, False)
    add_prefill("sink mass chunk", "mass", 0.8, False, 2, 11, 6, False, keep_sink=True)
    mties = rng.integers(0, 3, size=(2, 12, 12)).astype(np.float32)
    add_prefill("mass ties", "mass", 0.5, False, 2, 12, 0, False, mties)

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"magic": MAGIC, "version": VERSION, "cases": cases}, f, separators=(",", ":"))
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
