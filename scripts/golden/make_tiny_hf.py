#!/usr/bin/env python3
"""Tiny random Hugging Face models and golden logits from an independent numpy reference.

Writes tests/data/tiny_hf/<variant>/ with config.json, *.safetensors (+ index for the sharded
variant), tokenizer.json and golden_logits.bin, for:
  llama_f32       LlamaForCausalLM, F32, untied lm_head, no rope_scaling, head_dim left implicit
  llama_bf16      LlamaForCausalLM, BF16, tied embeddings, rope_scaling llama3
  qwen2_f16       Qwen2ForCausalLM, F16, q/k/v bias, sharded into 2 files + model.safetensors.index.json
  qwen3_bf16      Qwen3ForCausalLM, BF16, q_norm/k_norm, rope_scaling yarn (default attention_factor)
Shapes: hidden 64, 2 layers, 4 q heads / 2 kv heads, head_dim 16, intermediate 96, vocab 300.
Matrices ~ N(0, 0.2); norm weights ~ 1 + N(0, 0.1); biases ~ N(0, 0.2).

The reference forward is written from the transformers modeling semantics (modeling_llama.py,
modeling_qwen2.py, modeling_qwen3.py, modeling_rope_utils.py) in float64, on the weights exactly as
stored (bf16/fp16 dequantised to float64):
  h = embed[ids]; per layer: h += o_proj(attn(rmsnorm(h))); h += down(silu(gate(x)) * up(x)), x = rmsnorm(h)
  rmsnorm(x) = x / sqrt(mean(x^2) + eps) * w
  attn: q/k/v projections (+ bias for Qwen2), Qwen3 per-head RMSNorm of q and k before RoPE,
        rotate_half RoPE (pairs i, i + head_dim/2) with cos/sin scaled by the yarn attention factor,
        GQA (q head h reads kv head h // group), causal softmax(q.k / sqrt(head_dim)) v
  logits = lm_head(rmsnorm(h))   (lm_head = embed_tokens when tied)
yarn: correction range from original_max_position_embeddings (current transformers), and
max_position_embeddings = factor * original so every transformers version agrees on `factor`.

golden_logits.bin, all little-endian:
  char[4]  magic "SLGT"
  u32      version = 1
  u32      n_tokens
  u32      vocab
  i32      ids[n_tokens]
  f32      logits[n_tokens][vocab]   (logits of every position, row-major)

Usage: python3 scripts/golden/make_tiny_hf.py [--out tests/data/tiny_hf]
Needs numpy, safetensors and tokenizers (PyPI). Deterministic: seeds are fixed.
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import safetensors
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HIDDEN = 64
LAYERS = 2
Q_HEADS = 4
KV_HEADS = 2
HEAD_DIM = 16
INTER = 96
VOCAB = 300
N_TOKENS = 21
GOLDEN_MAGIC = b"SLGT"
GOLDEN_VERSION = 1

VARIANTS = {
    "llama_f32": dict(arch="LlamaForCausalLM", dtype="F32", tied=False, rope_scaling=None,
                      rope_theta=10000.0, max_pos=512, implicit_head_dim=True, seed=1),
    "llama_bf16": dict(arch="LlamaForCausalLM", dtype="BF16", tied=True,
                       rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0,
                                     "original_max_position_embeddings": 64},
                       rope_theta=10000.0, max_pos=512, seed=2),
    "qwen2_f16": dict(arch="Qwen2ForCausalLM", dtype="F16", tied=False, rope_scaling=None,
                      rope_theta=1000000.0, max_pos=256, sharded=True, seed=3),
    "qwen3_bf16": dict(arch="Qwen3ForCausalLM", dtype="BF16", tied=False,
                       rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                     "original_max_position_embeddings": 64},
                       rope_theta=10000.0, max_pos=256, seed=4),
}

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Blessed is the man that walketh not in the counsel of the ungodly.",
    "In the beginning God created the heaven and the earth.",
    "Sparse attention selects a few key blocks for every query block.",
    "seer runs Llama and Qwen models from GGUF or Hugging Face directories.",
    "1234567890 numbers, punctuation; and \"quotes\" (with brackets)!",
    "Hello world, hello tokenizer, hello byte-level BPE merges.",
]


# ---------------------------------------------------------------------------------------------
# storage dtypes: values are generated in float64, rounded to the file dtype, and the reference
# uses the rounded values.

def to_bf16_bits(x):
    """float -> bf16 bits, round to nearest even (as torch does)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_bits_to_f64(b):
    return (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def quantize(x, dtype):
    """Returns (array to store, float64 value the file holds)."""
    if dtype == "F32":
        a = np.ascontiguousarray(x, dtype=np.float32)
        return a, a.astype(np.float64)
    if dtype == "F16":
        a = np.ascontiguousarray(x, dtype=np.float16)
        return a, a.astype(np.float64)
    if dtype == "BF16":
        a = np.ascontiguousarray(to_bf16_bits(x))
        return a, bf16_bits_to_f64(a)
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    """tensors: name -> stored numpy array (uint16 bit patterns for BF16)."""
    st_dtype = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    specs = {
        name: safetensors.TensorSpec(dtype=st_dtype, shape=a.shape, data_ptr=a.ctypes.data,
                                     data_len=a.nbytes)
        for name, a in tensors.items()
    }
    safetensors.serialize_file(specs, path, metadata={"format": "pt"})


# ---------------------------------------------------------------------------------------------
# numpy float64 reference forward

def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def inv_freq_and_scale(cfg):
    d = cfg["head_dim"]
    base = cfg["rope_theta"]
    inv = 1.0 / base ** (np.arange(0, d, 2, dtype=np.float64) / d)
    rs = cfg.get("rope_scaling")
    if rs is None:
        return inv, 1.0
    if rs["rope_type"] == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old_ctx = rs["original_max_position_embeddings"]
        low_wavelen = old_ctx / lo
        high_wavelen = old_ctx / hi
        wavelen = 2 * math.pi / inv
        out = np.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old_ctx / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return np.where(medium, smoothed, out), 1.0
    if rs["rope_type"] == "yarn":
        factor = rs["factor"]
        orig = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        beta_fast = rs.get("beta_fast") or 32
        beta_slow = rs.get("beta_slow") or 1
        attention_factor = rs.get("attention_factor")
        if attention_factor is None:
            attention_factor = 1.0 if factor <= 1 else 0.1 * math.log(factor) + 1.0

        def correction_dim(rotations):
            return d * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

        low = max(math.floor(correction_dim(beta_fast)), 0)
        high = min(math.ceil(correction_dim(beta_slow)), d - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(d // 2, dtype=np.float64) - low) / (high - low), 0, 1)
        extrapolation = 1 - ramp
        pos_freqs = base ** (np.arange(0, d, 2, dtype=np.float64) / d)
        inv = (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation
        return inv, attention_factor
    raise ValueError(rs)


def rope(x, positions, inv_freq, scale):
    """x: [n, heads, head_dim]; rotate_half pairs (i, i + d/2); cos/sin multiplied by `scale`."""
    freqs = positions[:, None].astype(np.float64) * inv_freq[None, :]  # [n, d/2]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos = (np.cos(emb) * scale)[:, None, :]
    sin = (np.sin(emb) * scale)[:, None, :]
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def reference_logits(cfg, w, ids):
    """cfg: config.json dict; w: name -> float64 array; ids: [n] -> logits [n, vocab] float64."""
    n = len(ids)
    hd = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    nq, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    eps = cfg["rms_norm_eps"]
    arch = cfg["architectures"][0]
    inv_freq, att_scale = inv_freq_and_scale(dict(cfg, head_dim=hd))
    pos = np.arange(n)
    h = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rmsnorm(h, w[p + "input_layernorm.weight"], eps)
        q = x @ w[p + "self_attn.q_proj.weight"].T
        k = x @ w[p + "self_attn.k_proj.weight"].T
        v = x @ w[p + "self_attn.v_proj.weight"].T
        if arch == "Qwen2ForCausalLM":
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        q = q.reshape(n, nq, hd)
        k = k.reshape(n, nkv, hd)
        v = v.reshape(n, nkv, hd)
        if arch == "Qwen3ForCausalLM":
            q = rmsnorm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rmsnorm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = rope(q, pos, inv_freq, att_scale)
        k = rope(k, pos, inv_freq, att_scale)
        group = nq // nkv
        out = np.zeros((n, nq, hd))
        causal = np.tril(np.ones((n, n), dtype=bool))
        for hq in range(nq):
            kv = hq // group
            s = q[:, hq, :] @ k[:, kv, :].T / math.sqrt(hd)  # [n, n]
            s = np.where(causal, s, -np.inf)
            s = s - s.max(axis=-1, keepdims=True)
            pr = np.exp(s)
            pr /= pr.sum(axis=-1, keepdims=True)
            out[:, hq, :] = pr @ v[:, kv, :]
        h = h + out.reshape(n, nq * hd) @ w[p + "self_attn.o_proj.weight"].T
        x = rmsnorm(h, w[p + "post_attention_layernorm.weight"], eps)
        g = x @ w[p + "mlp.gate_proj.weight"].T
        u = x @ w[p + "mlp.up_proj.weight"].T
        h = h + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rmsnorm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------------------------------------

def make_tokenizer(path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(SENTENCES * 4, trainer)
    assert tok.get_vocab_size() <= VOCAB, tok.get_vocab_size()
    tok.save(path)


def make_variant(out_dir, name, spec):
    rng = np.random.default_rng(spec["seed"])
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".safetensors") or f.endswith(".json") or f.endswith(".bin"):
            os.remove(os.path.join(d, f))
    arch = spec["arch"]
    cfg = {
        "architectures": [arch],
        "model_type": {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
                       "Qwen3ForCausalLM": "qwen3"}[arch],
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": Q_HEADS,
        "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": spec["max_pos"],
        "rms_norm_eps": 1e-6 if arch != "LlamaForCausalLM" else 1e-5,
        "rope_theta": spec["rope_theta"],
        "rope_scaling": spec["rope_scaling"],
        "tie_word_embeddings": spec["tied"],
        "vocab_size": VOCAB,
        "hidden_act": "silu",
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[spec["dtype"]],
    }
    if not spec.get("implicit_head_dim"):
        cfg["head_dim"] = HEAD_DIM
    if arch == "LlamaForCausalLM":
        cfg["attention_bias"] = False
    if arch == "Qwen2ForCausalLM":
        cfg["use_sliding_window"] = False
        cfg["sliding_window"] = 4096
    if spec["rope_scaling"] and spec["rope_scaling"]["rope_type"] == "yarn":
        rs = spec["rope_scaling"]
        assert cfg["max_position_embeddings"] == rs["factor"] * rs["original_max_position_embeddings"]

    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,)}
    if not spec["tied"]:
        shapes["lm_head.weight"] = (VOCAB, HIDDEN)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (HIDDEN,)
        shapes[p + "self_attn.q_proj.weight"] = (Q_HEADS * HEAD_DIM, HIDDEN)
        shapes[p + "self_attn.k_proj.weight"] = (KV_HEADS * HEAD_DIM, HIDDEN)
        shapes[p + "self_attn.v_proj.weight"] = (KV_HEADS * HEAD_DIM, HIDDEN)
        shapes[p + "self_attn.o_proj.weight"] = (HIDDEN, Q_HEADS * HEAD_DIM)
        if arch == "Qwen2ForCausalLM":
            shapes[p + "self_attn.q_proj.bias"] = (Q_HEADS * HEAD_DIM,)
            shapes[p + "self_attn.k_proj.bias"] = (KV_HEADS * HEAD_DIM,)
            shapes[p + "self_attn.v_proj.bias"] = (KV_HEADS * HEAD_DIM,)
        if arch == "Qwen3ForCausalLM":
            shapes[p + "self_attn.q_norm.weight"] = (HEAD_DIM,)
            shapes[p + "self_attn.k_norm.weight"] = (HEAD_DIM,)
        shapes[p + "post_attention_layernorm.weight"] = (HIDDEN,)
        shapes[p + "mlp.gate_proj.weight"] = (INTER, HIDDEN)
        shapes[p + "mlp.up_proj.weight"] = (INTER, HIDDEN)
        shapes[p + "mlp.down_proj.weight"] = (HIDDEN, INTER)

    stored, ref = {}, {}
    for tname, shape in shapes.items():
        if tname.endswith("norm.weight"):
            x = 1.0 + rng.normal(0.0, 0.1, shape)
        else:
            x = rng.normal(0.0, 0.2, shape)
        stored[tname], ref[tname] = quantize(x, spec["dtype"])

    if spec.get("sharded"):
        names = sorted(stored)
        halves = [names[: len(names) // 2], names[len(names) // 2:]]
        weight_map = {}
        total = 0
        for k, part in enumerate(halves):
            fname = f"model-{k + 1:05d}-of-00002.safetensors"
            write_safetensors(os.path.join(d, fname), {t: stored[t] for t in part}, spec["dtype"])
            for t in part:
                weight_map[t] = fname
                total += stored[t].nbytes
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    else:
        write_safetensors(os.path.join(d, "model.safetensors"), stored, spec["dtype"])

    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    make_tokenizer(os.path.join(d, "tokenizer.json"))

    ids = np.random.default_rng(100 + spec["seed"]).integers(0, VOCAB, N_TOKENS).astype(np.int32)
    logits = reference_logits(cfg, ref, ids)
    assert np.all(np.isfinite(logits))
    with open(os.path.join(d, "golden_logits.bin"), "wb") as f:
        f.write(GOLDEN_MAGIC)
        f.write(struct.pack("<III", GOLDEN_VERSION, N_TOKENS, VOCAB))
        f.write(ids.astype("<i4").tobytes())
        f.write(logits.astype("<f4").tobytes())
    print(f"{name}: logits std {logits.std():.3f}, max |logit| {np.abs(logits).max():.3f}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "data", "tiny_hf"))
    args = ap.parse_args()
    for name, spec in VARIANTS.items():
        make_variant(args.out, name, spec)


if __name__ == "__main__":
    main()
