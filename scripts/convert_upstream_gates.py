#!/usr/bin/env python3
"""Convert an upstream SeerAttention / SeerAttention-R AttnGate release into seer's gate format.

Usage:
  python3 scripts/convert_upstream_gates.py IN_DIR OUT_DIR [--dtype f32|bf16]
  python3 scripts/convert_upstream_gates.py --self-test OUT_DIR

IN_DIR is a downloaded release (e.g. SeerAttention/SeerAttention-Llama-3.1-8B-AttnGates):
  config.json            the base model's config + seerattn_* keys + base_model (SPEC §7)
  attn_gate_weights.pth  torch.save of the gate state dict (keys containing "attn_gate", bf16)
OUT_DIR receives what `seer` loads (include/seer/gates.h, load_gates):
  config.json            copied unchanged (every key, seerattn_* included)
  gates.safetensors      the same tensor names and shapes, F32 (default) or BF16, e.g.
                         model.layers.{i}.self_attn.attn_gate.mask_linear_k.weight   [Hq, 3d, dg]
                         model.layers.{i}.self_attn.attn_gate.attngate_linear_q.weight [Hkv, g, d, dg]
Both files are written to a temporary name and renamed, so OUT_DIR never holds half a file.

Reading the .pth needs PyTorch (`pip install torch`, CPU wheel is enough). Everything after
torch.load works on plain numpy arrays (convert_state_dict / write_gates), which is what
--self-test exercises without torch: it writes a small fake decode release (2 layers, Hq 4, Hkv 2,
d 16, dg 16, Qproj + qk-norm) whose values are (flat index mod 97) / 64 - 0.75 per tensor; the C++
test GateCheckpoint.ConverterSelfTest loads it. Needs numpy only.
"""
import json
import os
import re
import struct
import sys

import numpy as np

GATE_KEY = re.compile(r"^model\.layers\.(\d+)\.self_attn\.attn_gate\.([A-Za-z_]+)\.weight$")
KNOWN = {"mask_linear_q", "mask_linear_k", "attngate_linear_q", "attngate_linear_k",
         "attngate_qnorm", "attngate_knorm"}


def load_state_dict(path):
    """torch.load the upstream .pth into {name: float32 numpy array}."""
    try:
        import torch
    except ImportError:
        sys.exit(f"{path}: reading a .pth needs PyTorch; install it with `pip install torch` "
                 "(the CPU wheel is enough) and run again")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        sys.exit(f"{path}: expected a state dict (dict of tensors), got {type(sd).__name__}")
    return {k: v.detach().to(torch.float32).numpy() for k, v in sd.items()}


def convert_state_dict(sd):
    """Keeps the gate tensors, checks their names, returns {name: float32 array} in layer order."""
    out = {}
    for name, arr in sd.items():
        if "attn_gate" not in name:
            continue
        m = GATE_KEY.match(name)
        if not m or m.group(2) not in KNOWN:
            raise ValueError(f"unexpected gate tensor name '{name}' (expected "
                             "model.layers.N.self_attn.attn_gate.<{}>.weight)".format("|".join(sorted(KNOWN))))
        out[name] = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
    if not out:
        raise ValueError("no tensor with 'attn_gate' in its name")
    key = lambda n: (int(GATE_KEY.match(n).group(1)), n)
    return {n: out[n] for n in sorted(out, key=key)}


def _bf16_bytes(a):
    """float32 -> bfloat16 bytes, round to nearest even (NaN kept quiet)."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r = np.where(np.isnan(a), np.uint16(0x7FC0), r)
    return r.astype("<u2").tobytes()


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_gates(out_dir, config, tensors, dtype="f32"):
    """Writes config.json and gates.safetensors (safetensors layout: u64 header size, JSON, data)."""
    os.makedirs(out_dir, exist_ok=True)
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        blob = arr.astype("<f4").tobytes() if dtype == "f32" else _bf16_bytes(arr)
        header[name] = {"dtype": "F32" if dtype == "f32" else "BF16", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {"format": "pt", "producer": "convert_upstream_gates.py"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    _write_atomic(os.path.join(out_dir, "gates.safetensors"), struct.pack("<Q", len(h)) + h + b"".join(blobs))
    _write_atomic(os.path.join(out_dir, "config.json"), (json.dumps(config, indent=2) + "\n").encode())


def convert(in_dir, out_dir, dtype):
    cfg_path = os.path.join(in_dir, "config.json")
    try:
        with open(cfg_path) as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{cfg_path}: cannot read: {e}")
    if not any(k.startswith("seerattn_") for k in config):
        sys.exit(f"{cfg_path}: no seerattn_* keys; not an AttnGate release")
    pth = os.path.join(in_dir, "attn_gate_weights.pth")
    if not os.path.exists(pth):
        sys.exit(f"{pth}: not found")
    try:
        tensors = convert_state_dict(load_state_dict(pth))
    except ValueError as e:
        sys.exit(f"{pth}: {e}")
    write_gates(out_dir, config, tensors, dtype)
    print(f"wrote {out_dir}: {len(tensors)} tensors ({dtype}), config.json")


def self_test(out_dir):
    L, Hq, Hkv, d, dg = 2, 4, 2, 16, 16
    shapes = {"attngate_linear_q": (Hkv, Hq // Hkv, d, dg), "attngate_linear_k": (Hkv, 3 * d, dg),
              "attngate_qnorm": (dg,), "attngate_knorm": (dg,)}
    sd = {"model.layers.0.self_attn.q_proj.weight": np.zeros((4, 4), np.float32)}  # not a gate: dropped
    for l in range(L):
        for n, s in shapes.items():
            sd[f"model.layers.{l}.self_attn.attn_gate.{n}.weight"] = (
                (np.arange(int(np.prod(s))) % 97) / 64.0 - 0.75).astype(np.float32).reshape(s)
    config = {"architectures": ["Qwen3ForCausalLM"], "num_hidden_layers": L, "num_attention_heads": Hq,
              "num_key_value_heads": Hkv, "head_dim": d, "hidden_size": Hq * d, "rope_theta": 1000000.0,
              "seerattn_sparsity_method": "token_budget", "seerattn_token_budget": 2048,
              "seerattn_threshold": 0.0, "seerattn_use_rope": True, "seerattn_use_qk_norm": True,
              "seerattn_k_seq_pooling_type": "Kmaxminavg", "seerattn_q_head_pooling_type": "Qproj",
              "seerattn_gate_block_size": 64, "seerattn_gate_hidden_size": dg,
              "seerattn_implementation": "seer_sparse", "seerattn_start_layer": 0,
              "base_model": "Qwen/Qwen3-4B"}
    tensors = convert_state_dict(sd)
    assert len(tensors) == 4 * L
    write_gates(out_dir, config, tensors, "f32")
    print(f"self-test: wrote {out_dir}")


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    if len(argv) == 2 and argv[0] == "--self-test":
        return self_test(argv[1])
    dtype = "f32"
    if "--dtype" in argv:
        i = argv.index("--dtype")
        dtype = argv[i + 1] if i + 1 < len(argv) else ""
        del argv[i:i + 2]
        if dtype not in ("f32", "bf16"):
            sys.exit("--dtype must be f32 or bf16")
    if len(argv) != 2:
        sys.exit(__doc__)
    convert(argv[0], argv[1], dtype)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
