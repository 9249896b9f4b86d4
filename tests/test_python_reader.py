"""The numpy reader (python/qforge/qf.py) against .qf files written by the C writer.

Two files are checked against their sample.expected.json (values the C side wrote):
  1. the committed fixture fixtures/qf/sample.qf (regenerate: build/tests/test_qfile --write-sample fixtures/qf);
  2. a fresh one from today's writer: `$QF_BINARY_DIR/tests/test_qfile --write-sample DIR` (the C test
     binary is built before ctest runs anything, so no ordering between tests is needed).
Exit 77 (skip) when numpy is missing.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
except ImportError:
    print("skip: numpy is not installed for", sys.executable)
    sys.exit(77)

SOURCE = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SOURCE, "python"))
from qforge import QfError, QfFile, load_file, to_float32  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def expect_error(path, offset, verify=False):
    try:
        f = QfFile(path)
        if verify:
            f.verify_checksums()
    except QfError as e:
        check(e.offset == offset, f"{path}: error offset {e.offset}, expected {offset} ({e})")
        return
    check(False, f"{path}: accepted a corrupted file (expected error at {offset})")


def check_sample(qf_path, expected_path, tmp):
    exp = json.load(open(expected_path))
    f = QfFile(qf_path)
    check(list(f.tensors) == list(exp["tensors"]), "tensor names and order")
    for name, e in exp["tensors"].items():
        t = f.tensors[name]
        # numpy turns an empty slice of a memmap into a plain ndarray; every other tensor is a memmap view
        check((isinstance(t, np.memmap) or t.size == 0) and not t.flags.writeable, f"{name}: read-only memmap view")
        check(list(t.shape) == e["shape"], f"{name}: shape {t.shape} vs {e['shape']}")
        check(t.tobytes() == bytes.fromhex(e["hex"]), f"{name}: bytes")
        check(t.ctypes.data % 64 == 0 or t.nbytes == 0, f"{name}: 64-byte aligned")
        if "float32" in e:
            want = np.array(e["float32"], dtype=np.float32).reshape(e["shape"])
            got = to_float32(t) if e["dtype"] == "bf16" else f.dequantize(name)
            check(got.dtype == np.float32 and np.array_equal(got, want, equal_nan=True), f"{name}: float32 values")
    check(f.tensors["lm_head.weight"].ctypes.data == f.tensors["embeddings.word.weight"].ctypes.data,
          "tied tensors share one extent")
    for k, v in exp["metadata"].items():
        check(f.metadata.get(k) == v, f"metadata {k}")
    check(f.config == exp["config"], "config")
    f.verify_checksums()

    data = bytearray(open(qf_path, "rb").read())
    data_offset = struct.unpack_from("<Q", data, 40)[0]

    def mutated(name, change):
        b = bytearray(data)
        change(b)
        p = os.path.join(tmp, name)
        open(p, "wb").write(b)
        return p

    def flip(off):
        return lambda b: b.__setitem__(off, b[off] ^ 1)

    def fix_crc(b):
        b[20:24] = struct.pack("<I", zlib.crc32(bytes(b[:20]) + b"\0\0\0\0" + bytes(b[24:64])))

    expect_error(mutated("magic.qf", flip(1)), 0)
    expect_error(mutated("hcrc.qf", flip(20)), 20)
    expect_error(mutated("major.qf", lambda b: b.__setitem__(8, 2)), 8)
    expect_error(mutated("json.qf", flip(70)), 56)
    expect_error(mutated("reserved.qf", lambda b: (b.__setitem__(61, 1), fix_crc(b))), 60)
    first = min(e["offset"] for e in f.entries if e["nbytes"])
    expect_error(mutated("data.qf", flip(data_offset + first)), data_offset + first, verify=True)


def check_load_file(qf_path, expected_path):
    """qforge.load_file: every tensor as a zero-copy view, or float32 values with quantization applied."""
    exp = json.load(open(expected_path))
    f = QfFile(qf_path)
    views = load_file(qf_path)
    check(list(views) == list(exp["tensors"]), "load_file: every tensor, in file order")
    for name, e in exp["tensors"].items():
        t = views[name]
        check((isinstance(t, np.memmap) or t.size == 0) and not t.flags.writeable, f"load_file {name}: read-only view")
        check(t.tobytes() == bytes.fromhex(e["hex"]), f"load_file {name}: bytes")
    floats = load_file(qf_path, dequantize=True)
    quantized = {e["name"] for e in f.entries if "quant" in e}
    applied = {e["quant"][k] for e in f.entries if "quant" in e for k in ("scale", "zero_point") if k in e["quant"]}
    check(applied and not applied & set(floats), "load_file(dequantize=True) leaves out applied scales/zero points")
    check(set(floats) == set(exp["tensors"]) - applied, "load_file(dequantize=True): every other tensor")
    for name, e in exp["tensors"].items():
        if name in applied:
            continue
        got = floats[name]
        if name in quantized or e["dtype"] in ("f16", "bf16", "f32", "f64"):
            check(got.dtype == np.float32 and list(got.shape) == e["shape"], f"load_file {name}: float32")
        if "float32" in e:
            want = np.array(e["float32"], dtype=np.float32).reshape(e["shape"])
            check(np.array_equal(got, want, equal_nan=True), f"load_file {name}: dequantized values")
        elif e["dtype"] == "f16":
            check(np.array_equal(got, views[name].astype(np.float32), equal_nan=True), f"load_file {name}: f16 values")
    check(any("quant" in e for e in f.entries), "the sample has quantized tensors")


def check_bad_scales(folder):
    """fixtures/qf/bad_scale_*.qf (fixtures/gen/make_qf_bad_scale_fixtures.py): CRCs right, a scale
    NaN, infinite, zero or negative: refused at the bad element, as the C reader does."""
    paths = sorted(p for p in os.listdir(folder) if p.startswith("bad_scale_"))
    check(len(paths) == 6, f"bad-scale fixtures: {paths}")
    for p in paths:
        path = os.path.join(folder, p)
        data = open(path, "rb").read()
        try:
            load_file(path)
        except QfError as e:
            check(e.offset is not None and "scale" in str(e), f"{p}: {e}")
            bits = struct.unpack_from("<I", data, e.offset)[0] if e.offset is not None else None
            check(bits in (0x7FC00000, 0x7F800000, 0xFF800000, 0, 0x80000000, 0xBF800000), f"{p}: offset {e.offset}")
            continue
        check(False, f"{p}: accepted a NaN/inf/zero/negative scale")


def main():
    tmp = tempfile.mkdtemp(prefix="qf_py_")
    try:
        fixture = os.path.join(SOURCE, "fixtures", "qf")
        check_sample(os.path.join(fixture, "sample.qf"), os.path.join(fixture, "sample.expected.json"), tmp)
        check_load_file(os.path.join(fixture, "sample.qf"), os.path.join(fixture, "sample.expected.json"))
        check_bad_scales(fixture)
        binary = os.path.join(os.environ.get("QF_BINARY_DIR", ""), "tests", "test_qfile")
        if os.environ.get("QF_BINARY_DIR") and os.path.exists(binary):
            fresh = os.path.join(tmp, "fresh")
            os.mkdir(fresh)
            subprocess.run([binary, "--write-sample", fresh], check=True)
            check_sample(os.path.join(fresh, "sample.qf"), os.path.join(fresh, "sample.expected.json"), tmp)
        else:
            print("note: QF_BINARY_DIR/tests/test_qfile not found; checked the committed fixture only")
    finally:
        shutil.rmtree(tmp)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
