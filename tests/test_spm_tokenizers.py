#!/usr/bin/python3
"""SentencePiece Unigram tokenizers (XLM-R, CamemBERT, DeBERTa-v2, ALBERT layouts) against Hugging
Face tokenizers itself, from tokenizer.json and from the SentencePiece model file alone.

The tokenizer.json files are written by fixtures/gen/make_spm_tokenizers.py from the committed
SentencePiece model fixtures/spm/spm.model (trained with Debian's python3-sentencepiece, nmt_nfkc,
so its precompiled_charsmap is the real one), together with the model file each family ships (that
model's pieces behind the family's special pieces, in a folder whose tokenizer_config.json names
the class); the reference is the Rust library Hugging Face
tokenizers 0.23.2 (npm "tokenizers", its Node binding; fixtures/gen/tokenizer_oracle_rust.mjs).

Texts: fixtures/multilingual/texts.jsonl (4,079 texts of 182 languages from the gettext catalogues,
a fifth of them in NFD) and, when ../shared is there, the 6,900 debsec texts (calib + eval).
Requests per tokenizer: every text alone; 1,000 pairs; 300 texts without special tokens; 300
texts and 300 pairs truncated at 16 and at 48 tokens (longest first; a pair as the library
truncates texts tokenized whole, not as 0.23.2's encode() does, see tokenizer_oracle_rust.mjs and
tests/test_hf_refs_tokenizer.c). Compared: input ids and
token type ids through `qforge tokenize` (every build, ASan included), and, where the Python binding
can load libqforge.so (not in a sanitizer build), offsets and word ids of every request too.
Skips (77) without node and node_modules/tokenizers, or without python3-sentencepiece.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CLI = os.environ.get("QF_CLI", "build/qforge")
SOURCE = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BINARY = os.environ.get("QF_BINARY_DIR", "build")
SHARED = os.environ.get("QF_SHARED_DIR") or os.path.join(SOURCE, "..", "shared")

if not shutil.which("node") or not os.path.exists(os.path.join(SOURCE, "node_modules", "tokenizers", "package.json")):
    print("SKIP: needs node and node_modules/tokenizers (npm ci: Hugging Face tokenizers' Node binding)")
    sys.exit(77)
try:
    import sentencepiece  # noqa: F401  (make_spm_tokenizers.py reads the model's protobuf with it)
except ImportError:
    print("SKIP: needs Debian's python3-sentencepiece (fixtures/gen/make_spm_tokenizers.py)")
    sys.exit(77)

native = None
cache = os.path.join(BINARY, "CMakeCache.txt")
if not (os.path.exists(cache) and "QF_SANITIZE:BOOL=ON" in open(cache).read()):
    os.environ["QFORGE_LIB"] = os.path.join(BINARY, "libqforge.so")
    sys.path.insert(0, os.path.join(SOURCE, "python"))
    from qforge.native import Tokenizer as native  # noqa: E402
else:
    print("note: sanitizer build: ids and type ids through the CLI only (the Python binding cannot load an "
          "ASan libqforge.so)")


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


sets = {"multilingual": read_texts(os.path.join(SOURCE, "fixtures", "multilingual", "texts.jsonl"))}
debsec = os.path.join(SHARED, "data", "debsec")
if os.path.exists(os.path.join(debsec, "eval.jsonl")):
    sets["debsec"] = read_texts(os.path.join(debsec, "calib.jsonl")) + read_texts(os.path.join(debsec, "eval.jsonl"))
else:
    print(f"note: {debsec} is absent: the debsec texts are not compared")


def requests_of(texts):
    """(kind, max_length, special, text, pair) tuples."""
    out = [("single", 0, True, t, None) for t in texts]
    pairs = [(texts[i], texts[(i * 7 + 3) % len(texts)]) for i in range(min(1000, len(texts)))]
    out += [("pair", 0, True, a, b) for a, b in pairs]
    out += [("plain", 0, False, t, None) for t in texts[:300]]
    for n in (16, 48):
        out += [(f"truncated {n}", n, True, t, None) for t in texts[:300]]
        out += [(f"truncated pair {n}", n, True, a, b) for a, b in pairs[:300]]
    return out


failures = []


def compare(variant, tok_path, set_name, reqs, work, ours=None, native_tok=None):
    """The oracle encodes with tok_path; qforge loads `ours` (default: the same file)."""
    ours = ours or tok_path
    req_path = os.path.join(work, "requests.jsonl")
    with open(req_path, "w", encoding="utf-8") as f:
        for _, n, special, a, b in reqs:
            row = {"text": a, "max_length": n, "add_special_tokens": special}
            if b is not None:
                row["text_pair"] = b
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    ref_path = os.path.join(work, "reference.jsonl")
    subprocess.run(["node", os.path.join(SOURCE, "fixtures", "gen", "tokenizer_oracle_rust.mjs"), tok_path, req_path,
                    ref_path], check=True, cwd=SOURCE)
    with open(ref_path, encoding="utf-8") as f:
        refs = [json.loads(line) for line in f if line.strip()]
    assert len(refs) == len(reqs)

    # ids and types through the CLI, one call per (max_length, special tokens) group
    got = [None] * len(reqs)
    groups = {}
    for i, (_, n, special, _, _) in enumerate(reqs):
        groups.setdefault((n, special), []).append(i)
    for (n, special), idx in groups.items():
        rows_path = os.path.join(work, "rows.jsonl")
        with open(rows_path, "w", encoding="utf-8") as f:
            for i in idx:
                _, _, _, a, b = reqs[i]
                f.write(json.dumps({"text": a, "text_pair": b} if b is not None else {"text": a},
                                   ensure_ascii=False) + "\n")
        cmd = [CLI, "tokenize", ours, "--data", rows_path] + (["--max-length", str(n)] if n else []) + \
              ([] if special else ["--no-special-tokens"])
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            failures.append(f"{variant}/{set_name}: qforge tokenize exited {p.returncode}: {p.stderr.strip()}")
            return
        lines = [json.loads(line) for line in p.stdout.splitlines()]
        for i, row in zip(idx, lines):
            got[i] = row

    by_kind = {}
    shown = 0
    early = sum(1 for r in refs if "early_stop_input_ids" in r and r["early_stop_input_ids"] != r["input_ids"])
    for i, (kind, n, special, a, b) in enumerate(reqs):
        ref, mine = refs[i], got[i]
        same = mine is not None and mine["input_ids"] == ref["input_ids"]
        if same and b is not None:
            same = mine.get("token_type_ids") == ref["token_type_ids"]
        if same and native_tok is not None:
            enc = native_tok.encode(a, b, max_length=n, add_special_tokens=special)
            same = enc["input_ids"] == ref["input_ids"] and enc["token_type_ids"] == ref["token_type_ids"] and \
                enc["offsets"] == ref["offsets"] and \
                enc["word_ids"] == [-1 if w is None else w for w in ref["word_ids"]]
            if not same and shown < 3:
                print(f"  native differs: {variant}/{set_name} {kind} {a[:60]!r}\n    ours   {enc}\n    theirs {ref}")
        elif not same and shown < 3:
            print(f"  differs: {variant}/{set_name} {kind} {a[:60]!r}\n    ours   {mine}\n    theirs {ref}")
        if not same:
            shown += 1
        c = by_kind.setdefault(kind.split(" ")[0] if not kind.startswith("truncated") else "truncated", [0, 0])
        c[0] += 1
        c[1] += same
    total = sum(c[0] for c in by_kind.values())
    ident = sum(c[1] for c in by_kind.values())
    detail = ", ".join(f"{k} {c[1]}/{c[0]}" for k, c in by_kind.items())
    print(f"parity {variant} / {set_name} vs tokenizers 0.23.2: {total} requests, {ident} identical ({detail})")
    if early:
        print(f"  {early} truncated pairs are compared with the texts tokenized whole: tokenizers 0.23.2's "
              f"encode() (issue #2091) gives the odd token of longest_first to the other text there")
    if ident != total:
        failures.append(f"{variant}/{set_name}: {total - ident} of {total} requests differ")


with tempfile.TemporaryDirectory() as work:
    subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "fixtures", "gen", "make_spm_tokenizers.py"), work],
                   check=True)
    for variant in sorted(os.listdir(work)):
        tok_path = os.path.join(work, variant, "tokenizer.json")
        if not os.path.isfile(tok_path):
            continue
        # the tokenizer.json, and the family's SentencePiece model file alone in a folder with its
        # tokenizer_config.json (text/tokenizer_spm.c converts it), against the oracle's tokenizer.json
        model_dir = os.path.join(work, variant + "-model")
        for ours, label in ((tok_path, variant), (model_dir, variant + " (.model)")):
            if not os.path.exists(ours):
                continue
            native_tok = native(ours) if native is not None else None
            for set_name, texts in sets.items():
                # the XLM-R layout on every text; the others on the multilingual set and 1,000 debsec texts
                if (variant != "xlm-roberta" or ours == model_dir) and set_name == "debsec":
                    texts = texts[:1000]
                compare(label, tok_path, set_name, requests_of(texts), work, ours, native_tok)
            if native_tok is not None:
                native_tok.close()

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
