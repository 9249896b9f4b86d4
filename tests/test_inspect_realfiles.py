"""tests/test_inspect_realfiles.py — `qforge inspect` on every file of the real-files corpus.

For every PyTorch (zip, legacy, bare pickle) and safetensors file listed in
fixtures/realfiles/{torch,safetensors}_expected.json (counts made independently by the generators
in fixtures/gen/), the CLI must either load it with exactly the expected tensor count and total
bytes, or refuse it with exit status 1 and one error line; malicious pickles must be refused with
the forbidden global or opcode named. Every other file of the corpus (ONNX, HDF5, CSV, ...) must
give exit status 0 or 1 with at most one error line: never a crash. Prints one line per file.
Exit 77 (skip) when ../shared is absent.
"""
import json
import os
import subprocess
import sys

src = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
shared = os.environ.get("QF_SHARED_DIR", os.path.join(src, "..", "shared"))
cli = os.environ.get("QF_CLI", os.path.join(src, "build", "qforge"))
root = os.path.join(shared, "realfiles")
if not os.path.isdir(root):
    print(f"SKIP: {root} not found (the real-files sweep needs ../shared beside the repository)")
    sys.exit(77)

torch_expected = json.load(open(os.path.join(src, "fixtures/realfiles/torch_expected.json")))["files"]
# safetensors paths are relative to ../shared; keep the realfiles ones (the real model is tested elsewhere)
st_expected = {e["path"][len("realfiles/"):]: e
               for e in json.load(open(os.path.join(src, "fixtures/realfiles/safetensors_expected.json")))["files"]
               if e["path"].startswith("realfiles/")}


def inspect(path, select=None):
    args = [cli, "inspect", path, "--json", "--no-hash"]
    if select is not None:
        args += ["--select", select]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr.strip()


failures = []
counts = {"loaded": 0, "refused": 0, "other": 0}


def check(rel, ok, line):
    print(f"  {rel:70s} {line}")
    if not ok:
        failures.append(f"{rel}: {line}")


for rel in sorted(set(torch_expected) | set(st_expected)):
    path = os.path.join(root, rel)
    e = torch_expected.get(rel) or st_expected[rel]
    want_load = e.get("expect") in ("load", "torch_load_error") or e.get("status") == "OK"
    select = e.get("selected")
    if e.get("expect") == "torch_load_error":
        select = ""
    rc, out, err = inspect(path, select)
    if want_load:
        if rc != 0:
            check(rel, False, f"expected to load, got exit {rc}: {err}")
            continue
        d = json.loads(out)
        # files Debian's torch cannot load with weights_only were counted from their opcodes instead
        want_tensors, want_bytes = e.get("tensors", e.get("static_tensors")), e.get("bytes", e.get("static_bytes"))
        ok = d["tensor_count"] == want_tensors and d["total_bytes"] == want_bytes
        counts["loaded"] += 1
        check(rel, ok, f"loaded   {d['tensor_count']:4d} tensors {d['total_bytes']:10d} bytes"
              + ("" if ok else f"  (expected {want_tensors} / {want_bytes})"))
    else:
        lines = err.splitlines()
        ok = rc == 1 and len(lines) == 1 and lines[0].startswith(f"error: {path}: ")
        reason = e.get("reason", "")
        if e.get("status") == "FORBIDDEN" and reason:
            ok = ok and reason in lines[0]  # the forbidden global or opcode is named
        counts["refused"] += 1
        check(rel, ok, f"refused  {lines[0][len('error: ') + len(path) + 2:] if lines else '(no message)'}")

# every other file of the corpus: a clean answer, never a crash
listed = set(torch_expected) | set(st_expected)
for dirpath, _, files in os.walk(root):
    for name in sorted(files):
        rel = os.path.relpath(os.path.join(dirpath, name), root)
        if rel in listed or name in ("SOURCE.txt", "INDEX.md"):
            continue
        rc, out, err = inspect(os.path.join(root, rel))
        lines = err.splitlines()
        ok = rc in (0, 1) and len(lines) <= 1
        counts["other"] += 1
        check(rel, ok, f"exit {rc}: {lines[0][len('error: '):][:110] if lines else 'loaded'}")

total = counts["loaded"] + counts["refused"]
print(f"inspect sweep: {total} PyTorch/safetensors files: {counts['loaded']} loaded with the expected tensor count "
      f"and bytes, {counts['refused']} refused with a reason; {counts['other']} other corpus files answered cleanly; "
      f"{len(failures)} failures")
for f in failures:
    print("FAIL:", f)
print(f"{total + counts['other'] - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
