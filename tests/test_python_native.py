"""python/qforge/native.py (ctypes binding to libqforge.so) against the qforge CLI.

On the bundled debsec-mini model, int8 artifact and FP32 checkpoint: the logits and embeddings the
binding returns for a batch of variable-length id sequences equal, bit for bit, what `qforge run`
prints for the same rows (both one thread); a failed call raises QfNativeError with qforge's one
line (file, status). Exit 77 (skip) in a sanitizer build, whose libqforge.so cannot be loaded into
an uninstrumented Python.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CLI = os.environ.get("QF_CLI", "build/qforge")
SOURCE = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
BINARY = os.environ.get("QF_BINARY_DIR", "build")
MINI = os.path.join(SOURCE, "fixtures", "debsec-mini")

cache = os.path.join(BINARY, "CMakeCache.txt")
if os.path.exists(cache) and "QF_SANITIZE:BOOL=ON" in open(cache).read():
    print("skip: sanitizer build (an ASan libqforge.so cannot be loaded by /usr/bin/python3)")
    sys.exit(77)
os.environ["QFORGE_LIB"] = os.path.join(BINARY, "libqforge.so")
sys.path.insert(0, os.path.join(SOURCE, "python"))
from qforge.native import Model, QfNativeError, Tokenizer  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def cli_run(model, rows, output, tmp):
    path = os.path.join(tmp, "rows.jsonl")
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps({"input_ids": r}) + "\n")
    out = subprocess.run([CLI, "run", model, "--data", path, "--threads", "1", "--output", output],
                         check=True, stdout=subprocess.PIPE).stdout.decode()
    key = "logits" if output == "logits" else "embedding"
    return np.array([json.loads(line)[key] for line in out.splitlines()], dtype=np.float32)


def main():
    rng = np.random.default_rng(7)
    rows = [[101] + rng.integers(1000, 8000, size=n).tolist() + [102] for n in (5, 17, 1, 40, 9, 23)]
    with tempfile.TemporaryDirectory() as tmp:
        art = os.path.join(tmp, "mini.int8.qf")
        subprocess.run([CLI, "quantize", os.path.join(MINI, "pytorch_model.bin"), "-o", art, "--mode", "dynamic"],
                       check=True, stdout=subprocess.DEVNULL)
        for path, mode in ((art, "int8"), (os.path.join(MINI, "pytorch_model.bin"), "fp32")):
            with Model(path) as m:
                enc = m.encoder(threads=1, max_batch=8, max_length=64)
                check(enc.mode == mode, "%s runs in %s (got %s)" % (path, mode, enc.mode))
                out = enc.run(rows)
                want_logits = cli_run(path, rows, "logits", tmp)
                want_emb = cli_run(path, rows, "embedding", tmp)
                check(out["logits"].shape == (len(rows), 30), "logits shape %s" % (out["logits"].shape,))
                check(np.array_equal(out["logits"], want_logits),
                      "%s: logits equal qforge run's (max diff %g)" % (mode, np.abs(out["logits"] - want_logits).max()))
                check(np.array_equal(out["pooled"], want_emb),
                      "%s: embeddings equal qforge run's (max diff %g)" % (mode, np.abs(out["pooled"] - want_emb).max()))
                # the same rows one at a time give the same numbers (padding never leaks in)
                for i in (0, 3):
                    single = enc.run([rows[i]], hidden=True)
                    check(np.array_equal(single["logits"][0], out["logits"][i]), "%s: row %d alone" % (mode, i))
                    check(single["last_hidden"].shape == (1, len(rows[i]), 128), "%s: hidden shape" % mode)
                try:
                    enc.run([[101, 10 ** 6, 102]])
                    check(False, "an id outside the vocabulary raises")
                except QfNativeError as e:
                    check(e.code == "INVALID_ARGUMENT" and "input_ids" in str(e), "bad id error: %s %s" % (e.code, e))
                enc.close()
                check(m.meta("quant.mode") == ("dynamic" if mode == "int8" else None), "%s: metadata" % mode)
        try:
            Model(os.path.join(MINI, "eval.jsonl"))
            check(False, "a JSONL file is not a model")
        except QfNativeError as e:
            print("error as raised:", e)
            check(e.code == "UNKNOWN_FORMAT" and "eval.jsonl" in str(e) and "\n" not in str(e),
                  "one-line error naming the file (%s: %s)" % (e.code, e))
        try:
            Model(os.path.join(tmp, "missing.qf"))
            check(False, "a missing file raises")
        except QfNativeError as e:
            check(e.code == "IO" and "missing.qf" in str(e), "missing file: %s %s" % (e.code, e))
    # the tokenizer: what Hugging Face's tokenizers recorded for the bert-mini tokenizer's texts and pairs
    refs = json.load(open(os.path.join(SOURCE, "fixtures", "hf-refs", "tokenizers", "bert-mini.json")))
    texts = refs["texts"]
    with Tokenizer(os.path.join(SOURCE, refs["tokenizer"])) as tok:
        agree = 0
        for text, want in zip(texts, refs["single"]):
            got = tok.encode(text)
            agree += (got["input_ids"], got["token_type_ids"], got["offsets"], got["sequence_ids"]) == (
                want["ids"], want["type_ids"], [list(o) for o in want["offsets"]],
                [-1 if s is None else s for s in want["sequence_ids"]])
        pairs = 0
        for i, want in enumerate(refs["pairs"]):
            got = tok.encode(texts[i], texts[(i + 1) % len(texts)])
            pairs += got["input_ids"] == want["ids"] and got["token_type_ids"] == want["type_ids"]
        print("Tokenizer: %d/%d texts and %d/%d pairs as Hugging Face's tokenizers" %
              (agree, len(refs["single"]), pairs, len(refs["pairs"])))
        check(agree == len(refs["single"]) and pairs == len(refs["pairs"]), "Tokenizer equals the recorded encodings")
        check(len(tok.encode(texts[-1], max_length=5)["input_ids"]) <= 5, "max_length truncates")
        # word ids (Encoding.word_ids): under BERT's pre-tokenizer and WordPiece a token starts a new
        # word exactly when its vocabulary string is not a "##" continuation; counted from 0 in each
        # text of a pair; -1 on special tokens
        vocab = {i: t for t, i in json.load(open(os.path.join(SOURCE, refs["tokenizer"])))["model"]["vocab"].items()}
        words_ok = 0
        for i, text in enumerate(texts):
            got = tok.encode(text, texts[(i + 1) % len(texts)])
            want, word, seq = [], -1, None
            for tid, sid in zip(got["input_ids"], got["sequence_ids"]):
                if sid < 0:
                    want.append(-1)
                    continue
                if sid != seq:
                    word, seq = -1, sid
                if not vocab.get(tid, "").startswith("##"):
                    word += 1
                want.append(word)
            words_ok += got["word_ids"] == want
        print("Tokenizer: word ids of %d/%d pairs follow the WordPiece continuations" % (words_ok, len(texts)))
        check(words_ok == len(texts), "word ids (WordPiece)")
    # byte-level BPE: words count up from 0 without gaps, a token of the space marker 'Ġ' and a word
    # ("Ġand") always starts one (a run of spaces is one word: GPT-2's \s+(?!\S)), and a word's tokens
    # are contiguous
    rrefs = json.load(open(os.path.join(SOURCE, "fixtures", "hf-refs", "tokenizers", "roberta-mini.json")))
    rpath = os.path.join(SOURCE, rrefs["tokenizer"])
    rvocab = {i: t for t, i in json.load(open(rpath))["model"]["vocab"].items()}
    with Tokenizer(rpath) as tok:
        ok = 0
        for text in rrefs["texts"]:
            got = tok.encode(text)
            words = [w for w, sid in zip(got["word_ids"], got["sequence_ids"]) if sid >= 0]
            ids = [t for t, sid in zip(got["input_ids"], got["sequence_ids"]) if sid >= 0]
            good = all(w == -1 for w, sid in zip(got["word_ids"], got["sequence_ids"]) if sid < 0)
            good = good and (not words or words[0] == 0)
            for k in range(1, len(words)):
                good = good and words[k] - words[k - 1] in (0, 1)
                piece = rvocab.get(ids[k], "")
                opens = piece.startswith("\u0120") and piece.strip("\u0120") != ""  # not a run of spaces
                good = good and (not opens or words[k] == words[k - 1] + 1)
            ok += good
        print("Tokenizer: word ids of %d/%d byte-level texts consistent" % (ok, len(rrefs["texts"])))
        check(ok == len(rrefs["texts"]), "word ids (byte-level BPE)")
    # word ids against Hugging Face's tokenizers (Encoding.word_ids, recorded by
    # fixtures/gen/make_st_module_references.py: fixtures/hf-refs/st-modules/word_ids)
    wdir = os.path.join(SOURCE, "fixtures", "hf-refs", "st-modules", "word_ids")
    for name in sorted(os.listdir(wdir)):
        wref = json.load(open(os.path.join(wdir, name)))
        texts = json.load(open(os.path.join(SOURCE, "fixtures", "hf-refs", "tokenizers", name)))["texts"]
        with Tokenizer(os.path.join(SOURCE, wref["tokenizer"])) as tok:
            same = sum(tok.encode(t)["word_ids"] == w for t, w in zip(texts, wref["single"]))
            same_pairs = sum(tok.encode(texts[i], texts[(i + 1) % len(texts)])["word_ids"] == w
                             for i, w in enumerate(wref["pairs"]))
        print("Tokenizer %s: word ids of %d/%d texts and %d/%d pairs as Hugging Face's" %
              (name, same, len(wref["single"]), same_pairs, len(wref["pairs"])))
        check(same == len(wref["single"]) and same_pairs == len(wref["pairs"]), "word ids equal Hugging Face's (%s)" % name)
    try:
        Tokenizer(os.path.join(MINI, "eval.jsonl"))
        check(False, "a JSONL file is not a tokenizer")
    except QfNativeError as e:
        check("eval.jsonl" in str(e), "tokenizer error names the file: %s" % e)
    if failures:
        print("0 passed, %d failed" % len(failures))
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
