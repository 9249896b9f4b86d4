#!/usr/bin/python3
"""The debsec-bert weights written as a Hugging Face TF checkpoint (tf_model.h5, generated here by
fixtures/gen/make_tf_model_h5.py into the build folder): the encoder's FP32 logits on the 256
reference rows match transformers' (reference_logits.json) to 1e-4, and `qforge quantize` from it
yields the same tensors, int8 weights and scales included, as from pytorch_model.bin."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

CLI = os.environ["QF_CLI"]
SRC = os.environ["QF_SOURCE_DIR"]
MODEL = os.path.join(os.environ["QF_SHARED_DIR"], "models", "debsec-bert")
OUT = os.path.join(os.environ["QF_BINARY_DIR"], "test_hdf5_debsec")
sys.path.insert(0, os.path.join(SRC, "python"))
from qforge import QfFile  # noqa: E402


def run(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([CLI, *args], capture_output=True, text=True, env=env)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    return r.stdout


def main():
    if not os.path.isdir(MODEL):
        print(f"skip: {MODEL} is absent (the shared debsec-bert model)")
        sys.exit(77)
    os.makedirs(OUT, exist_ok=True)
    h5 = os.path.join(OUT, "tf_model.h5")
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "fixtures", "gen", "make_tf_model_h5.py"),
                    os.path.join(MODEL, "pytorch_model.bin"), h5], check=True)
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(os.path.join(MODEL, name), os.path.join(OUT, name))
    ref = json.load(open(os.path.join(MODEL, "reference_logits.json")))
    rows = os.path.join(OUT, "ids.jsonl")
    with open(rows, "w") as f:
        for ids, mask in zip(ref["input_ids"], ref["attention_mask"]):
            f.write(json.dumps({"input_ids": [i for i, m in zip(ids, mask) if m]}) + "\n")
    out = run("run", h5, "--data", rows, "--threads", "1")
    got = np.array([json.loads(line)["logits"] for line in out.splitlines()], np.float64)
    want = np.array(ref["logits"], np.float64)
    diff = float(np.abs(got - want).max())
    print(f"FP32 logits from tf_model.h5 vs transformers: max |diff| {diff:.3g} over {want.shape[0]} rows")
    assert got.shape == want.shape and diff <= 1e-4, diff
    a, b = os.path.join(OUT, "from_h5.qf"), os.path.join(OUT, "from_bin.qf")
    run("quantize", h5, "-o", a, "--mode", "dynamic", "--quiet")
    run("quantize", os.path.join(MODEL, "pytorch_model.bin"), "-o", b, "--mode", "dynamic", "--quiet")
    qa, qb = QfFile(a), QfFile(b)
    assert sorted(qa.tensors) == sorted(qb.tensors)
    int8 = 0
    for name in qa.tensors:
        x, y = np.asarray(qa.tensors[name]), np.asarray(qb.tensors[name])
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
        int8 += x.dtype == np.int8
    print(f"quantize: {len(qa.tensors)} tensors identical ({int8} int8) from tf_model.h5 and pytorch_model.bin")


if __name__ == "__main__":
    main()
