#!/usr/bin/python3
"""Every HDF5 file under ../shared/realfiles (found by its signature, not its name) is read by
`qforge inspect --json`, silently; every listed weight has the shape h5py reports for its dataset;
optimizer state is listed, never taken as a tensor. For one Keras 2 and one Keras 3 file every value
is compared with h5py's (through `qforge convert` and the numpy .qf reader). The malicious Keras 3
archive (duplicate zip entry holding a pickle) is refused."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

CLI = os.environ["QF_CLI"]
SRC = os.environ["QF_SOURCE_DIR"]
SHARED = os.environ["QF_SHARED_DIR"]
OUT = os.path.join(os.environ["QF_BINARY_DIR"], "test_hdf5_realfiles")
REAL = os.path.join(SHARED, "realfiles")
sys.path.insert(0, os.path.join(SRC, "python"))
from qforge import QfFile  # noqa: E402

SIG = b"\x89HDF\r\n\x1a\n"


def hdf5_files():
    found = []
    for root, _, files in os.walk(REAL):
        if "picklescan-malicious" in root:
            continue
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                if f.read(8) == SIG:
                    found.append(p)
    return sorted(found)


def weights_root(f):
    if "layer_names" in f.attrs or "layer_names0" in f.attrs:
        return f, ""
    if "model_weights" in f:
        return f["model_weights"], "model_weights/"
    return None, ""


def expected_tensors(f):
    """name -> h5py dataset, as the reader names them."""
    root, prefix = weights_root(f)
    out = {}
    if root is not None:
        pairs = []
        for ln in root.attrs["layer_names"]:
            ln = ln.decode() if isinstance(ln, bytes) else ln
            for wn in root[ln].attrs["weight_names"]:
                wn = wn.decode() if isinstance(wn, bytes) else wn
                pairs.append((ln, wn))
        unique = len({w for _, w in pairs}) == len(pairs)
        for ln, wn in pairs:
            out[wn if unique else f"{ln}/{wn}"] = root[ln][wn]
        return out
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/"):
            out[name] = obj
    f.visititems(visit)
    return out


def run(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def main():
    if not os.path.isdir(REAL):
        print(f"skip: {REAL} is absent (the shared real-files corpus)")
        sys.exit(77)
    os.makedirs(OUT, exist_ok=True)
    files = hdf5_files()
    print(f"{len(files)} HDF5 files")
    assert len(files) >= 14, files
    failures = 0
    for p in files:
        rc, out, err = run("inspect", "--json", p)
        if rc != 0 or err:
            print(f"FAIL {p}: rc {rc}, stderr {err!r}")
            failures += 1
            continue
        doc = json.loads(out)
        got = {t["name"]: t["shape"] for t in doc["tensors"]}
        with h5py.File(p, "r") as f:
            want = {k: list(v.shape) for k, v in expected_tensors(f).items()}
            has_opt = "optimizer_weights" in f or "optimizer" in f
        if got != want:
            print(f"FAIL {p}: tensors differ\n  got  {got}\n  want {want}")
            failures += 1
            continue
        if has_opt and "keras.optimizer_weights" not in doc["metadata"]:
            print(f"FAIL {p}: optimizer weights not listed")
            failures += 1
            continue
        print(f"ok   {os.path.relpath(p, REAL)}: {len(got)} weights, {doc['metadata']['keras.layout']}")
    # values: one Keras 2 (save_weights) and one Keras 3 file, against h5py
    for rel in ("keras2.10-save_weights-and-full-charity/model_weights.h5", "keras3-weights-only-churn/model.weights.h5",
                "keras-seq2seq-lstm-keras2.2.4/model.h5"):
        p = os.path.join(REAL, rel)
        q = os.path.join(OUT, os.path.basename(os.path.dirname(rel)) + ".qf")
        rc, _, err = run("convert", p, "-o", q, "--quiet")
        assert rc == 0 and not err, err
        qf = QfFile(q)
        with h5py.File(p, "r") as f:
            want = expected_tensors(f)
            assert sorted(qf.tensors) == sorted(want), (sorted(qf.tensors), sorted(want))
            for name, ds in want.items():
                a = np.asarray(qf.tensors[name])
                b = ds[()]
                if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
                    print(f"FAIL {rel}: '{name}' differs from h5py")
                    failures += 1
            total = sum(float(np.asarray(ds[()], np.float64).sum()) for ds in want.values())
        print(f"ok   {rel}: {len(want)} tensors equal to h5py's (sum {total:.6f})")
    evil = os.path.join(REAL, "keras3-malicious-npz-pickle-evil_keras", "model.keras")
    if os.path.exists(evil):
        rc, out, err = run("inspect", evil)
        assert rc == 1 and "appears twice" in err, (rc, err)
        print("ok   malicious .keras refused:", err.strip())
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
