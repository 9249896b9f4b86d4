"""tests/test_python_debsec.py — the numpy reader (python/qforge) on the real debsec-bert artifacts.

Reads the .qf files that tests/test_debsec_bert.c wrote (int8 and FP32) with nothing but numpy and
checks them against model.safetensors parsed independently here: FP32 tensors equal bit for bit,
int8 tensors dequantize to within scale/2 of FP32, checksums verify, views are zero-copy memmaps.
Exit 77 (skip) when ../shared or the artifacts are absent.
"""
import json
import os
import struct
import sys

import numpy as np

src_dir = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
shared = os.environ.get("QF_SHARED_DIR", os.path.join(src_dir, "..", "shared"))
build = os.environ.get("QF_BINARY_DIR", os.path.join(src_dir, "build"))
sys.path.insert(0, os.path.join(src_dir, "python"))
from qforge import QfFile  # noqa: E402

model = os.path.join(shared, "models", "debsec-bert", "model.safetensors")
int8_path = os.path.join(build, "debsec-bert.int8.qf")
f32_path = os.path.join(build, "debsec-bert.f32.qf")
for p in (model, int8_path, f32_path):
    if not os.path.exists(p):
        print(f"SKIP: {p} not found (needs ../shared and test_debsec_bert run first)")
        sys.exit(77)


def read_safetensors(path):
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (n,) = struct.unpack("<Q", bytes(raw[:8]))
    header = json.loads(bytes(raw[8:8 + n]))
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        out[name] = raw[8 + n + b:8 + n + end].view(np.float32).reshape(e["shape"])
    return out


source = read_safetensors(model)
checked_int8 = checked_f32 = 0

f32 = QfFile(f32_path)
f32.verify_checksums()
assert set(f32.tensors) == set(source), "tensor names differ"
for name, ref in source.items():
    t = f32.tensors[name]
    assert isinstance(t, np.memmap) or isinstance(t.base, np.memmap), f"{name} is not a memmap view"
    assert t.shape == ref.shape and t.dtype == np.float32, name
    assert np.array_equal(t, ref), f"{name}: FP32 values differ"
    checked_f32 += 1

q = QfFile(int8_path)
q.verify_checksums()
eps = np.finfo(np.float32).eps
for name, ref in source.items():
    t = q.tensors[name]
    if t.dtype == np.int8:
        scale = np.asarray(q.tensors[name + "::scale"], dtype=np.float32)
        deq = q.dequantize(name)
        bound = (scale / 2 + 128 * scale * eps)[:, None]
        err = np.abs(deq - ref)
        assert (err <= bound).all(), f"{name}: max error {err.max()} > scale/2"
        checked_int8 += 1
    else:
        assert np.array_equal(t, ref), f"{name}: carried-over tensor differs"

print(f"numpy reader: {checked_f32} FP32 tensors identical; {checked_int8} int8 tensors within scale/2; "
      f"{len(q.tensors)} tensors in the int8 file; checksums verified")
