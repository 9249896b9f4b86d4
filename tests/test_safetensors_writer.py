"""`qforge convert IN -o OUT.safetensors` checked by an independent reader: the header parsed here
with the stdlib, the data with numpy, the values against torch.load of the source checkpoint
(f32 bit for bit; f16 equal to numpy's own float16 rounding), and the layout rules of the format
(8-byte prefix, header padded to 8, sorted, every tensor aligned to its element size, contiguous
to the end of the file). Exit 77 (skip) when torch is missing.
"""
import json
import os
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
MINI = os.path.join(SOURCE, "fixtures", "debsec-mini", "pytorch_model.bin")
DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "I8": np.int8, "U8": np.uint8}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def read(path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    check((8 + n) % 8 == 0, "%s: data starts 8-byte aligned" % path)
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    keys = list(json.loads(data[8:8 + n], object_pairs_hook=lambda pairs: [k for k, _ in pairs]))
    check(keys[0] == "__metadata__", "metadata first")
    order = sorted(keys[1:], key=lambda k: (-np.dtype(DTYPES[header[k]["dtype"]]).itemsize, k))
    check(keys[1:] == order, "tensors sorted by element size, then name")
    end = 0
    out = {}
    for k in keys[1:]:
        e = header[k]
        b, f = e["data_offsets"]
        dt = np.dtype(DTYPES[e["dtype"]]).newbyteorder("<")
        check(b == end, "%s: contiguous" % k)
        check((8 + n + b) % dt.itemsize == 0, "%s: aligned" % k)
        out[k] = np.frombuffer(data, dtype=dt, count=(f - b) // dt.itemsize, offset=8 + n + b).reshape(e["shape"])
        end = f
    check(8 + n + end == len(data), "data ends at the end of the file")
    return out, meta


def main():
    kw = {"weights_only": True} if "weights_only" in torch.load.__code__.co_varnames else {}
    ref = {k: v.numpy() for k, v in torch.load(MINI, map_location="cpu", **kw).items()}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("f32", "f16"):
            out = os.path.join(tmp, "mini.%s.safetensors" % dtype)
            r = subprocess.run([CLI, "convert", MINI, "-o", out, "--dtype", dtype, "--json"], check=True,
                               stdout=subprocess.PIPE)
            summary = json.loads(r.stdout)
            check(summary["output"] == out, "--json summary names the output")
            tensors, meta = read(out)
            check(meta.get("format") == "pt" and meta.get("source.sha256"), "metadata: format pt, provenance")
            check(set(tensors) == set(ref), "the source names (%d vs %d tensors)" % (len(tensors), len(ref)))
            for k, v in ref.items():
                got = tensors.get(k)
                if got is None:
                    continue
                want = v if v.dtype != np.float32 or dtype == "f32" else v.astype(np.float16)
                check(got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want),
                      "%s %s: values" % (dtype, k))
        bad = subprocess.run([CLI, "convert", MINI, "-o", os.path.join(tmp, "x.bin"), "--format", "onnx"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(bad.returncode == 2, "an unknown --format is a usage error")
    if failures:
        print("0 passed, %d failed" % len(failures))
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
