#!/usr/bin/env python3
"""Copy a gates directory with every gate's logits multiplied by a factor (an inverse temperature).

The prefill gate's logits are (mean of the block's queries) . (mask_linear_k k-features), so scaling
mask_linear_k scales them; the decode gate's query passes an RMSNorm before the dot product, so scaling
attngate_qnorm scales them. bf16 in, bf16 out (rounded to nearest even). Top-K selections do not change;
the threshold and mass rules do.
usage: scale_gates.py IN_DIR OUT_DIR PREFILL_FACTOR DECODE_FACTOR
"""
import json, os, shutil, struct, sys
import numpy as np

def scale_file(src, dst, suffix, factor):
    with open(src, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        raw_header = f.read(n)
        data = bytearray(f.read())
    header = json.loads(raw_header)
    hits = 0
    for name, t in header.items():
        if name == '__metadata__' or not name.endswith(suffix):
            continue
        assert t['dtype'] == 'BF16', (src, name, t['dtype'])
        a, b = t['data_offsets']
        u = np.frombuffer(bytes(data[a:b]), dtype=np.uint16).astype(np.uint32) << 16
        x = u.view(np.float32) * np.float32(factor)
        bits = x.view(np.uint32)
        bits = (bits + 0x7fff + ((bits >> 16) & 1)) >> 16  # round to nearest even
        data[a:b] = bits.astype(np.uint16).tobytes()
        hits += 1
    assert hits > 0, (src, suffix)
    with open(dst, 'wb') as f:
        f.write(struct.pack('<Q', n)); f.write(raw_header); f.write(data)
    return hits

src, dst, fp, fd = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
for kind, suffix, factor in (('prefill', 'mask_linear_k.weight', fp), ('decode', 'attngate_qnorm.weight', fd)):
    os.makedirs(os.path.join(dst, kind), exist_ok=True)
    shutil.copy(os.path.join(src, kind, 'config.json'), os.path.join(dst, kind, 'config.json'))
    h = scale_file(os.path.join(src, kind, 'gates.safetensors'), os.path.join(dst, kind, 'gates.safetensors'), suffix, factor)
    print(f'{dst}/{kind}: {h} tensors x {factor}', file=sys.stderr)
