#!/usr/bin/python3
"""An XLM-RoBERTa model with its SentencePiece tokenizer, end to end: verify on text rows equals
verify on Hugging Face's ids of the same texts.

The model is made here with Debian's torch: an XLMRobertaForSequenceClassification state dict in
transformers' names (hidden 32, 2 layers, 3 labels, random weights from a fixed seed) over the
8,001 ids of the tokenizer.json that fixtures/gen/make_spm_tokenizers.py lays out from
fixtures/spm/spm.model the way transformers' XLM-R converter does. qforge reads it as the roberta
family (model_type xlm-roberta), quantizes it (dynamic) and verifies the int8 artifact against the
FP32 checkpoint on 1,000 texts of fixtures/multilingual/texts.jsonl (182 languages) twice: once as
text rows, which qforge tokenizes, and once as input_ids rows holding what Hugging Face tokenizers
0.23.2 (the Rust library, npm) gives for the same texts, truncated at the same length. The two
--json reports must be equal but for the wall time and the data file's path and digest:
tokenization is the only thing that differs between the runs. Skips (77) without node and node_modules/tokenizers, or
without python3-sentencepiece.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

CLI = os.environ.get("QF_CLI", "build/qforge")
SOURCE = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MAX_LENGTH = 64
ROWS = 1000

if not shutil.which("node") or not os.path.exists(os.path.join(SOURCE, "node_modules", "tokenizers", "package.json")):
    print("SKIP: needs node and node_modules/tokenizers (npm ci: Hugging Face tokenizers' Node binding)")
    sys.exit(77)
try:
    import sentencepiece  # noqa: F401
    import torch
except ImportError as e:
    print(f"SKIP: needs Debian's python3-sentencepiece and python3-torch ({e})")
    sys.exit(77)


def make_model(folder):
    torch.manual_seed(20)
    h, layers, inter, vocab, positions = 32, 2, 64, 8001, MAX_LENGTH + 2
    sd = {}

    def lin(name, n_out, n_in):
        sd[name + ".weight"] = torch.randn(n_out, n_in) * 0.2
        sd[name + ".bias"] = torch.randn(n_out) * 0.05

    def norm(name):
        sd[name + ".weight"] = 1 + torch.randn(h) * 0.05
        sd[name + ".bias"] = torch.randn(h) * 0.05
    e = "roberta.embeddings."
    sd[e + "word_embeddings.weight"] = torch.randn(vocab, h) * 0.5
    sd[e + "position_embeddings.weight"] = torch.randn(positions, h) * 0.1
    sd[e + "token_type_embeddings.weight"] = torch.randn(1, h) * 0.1
    norm(e + "LayerNorm")
    for i in range(layers):
        p = f"roberta.encoder.layer.{i}."
        for part in ("query", "key", "value"):
            lin(p + "attention.self." + part, h, h)
        lin(p + "attention.output.dense", h, h)
        norm(p + "attention.output.LayerNorm")
        lin(p + "intermediate.dense", inter, h)
        lin(p + "output.dense", h, inter)
        norm(p + "output.LayerNorm")
    lin("classifier.dense", h, h)
    lin("classifier.out_proj", 3, h)
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    config = {"architectures": ["XLMRobertaForSequenceClassification"], "model_type": "xlm-roberta",
              "hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": 2, "intermediate_size": inter,
              "hidden_act": "gelu", "vocab_size": vocab, "max_position_embeddings": positions, "type_vocab_size": 1,
              "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5,
              "id2label": {"0": "a", "1": "b", "2": "c"}, "label2id": {"a": 0, "b": 1, "c": 2}}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)


def run(*args):
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"FAIL: qforge {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
        sys.exit(1)
    return p.stdout


def report(path):
    with open(path) as f:
        r = json.load(f)
    for key in ("seconds", "data", "data_sha256"):  # the wall time; the data file, which differs by design
        r.pop(key, None)
    return r


with tempfile.TemporaryDirectory() as work:
    model = os.path.join(work, "xlmr")
    os.makedirs(model)
    subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "fixtures", "gen", "make_spm_tokenizers.py"),
                    os.path.join(work, "layouts")], check=True)
    shutil.copy(os.path.join(work, "layouts", "xlm-roberta", "tokenizer.json"), model)
    make_model(model)

    with open(os.path.join(SOURCE, "fixtures", "multilingual", "texts.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:ROWS]
    rng = random.Random(7)
    labels = [rng.randrange(3) for _ in texts]
    requests = os.path.join(work, "requests.jsonl")
    with open(requests, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "max_length": MAX_LENGTH}, ensure_ascii=False) + "\n")
    refs = os.path.join(work, "refs.jsonl")
    subprocess.run(["node", os.path.join(SOURCE, "fixtures", "gen", "tokenizer_oracle_rust.mjs"),
                    os.path.join(model, "tokenizer.json"), requests, refs], check=True, cwd=SOURCE)
    with open(refs) as f:
        ids = [json.loads(line)["input_ids"] for line in f]

    data = os.path.join(work, "data")
    os.makedirs(os.path.join(data, "text"))
    os.makedirs(os.path.join(data, "ids"))
    # the same file name in two folders: the reports name the data file as given
    with open(os.path.join(data, "text", "rows.jsonl"), "w", encoding="utf-8") as f:
        for t, y in zip(texts, labels):
            f.write(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n")
    with open(os.path.join(data, "ids", "rows.jsonl"), "w") as f:
        for row, y in zip(ids, labels):
            f.write(json.dumps({"input_ids": row, "label": y}) + "\n")

    qf = os.path.join(work, "xlmr.dynamic.qf")
    run("quantize", model, "-o", qf, "--mode", "dynamic", "-q")
    out = {}
    for kind in ("text", "ids"):
        out[kind] = os.path.join(work, f"verify-{kind}.json")
        run("verify", qf, "--reference", model, "--data", os.path.join(data, kind, "rows.jsonl"),
            "--max-length", str(MAX_LENGTH), "--json", out[kind], "-q")
    a, b = report(out["text"]), report(out["ids"])
    tokens = sum(len(r) for r in ids)
    print(f"xlm-roberta (SentencePiece Unigram): {len(texts)} multilingual texts, {tokens} tokens from Hugging Face "
          f"tokenizers; dynamic int8 vs FP32: accuracy {a['accuracy']}, top-1 agreement {a['top1_agreement']}")
    if a != b:
        keys = sorted(set(a) | set(b))
        for k in keys:
            if a.get(k) != b.get(k):
                print(f"FAIL: the reports differ at {k!r}:\n  text rows: {json.dumps(a.get(k))[:400]}\n"
                      f"  id rows:   {json.dumps(b.get(k))[:400]}")
        sys.exit(1)
    print(f"verify on text rows == verify on Hugging Face's ids: {len(a)} report fields equal "
          f"(all but the wall time and the data file's path and digest)")
