"""Sharded checkpoints (readers/sharded): the bundled debsec-mini split into shards the way
transformers saves large models — pytorch_model-0000N-of-0000M.bin and model-0000N-of-0000M.safetensors
with their *.index.json — read by qforge from the index and from the folder, must hold exactly the
tensors of the unsplit checkpoint (checked through `qforge convert -o x.safetensors`, parsed here,
against torch.load). Broken indexes fail with one line naming the shard or the tensor. Exit 77
(skip) when torch is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
except ImportError:
    print("skip: torch is not installed for", sys.executable)
    sys.exit(77)

CLI = os.environ.get("QF_CLI", "build/qforge")
SOURCE = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
MINI = os.path.join(SOURCE, "fixtures", "debsec-mini")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, v in tensors.items():
        b = np.ascontiguousarray(v, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def read_safetensors(path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: np.frombuffer(data, "<f4", count=(e["data_offsets"][1] - e["data_offsets"][0]) // 4,
                             offset=8 + n + e["data_offsets"][0]).reshape(e["shape"]) for k, e in header.items()}


def qforge(*args):
    return subprocess.run([CLI] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def make_shards(folder, ref, kind, groups=3):
    keys = list(ref)
    parts = [keys[i::groups] for i in range(groups)]
    weight_map = {}
    for i, part in enumerate(parts):
        if kind == "bin":
            name = "pytorch_model-%05d-of-%05d.bin" % (i + 1, groups)
            torch.save({k: torch.from_numpy(ref[k]) for k in part}, os.path.join(folder, name))
        else:
            name = "model-%05d-of-%05d.safetensors" % (i + 1, groups)
            write_safetensors(os.path.join(folder, name), {k: ref[k] for k in part})
        weight_map.update({k: name for k in part})
    index = "pytorch_model.bin.index.json" if kind == "bin" else "model.safetensors.index.json"
    with open(os.path.join(folder, index), "w") as f:
        json.dump({"metadata": {"total_size": sum(v.nbytes for v in ref.values())}, "weight_map": weight_map}, f)
    shutil.copy(os.path.join(MINI, "config.json"), folder)
    return os.path.join(folder, index), weight_map


def main():
    kw = {"weights_only": True} if "weights_only" in torch.load.__code__.co_varnames else {}
    ref = {k: v.numpy() for k, v in torch.load(os.path.join(MINI, "pytorch_model.bin"), map_location="cpu", **kw).items()}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("bin", "safetensors"):
            folder = os.path.join(tmp, kind)
            os.makedirs(folder)
            index, weight_map = make_shards(folder, ref, kind)
            for source in (index, folder):
                out = os.path.join(tmp, "merged.safetensors")
                r = qforge("convert", source, "-o", out, "--quiet")
                check(r.returncode == 0, "%s: convert %s (%s)" % (kind, source, r.stderr.strip()))
                if r.returncode:
                    continue
                got = read_safetensors(out)
                check(set(got) == set(ref), "%s: every tensor once (%d vs %d)" % (kind, len(got), len(ref)))
                check(all(np.array_equal(got[k], ref[k]) for k in ref if k in got), "%s: values equal" % kind)
            r = qforge("inspect", folder, "--no-tensors")
            check("shard-index" in r.stdout and "sharded.shards" in r.stdout, "%s: inspect names the format" % kind)

            # broken indexes: one line, naming the shard or the tensor
            first = sorted(set(weight_map.values()))[0]
            cases = []
            wm = dict(weight_map)
            wm[next(iter(wm))] = "../escape.bin"
            cases.append((wm, "../escape.bin", "plain file name"))
            wm = dict(weight_map)
            wm["not.in.any.shard"] = first
            cases.append((wm, "not.in.any.shard", "does not hold it"))
            wm = dict(weight_map)
            gone = next(k for k, v in wm.items() if v == first)
            del wm[gone]
            cases.append((wm, first, gone))
            wm = {k: ("missing-shard.bin" if v == first else v) for k, v in weight_map.items()}
            cases.append((wm, "missing-shard.bin", ""))
            wm = {k: os.path.basename(index) if v == first else v for k, v in weight_map.items()}
            cases.append((wm, "shard-index", "PyTorch or safetensors"))
            for wm, needle, needle2 in cases:
                bad = os.path.join(folder, "bad.index.json")
                with open(bad, "w") as f:
                    json.dump({"weight_map": wm}, f)
                r = qforge("inspect", bad)
                line = r.stderr.strip()
                check(r.returncode == 1 and "\n" not in line and needle in line and needle2 in line,
                      "%s: broken index -> one line with %r, %r: %r" % (kind, needle, needle2, line))
    if failures:
        print("0 passed, %d failed" % len(failures))
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
