#!/usr/bin/env python3
"""Independent numpy reference forward for Llama-architecture GGUF models (SmolLM2-135M-Instruct).

Reads the GGUF with PyPI `gguf` (GGUFReader + gguf.quants.dequantize), dequantizes every weight to
float32 once, and runs the Llama forward over a whole sequence in float32, the way llama.cpp runs this
file:
  - x = token_embd[ids]; per layer: RMSNorm -> Q/K/V -> RoPE -> causal GQA attention -> o-proj ->
    residual; RMSNorm -> SwiGLU FFN (down(silu(gate(h)) * up(h))) -> residual; final RMSNorm; logits =
    h @ output.weight^T, where output.weight falls back to token_embd.weight (tied, as in this file).
  - RoPE rotates ADJACENT pairs (x[2i], x[2i+1]) with theta_i = pos * base^(-2i/n_rot): llama.cpp's
    "normal" rope mode for the llama architecture. The HF->GGUF converter permuted the rows of attn_q
    and attn_k so that this is correct for GGUF files (HF's rotate_half pairs i with i + d/2 instead).
  - RMSNorm: x / sqrt(mean(x^2) + eps), eps from `llama.attention.layer_norm_rms_epsilon`.
  - attention scale 1/sqrt(head_dim), softmax over keys 0..pos; query head h reads kv head h // group.
Layouts: activations [n_tokens, n_embd]; q [n_tokens, num_qo_heads, head_dim];
k, v [n_tokens, num_kv_heads, head_dim]; a weight W [out_features, in_features] (GGUF ne = [in, out]).

What is deliberately NOT reproduced (so a comparison with llama.cpp needs a tolerance): llama.cpp's CPU
backend quantizes activations to Q8_1/Q8_0 before Q4_1/Q8_0 dot products and keeps the KV cache in
f16; here every product is float32 over dequantized weights. This is the "ideal" forward of the file.

No BOS is added here: callers pass token ids (SmolLM2's GGUF says tokenizer.ggml.add_bos_token=false).

Usage as a script (quick check, greedy continuation of fixed ids):
  python3 scripts/golden/ref_forward.py [MODEL.gguf] --ids 504 3458 282 4649 314 --gen 8
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

import gguf
from gguf.quants import dequantize


def default_model_path() -> str:
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([os.path.join(repo, "scripts", "fetch-model.sh")], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def _field(reader: gguf.GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise KeyError(f"GGUF field {key!r} missing")
        return default
    v = f.contents()
    return v


@dataclass
class Config:
    arch: str
    n_layer: int
    n_embd: int
    n_ff: int
    num_qo_heads: int
    num_kv_heads: int
    head_dim: int
    n_rot: int
    rope_theta: float
    rms_eps: float
    n_vocab: int
    add_bos: bool
    bos_id: int


class RefModel:
    def __init__(self, path: str):
        self.path = path
        r = gguf.GGUFReader(path)
        arch = _field(r, "general.architecture")
        if arch != "llama":
            raise ValueError(f"{path}: general.architecture={arch!r}, this reference handles 'llama'")
        a = arch
        n_embd = int(_field(r, f"{a}.embedding_length"))
        nq = int(_field(r, f"{a}.attention.head_count"))
        nkv = int(_field(r, f"{a}.attention.head_count_kv", nq))
        head_dim = n_embd // nq
        self.cfg = Config(
            arch=a,
            n_layer=int(_field(r, f"{a}.block_count")),
            n_embd=n_embd,
            n_ff=int(_field(r, f"{a}.feed_forward_length")),
            num_qo_heads=nq,
            num_kv_heads=nkv,
            head_dim=head_dim,
            n_rot=int(_field(r, f"{a}.rope.dimension_count", head_dim)),
            rope_theta=float(_field(r, f"{a}.rope.freq_base", 10000.0)),
            rms_eps=float(_field(r, f"{a}.attention.layer_norm_rms_epsilon")),
            n_vocab=len(r.fields["tokenizer.ggml.tokens"].data),
            add_bos=bool(_field(r, "tokenizer.ggml.add_bos_token", False)),
            bos_id=int(_field(r, "tokenizer.ggml.bos_token_id", -1)),
        )
        self.tokens = [bytes(r.fields["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
                       for i in r.fields["tokenizer.ggml.tokens"].data]
        self.tensor_types = {}
        w = {}
        for t in r.tensors:
            self.tensor_types[t.name] = t.tensor_type.name
            a32 = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            # GGUF ne = [in, out] (fastest first) -> numpy [out, in]; 1-D norms stay 1-D.
            shape = tuple(int(x) for x in reversed(t.shape.tolist()))
            w[t.name] = np.ascontiguousarray(a32.reshape(shape))
        self.w = w
        c = self.cfg
        if "output.weight" not in w:
            w["output.weight"] = w["token_embd.weight"]  # tied embeddings
        assert w["token_embd.weight"].shape == (c.n_vocab, c.n_embd)
        assert w["blk.0.attn_q.weight"].shape == (c.num_qo_heads * c.head_dim, c.n_embd)
        assert w["blk.0.attn_k.weight"].shape == (c.num_kv_heads * c.head_dim, c.n_embd)
        # theta_i = base^(-2i/n_rot), computed in float64 then used in float32 products.
        self.inv_freq = c.rope_theta ** (-np.arange(0, c.n_rot, 2, dtype=np.float64) / c.n_rot)

    # ---- ops -------------------------------------------------------------------------------------
    def rms_norm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:  # x [n, d]
        ms = np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True)
        scale = (1.0 / np.sqrt(ms + self.cfg.rms_eps)).astype(np.float32)
        return (x * scale) * weight

    def rope(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Adjacent-pair RoPE. x [n, heads, head_dim], pos [n]."""
        ang = pos.astype(np.float64)[:, None] * self.inv_freq[None, :]  # [n, n_rot/2]
        cos = np.cos(ang).astype(np.float32)[:, None, :]
        sin = np.sin(ang).astype(np.float32)[:, None, :]
        out = x.copy()
        nr = self.cfg.n_rot
        x0 = x[..., 0:nr:2]
        x1 = x[..., 1:nr:2]
        out[..., 0:nr:2] = x0 * cos - x1 * sin
        out[..., 1:nr:2] = x0 * sin + x1 * cos
        return out

    def attention(self, q, k, v):
        """Causal GQA. q [n, Hq, D], k/v [n, Hkv, D] -> [n, Hq*D]."""
        c = self.cfg
        n = q.shape[0]
        group = c.num_qo_heads // c.num_kv_heads
        scale = np.float32(1.0 / np.sqrt(c.head_dim))
        mask = np.triu(np.ones((n, n), dtype=bool), k=1)
        out = np.empty((n, c.num_qo_heads, c.head_dim), dtype=np.float32)
        for h in range(c.num_qo_heads):
            kv = h // group
            s = (q[:, h, :] @ k[:, kv, :].T) * scale  # [n, n]
            s[mask] = -np.inf
            s = s - s.max(axis=-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=-1, keepdims=True)
            out[:, h, :] = p @ v[:, kv, :]
        return out.reshape(n, -1)

    # ---- forward ---------------------------------------------------------------------------------
    def hidden(self, ids) -> np.ndarray:
        """Final-normed hidden states [n_tokens, n_embd] for a sequence starting at position 0."""
        c, w = self.cfg, self.w
        ids = np.asarray(ids, dtype=np.int64)
        n = ids.shape[0]
        pos = np.arange(n)
        x = w["token_embd.weight"][ids].astype(np.float32)
        for il in range(c.n_layer):
            p = f"blk.{il}."
            h = self.rms_norm(x, w[p + "attn_norm.weight"])
            q = (h @ w[p + "attn_q.weight"].T).reshape(n, c.num_qo_heads, c.head_dim)
            k = (h @ w[p + "attn_k.weight"].T).reshape(n, c.num_kv_heads, c.head_dim)
            v = (h @ w[p + "attn_v.weight"].T).reshape(n, c.num_kv_heads, c.head_dim)
            q = self.rope(q, pos)
            k = self.rope(k, pos)
            a = self.attention(q, k, v)
            x = x + a @ w[p + "attn_output.weight"].T
            h = self.rms_norm(x, w[p + "ffn_norm.weight"])
            g = h @ w[p + "ffn_gate.weight"].T
            u = h @ w[p + "ffn_up.weight"].T
            act = (g / (1.0 + np.exp(-g))) * u
            x = x + act @ w[p + "ffn_down.weight"].T
        return self.rms_norm(x, w["output_norm.weight"])

    def logits(self, ids) -> np.ndarray:
        """Logits [n_tokens, n_vocab] float32."""
        return (self.hidden(ids) @ self.w["output.weight"].T).astype(np.float32)

    def nll(self, ids) -> np.ndarray:
        """Per-token negative log-likelihood [n_tokens-1] of ids[1:] given ids[:i] (float64)."""
        lg = self.logits(ids)[:-1].astype(np.float64)
        m = lg.max(axis=-1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(lg - m).sum(axis=-1))
        tgt = np.asarray(ids[1:], dtype=np.int64)
        return lse - lg[np.arange(len(tgt)), tgt]

    def detok(self, ids) -> str:
        """Byte-level BPE decode (GPT-2 byte<->unicode map), for eyeballing only."""
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
            list(range(ord("®"), ord("ÿ") + 1))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        u2b = {chr(c): b for b, c in zip(bs, cs)}
        out = bytearray()
        for i in ids:
            for ch in self.tokens[i]:
                out += bytes([u2b[ch]]) if ch in u2b else ch.encode()
        return out.decode("utf-8", errors="replace")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", help="GGUF path (default: scripts/fetch-model.sh)")
    ap.add_argument("--ids", type=int, nargs="+", required=True)
    ap.add_argument("--gen", type=int, default=8, help="greedy tokens to generate")
    args = ap.parse_args()
    m = RefModel(args.model or default_model_path())
    print(m.cfg, file=sys.stderr)
    ids = list(args.ids)
    for _ in range(args.gen):
        ids.append(int(np.argmax(m.logits(ids)[-1])))
    print("ids:", ids)
    print("text:", repr(m.detok(ids)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
