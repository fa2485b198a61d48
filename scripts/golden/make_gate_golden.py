#!/usr/bin/env python3
"""Golden data for the AttnGates (tests/test_gates.cpp), from an independent numpy implementation.

Written from the formulas of SPEC §1 (prefill gate) and §2 (decode gate + K-compression cache),
not from the C++ code. Computed in float64 with float32 RoPE tables (as HF builds them); stored f32.

Gate math, per layer:
  pool(x, block) = concat(max, min, avg over the block's tokens) in the order max|min|avg for the
                   pools the gate type names; the last partial block pools over the tokens present.
  RoPE(x, p)     = rotate_half over dg dims: inv_freq_i = theta^(-2i/dg) (f32), angle = p*inv_freq (f32),
                   x' = x*cos + rotate_half(x)*sin, rotate_half(x) = [-x[dg/2:], x[:dg/2]].
  prefill:  Qg[h, i] = RoPE(Wq[h]^T pool_Q(q_h, block i) or pool_Q(q_h, block i), bs*i)
            Kg[h, j] = RoPE(Wk[h or h//g]^T pool_K(k_{h//g}, block j), bs*j)
            logits[h, i, j] = Qg.Kg / sqrt(dg), -inf for j > i; rows i = query blocks of the new tokens,
            pool_Q over the new tokens only (chunked prefill: start_pos > 0).
  decode:   qg[h] = Qproj: sum_i q[h*g+i] @ Wq[h, i] | Qavgproj: mean_i(q[h*g+i]) @ Wq[h] | Qavg: mean
            qg = RMSNorm(qg)*qnorm (eps 1e-6) if qk-norm; qg = RoPE(qg, T-1) if use_rope
            entry[h, j] = RoPE(knorm(Wk[h]^T pool_K(k_h, block j)), bs*j) for complete blocks; 0 for the
            partial last block (placeholder). "upstream" cases: prompt of T0 tokens, then one token at
            a time; blocks completed by a decode step are rotated at bs*j + bs-1 (SPEC §2.3).
            logits[h, j] = qg[h].entry[h, j] / sqrt(dg); probs = softmax over all j.

File format (little endian):
  magic b"SEERGATE", u32 version (1), u32 num_records
  record: u32 name_len, name (utf-8), u32 dtype (0 f32, 1 i32), u32 ndim, u32 dims[ndim], data
Records are grouped by case prefix: "p{n}." prefill, "d{n}." decode; "{prefix}meta" (i32) holds
  prefill: [T, start_pos, Hq, Hkv, d, dg, bs, two_linear, qpools_mask, kpools_mask, theta]
  decode:  [T, T0 (0 = from scratch), Hq, Hkv, d, dg, bs, qhead (0 Qproj 1 Qavgproj 2 Qavg),
            qk_norm, use_rope, kpools_mask, theta]
  (pools mask bits: 1 max, 2 min, 4 avg). Then prefill: q [T-start, Hq, d], k [T, Hkv, d], wq, wk,
  pooled_k [Hkv, nb, |K|*d], logits [Hq, rows, nb], probs; decode: q [Hq, d], k [T, Hkv, d], wq (if
  any), wk, qnorm, knorm (if qk-norm), qg [Hkv, dg], entries [Hkv, nb, dg], logits [Hkv, nb], probs.

Run: python3 scripts/golden/make_gate_golden.py  (writes tests/golden/gates.bin; deterministic).
"""
import os
import struct

import numpy as np

POOLS = ["max", "min", "avg"]


def pool(x, pools):
    """x [n, d] -> concat of the named pools over the n tokens."""
    out = []
    for p in POOLS:
        if p in pools:
            out.append({"max": x.max(0), "min": x.min(0), "avg": x.mean(0)}[p])
    return np.concatenate(out)


def rope(x, pos, theta):
    """x [..., dg] rotated at integer position pos (rotate_half, f32 tables)."""
    dg = x.shape[-1]
    inv = (1.0 / (np.float32(theta) ** (np.arange(0, dg, 2, dtype=np.float32) / np.float32(dg)))).astype(np.float32)
    ang = (np.float32(pos) * inv).astype(np.float32)
    c = np.cos(ang.astype(np.float64)).astype(np.float32).astype(np.float64)
    s = np.sin(ang.astype(np.float64)).astype(np.float32).astype(np.float64)
    c = np.concatenate([c, c])
    s = np.concatenate([s, s])
    h = dg // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    return x * c + rot * s


def rmsnorm(x, w, eps=1e-6):
    return x / np.sqrt((x * x).mean() + eps) * w


def softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(-1, keepdims=True)


def mask_bits(pools):
    return sum(1 << POOLS.index(p) for p in pools)


def prefill_case(rng, T, start, Hq, Hkv, d, dg, bs, qpools, kpools, force_double, theta):
    g = Hq // Hkv
    two = len(qpools) > 1 or dg != d or force_double
    q = rng.standard_normal((T - start, Hq, d)).astype(np.float32)
    k = rng.standard_normal((T, Hkv, d)).astype(np.float32)
    kin, qin = len(kpools) * d, len(qpools) * d
    if two:
        wq = (rng.standard_normal((Hq, qin, dg)) / np.sqrt(qin)).astype(np.float32)
        wk = (rng.standard_normal((Hkv, kin, dg)) / np.sqrt(kin)).astype(np.float32)
    else:
        wq = None
        wk = (rng.standard_normal((Hq, kin, dg)) / np.sqrt(kin)).astype(np.float32)
    q64, k64 = q.astype(np.float64), k.astype(np.float64)
    nb = -(-T // bs)
    pooled = np.zeros((Hkv, nb, kin))
    for h in range(Hkv):
        for j in range(nb):
            pooled[h, j] = pool(k64[j * bs:min(T, (j + 1) * bs), h], kpools)
    first, last = start // bs, (T - 1) // bs
    rows = last - first + 1
    logits = np.full((Hq, rows, nb), -np.inf)
    for h in range(Hq):
        kw = wk[h // g] if two else wk[h]
        kg = np.stack([rope(pooled[h // g, j] @ kw.astype(np.float64), bs * j, theta) for j in range(nb)])
        for r in range(rows):
            i = first + r
            t0, t1 = max(start, i * bs) - start, min(T, (i + 1) * bs) - start
            qf = pool(q64[t0:t1, h], qpools)
            if two:
                qf = qf @ wq[h].astype(np.float64)
            qg = rope(qf, bs * i, theta)
            for j in range(i + 1):
                logits[h, r, j] = qg @ kg[j] / np.sqrt(dg)
    meta = [T, start, Hq, Hkv, d, dg, bs, int(two), mask_bits(qpools), mask_bits(kpools), int(theta)]
    recs = {"meta": np.array(meta, np.int32), "q": q, "k": k, "wk": wk, "pooled_k": pooled,
            "logits": logits, "probs": softmax(logits)}
    if two:
        recs["wq"] = wq
    return recs


def decode_case(rng, T, T0, Hq, Hkv, d, dg, bs, qhead, qk_norm, use_rope, kpools, theta):
    g = Hq // Hkv
    q = rng.standard_normal((Hq, d)).astype(np.float32)
    k = rng.standard_normal((T, Hkv, d)).astype(np.float32)
    kin = len(kpools) * d
    wq = None
    if qhead == 0:
        wq = (rng.standard_normal((Hkv, g, d, dg)) / np.sqrt(g * d)).astype(np.float32)
    elif qhead == 1:
        wq = (rng.standard_normal((Hkv, d, dg)) / np.sqrt(d)).astype(np.float32)
    wk = (rng.standard_normal((Hkv, kin, dg)) / np.sqrt(kin)).astype(np.float32)
    qn = (1.0 + 0.3 * rng.standard_normal(dg)).astype(np.float32)
    kn = (1.0 + 0.3 * rng.standard_normal(dg)).astype(np.float32)
    q64, k64 = q.astype(np.float64), k.astype(np.float64)
    nb = -(-T // bs)
    qg = np.zeros((Hkv, dg))
    entries = np.zeros((Hkv, nb, dg))
    for h in range(Hkv):
        grp = q64[h * g:(h + 1) * g]
        if qhead == 0:
            v = sum(grp[i] @ wq[h, i].astype(np.float64) for i in range(g))
        elif qhead == 1:
            v = grp.mean(0) @ wq[h].astype(np.float64)
        else:
            v = grp.mean(0)
        if qk_norm:
            v = rmsnorm(v, qn.astype(np.float64))
        qg[h] = rope(v, T - 1, theta) if use_rope else v
        for j in range(T // bs):  # complete blocks only; the partial one stays a zero placeholder
            e = pool(k64[j * bs:(j + 1) * bs, h], kpools) @ wk[h].astype(np.float64)
            if qk_norm:
                e = rmsnorm(e, kn.astype(np.float64))
            last_tok = (j + 1) * bs - 1
            pos = last_tok if (T0 > 0 and last_tok >= T0) else bs * j  # decode-completed (upstream)
            entries[h, j] = rope(e, pos, theta) if use_rope else e
    logits = np.einsum("hd,hjd->hj", qg, entries) / np.sqrt(dg)
    meta = [T, T0, Hq, Hkv, d, dg, bs, qhead, int(qk_norm), int(use_rope), mask_bits(kpools), int(theta)]
    recs = {"meta": np.array(meta, np.int32), "q": q, "k": k, "wk": wk, "qg": qg, "entries": entries,
            "logits": logits, "probs": softmax(logits)}
    if wq is not None:
        recs["wq"] = wq
    if qk_norm:
        recs["qnorm"], recs["knorm"] = qn, kn
    return recs


def main():
    rng = np.random.default_rng(20250703)
    records = []
    mmxa = ["max", "min", "avg"]
    # prefill: (T, start, Hq, Hkv, d, dg, bs, qpools, kpools, force_double, theta)
    pcases = []
    lengths = [1, 63, 64, 65, 130, 200]
    groups = [1, 3, 4, 8]
    for n, T in enumerate(lengths):
        g = groups[n % 4]
        pcases.append((T, 0, 2 * g, 2, 16, 16, 64, ["avg"], mmxa, False, 10000))        # K-only
        pcases.append((T, 0, 2 * g, 2, 16, 24, 64, ["avg"], mmxa, False, 10000))        # two-linear, dg != d
        pcases.append((T, 0, g, 1, 16, 16, 128, ["max", "avg"], ["max", "min"], False, 1000000))
    for g in groups:
        pcases.append((200, 0, 2 * g, 2, 16, 16, 128, ["avg"], mmxa, False, 10000))
        pcases.append((130, 0, g, 1, 16, 16, 64, ["avg"], ["min", "avg"], True, 10000))  # force_double
    pcases.append((200, 70, 6, 2, 16, 16, 64, ["avg"], mmxa, False, 10000))             # chunked
    pcases.append((200, 128, 8, 2, 16, 24, 64, ["avg"], mmxa, False, 10000))
    pcases.append((260, 100, 4, 1, 16, 16, 128, ["avg"], mmxa, False, 10000))
    for i, c in enumerate(pcases):
        for name, arr in prefill_case(rng, *c).items():
            records.append((f"p{i}.{name}", arr))
    # decode: (T, T0, Hq, Hkv, d, dg, bs, qhead, qk_norm, use_rope, kpools, theta)
    dcases = []
    for n, T in enumerate(lengths):
        for qhead in range(3):
            for qk in (False, True):
                g = groups[(n + qhead + int(qk)) % 4]
                dg = 16 if qhead == 2 else (24 if (n + qhead) % 2 else 16)
                bs = 128 if (n + int(qk)) % 3 == 2 else 64
                dcases.append((T, 0, 2 * g, 2, 16, dg, bs, qhead, qk, True, mmxa, 10000))
    dcases.append((130, 0, 4, 1, 16, 16, 64, 0, True, False, mmxa, 10000))   # no RoPE
    dcases.append((200, 0, 6, 2, 16, 16, 64, 0, True, True, ["max", "avg"], 10000))
    dcases.append((200, 70, 8, 2, 16, 16, 64, 0, True, True, mmxa, 10000))   # upstream +63 positions
    dcases.append((300, 128, 3, 1, 16, 16, 64, 1, False, True, mmxa, 10000))
    for i, c in enumerate(dcases):
        for name, arr in decode_case(rng, *c).items():
            records.append((f"d{i}.{name}", arr))

    out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "gates.bin")
    with open(out, "wb") as f:
        f.write(b"SEERGATE" + struct.pack("<II", 1, len(records)))
        for name, arr in records:
            nb = name.encode()
            is_int = arr.dtype == np.int32
            data = arr.astype(np.int32 if is_int else np.float32)
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", 1 if is_int else 0, data.ndim))
            f.write(struct.pack(f"<{data.ndim}I", *data.shape))
            f.write(np.ascontiguousarray(data).tobytes())
    print(f"wrote {out}: {len(pcases)} prefill + {len(dcases)} decode cases, {len(records)} records")


if __name__ == "__main__":
    main()
