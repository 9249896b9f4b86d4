#!/usr/bin/python3
"""Writes a synthetic sharded checkpoint for bench/scale.sh (issue 7, target 5), one shard at a
time and one tensor at a time, so Python never holds more than one shard (torch) or one tensor
(safetensors):

  safetensors: model-0000K-of-0000N.safetensors + model.safetensors.index.json
  torch:       pytorch_model-0000K-of-0000N.bin (torch.save, zip) + pytorch_model.bin.index.json

Tensors are BERT-style layers with Hugging Face names (hidden H, FFN 4H): per layer Q, K, V, output
[H, H], intermediate [4H, H], output [H, 4H], their biases and LayerNorms; layers are added until
the total reaches --gb. Values are random normal (seeded), float32.

Run: /usr/bin/python3 bench/make_scale_checkpoint.py --format safetensors|torch --out DIR [--gb 12]
     [--hidden 4096] [--shard-gb 2]
"""
import argparse
import json
import os
import struct

import numpy as np


def layer_tensors(i, h):
    p = "bert.encoder.layer.%d." % i
    return [
        (p + "attention.self.query.weight", (h, h)), (p + "attention.self.query.bias", (h,)),
        (p + "attention.self.key.weight", (h, h)), (p + "attention.self.key.bias", (h,)),
        (p + "attention.self.value.weight", (h, h)), (p + "attention.self.value.bias", (h,)),
        (p + "attention.output.dense.weight", (h, h)), (p + "attention.output.dense.bias", (h,)),
        (p + "attention.output.LayerNorm.weight", (h,)), (p + "attention.output.LayerNorm.bias", (h,)),
        (p + "intermediate.dense.weight", (4 * h, h)), (p + "intermediate.dense.bias", (4 * h,)),
        (p + "output.dense.weight", (h, 4 * h)), (p + "output.dense.bias", (h,)),
        (p + "output.LayerNorm.weight", (h,)), (p + "output.LayerNorm.bias", (h,)),
    ]


def plan(total_bytes, h, shard_bytes):
    shards, cur, cur_bytes, all_bytes, i = [], [], 0, 0, 0
    while all_bytes < total_bytes:
        for name, shape in layer_tensors(i, h):
            n = int(np.prod(shape)) * 4
            if cur and cur_bytes + n > shard_bytes:
                shards.append(cur)
                cur, cur_bytes = [], 0
            cur.append((name, shape))
            cur_bytes += n
            all_bytes += n
        i += 1
    if cur:
        shards.append(cur)
    return shards, all_bytes


def values(rng, shape):
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype("<f4")


def write_safetensors(path, tensors, rng):
    header, off = {}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in tensors:
            f.write(values(rng, shape).tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=["safetensors", "torch"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--gb", type=float, default=12.0)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--shard-gb", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    shards, total = plan(int(a.gb * 1e9), a.hidden, int(a.shard_gb * 1e9))
    rng = np.random.default_rng(a.seed)
    weight_map = {}
    n = len(shards)
    for k, tensors in enumerate(shards, 1):
        if a.format == "safetensors":
            fname = "model-%05d-of-%05d.safetensors" % (k, n)
            write_safetensors(os.path.join(a.out, fname), tensors, rng)
        else:
            import torch
            fname = "pytorch_model-%05d-of-%05d.bin" % (k, n)
            state = {name: torch.from_numpy(values(rng, shape)) for name, shape in tensors}
            torch.save(state, os.path.join(a.out, fname))
            del state
        for name, _ in tensors:
            weight_map[name] = fname
    index = "model.safetensors.index.json" if a.format == "safetensors" else "pytorch_model.bin.index.json"
    with open(os.path.join(a.out, index), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    print(json.dumps({"format": a.format, "shards": n, "bytes": total, "index": index}))


if __name__ == "__main__":
    main()
