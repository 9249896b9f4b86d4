#!/usr/bin/env bash
# Regenerates the seed corpora in tests/fuzz/corpus/<target>/ from the committed fixtures and a few
# small files (<= 64 KB) of ../shared/realfiles. The output is committed; run this only to refresh
# it. Nothing here is ever unpickled: pickles are only copied, or cut out of zip archives.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${QF_SHARED_DIR:-$ROOT/../shared}
C=$ROOT/tests/fuzz/corpus
R=$SHARED/realfiles
# only the corpora made here are replaced: the hand-made seeds of the other targets (beside,
# pipeline, onnx_rewrite, sentence_dense: inputs in each target's own layout) stay, and so does
# tokenizer/normalizer-chain.json (a chain of growing normalizers)
rm -rf "$C"/{pickle,torch,safetensors,qf,config,arch,dataset,onnx,qfc,sharded,hdf5,charsmap,spm_model}
rm -f "$C"/tokenizer/{bert-mini,roberta-mini,unigram-precompiled}.json
mkdir -p "$C"/{pickle,torch,safetensors,qf,tokenizer,config,arch,dataset,onnx,qfc,sharded,hdf5,charsmap,spm_model}

cp "$ROOT"/fixtures/torch/*.pkl "$C/pickle/"
cp "$ROOT"/fixtures/torch/*.pt "$C/torch/"
for f in simple_legacy.pt legacy_shared_storage.pt nested_dict.pt bfloat16.pt scalar.pt; do
  cp "$R/burn-pytorch-reader-testdata/$f" "$C/torch/real_$f"
done
cp "$R/candle-core-tests/test_with_key.pt" "$C/torch/real_candle_test_with_key.pt"
for f in malicious1.zip malicious1_central_directory.zip new_pytorch_model.bin benign_password_protected.zip; do
  cp "$R/picklescan-malicious-samples/$f" "$C/torch/picklescan_$f"
done
for f in malicious0.pkl malicious3.pkl malicious6.pkl malicious13a.pkl malicious1_v0.pkl GHSA-3gf5-cxq9-w223.pkl; do
  cp "$R/picklescan-malicious-samples/$f" "$C/pickle/picklescan_$f"
done
# the data.pkl streams of the zip fixtures, as the pickle machine sees them
/usr/bin/python3 - "$ROOT/fixtures/torch" "$C/pickle" <<'PY'
import sys, zipfile, pathlib
src, dst = map(pathlib.Path, sys.argv[1:])
for p in sorted(src.glob("*.pt")):
    if not zipfile.is_zipfile(p):
        continue
    try:
        with zipfile.ZipFile(p) as z:
            for n in z.namelist():
                if n.endswith("/data.pkl"):
                    (dst / (p.stem + ".data.pkl")).write_bytes(z.read(n))
                    break
    except Exception:
        pass
PY

cp "$ROOT"/fixtures/safetensors/*.safetensors "$C/safetensors/"
cp "$R/burn-mnist/multi_layer.safetensors" "$C/safetensors/real_burn_multi_layer.safetensors"

cp "$ROOT/fixtures/qf/sample.qf" "$C/qf/"
# the same behind fuzz_qf's CRC-fixing mode byte: mutations reach the checks behind the CRCs
{ printf '\001'; cat "$ROOT/fixtures/qf/sample.qf"; } > "$C/qf/sample_fixcrc.qf"

cp "$ROOT/fixtures/tokenizer/bert-mini/tokenizer.json" "$C/tokenizer/bert-mini.json"
cp "$ROOT/fixtures/tokenizer/roberta-mini/tokenizer.json" "$C/tokenizer/roberta-mini.json"
# SentencePiece's precompiled_charsmap (fuzz_charsmap: 2-byte text length, text, blob): the real
# nmt_nfkc one of fixtures/spm/spm.model, and a 256-unit one made here ("A" -> "a", "B" -> "xy",
# "D" -> ""), which is also the Precompiled normalizer of a small Unigram tokenizer.json seed
/usr/bin/python3 - "$ROOT/fixtures/spm/spm.model" "$C" <<'PY'
import base64, json, pathlib, struct, sys
from sentencepiece import sentencepiece_model_pb2 as model_pb2
model, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
proto = model_pb2.ModelProto()
proto.ParseFromString(model.read_bytes())
units = [0] * 256
for key, at in ((0x41, 0), (0x42, 2), (0x44, 5)):
    units[key] = key | 0x100 | (1 << 10)
    units[key ^ 1] = at
small = struct.pack("<I", 4 * len(units)) + b"".join(struct.pack("<I", u) for u in units) + b"a\0xy\0\0"
def seed(name, text, blob):
    t = text.encode("utf-8")
    (out / "charsmap" / name).write_bytes(struct.pack("<H", len(t)) + t + blob)
seed("nmt_nfkc.bin", "Ｈｅｌｌｏ  e\u0301 \ufb01 \u0915\u094d\u0937 \u2460", proto.normalizer_spec.precompiled_charsmap)
seed("small.bin", "ABCD e\u0301", small)
vocab = [["<unk>", 0], ["a", -1], ["b", -2], ["ab", -2.5], ["x", -1], ["y", -1], ["xy", -1.5], ["\u2581", -3],
         ["\u2581a", -1.2], ["<0x63>", -5]]
tok = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "single_word": False, "lstrip": False,
                                           "rstrip": False, "normalized": False, "special": True}],
       "normalizer": {"type": "Sequence", "normalizers": [
           {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(small).decode()},
           {"type": "Strip", "strip_left": False, "strip_right": True},
           {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]},
       "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
       "post_processor": None, "decoder": None,
       "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": True}}
(out / "tokenizer" / "unigram-precompiled.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
# SentencePiece model files (fuzz_spm_model): the first 60 pieces of spm.model with the small
# charsmap, as XLM-R's shape, as DeBERTa-v3's ([PAD] [CLS] [SEP] [UNK] first), and as a BPE model
def small_model(head, model_type=1):
    m = model_pb2.ModelProto()
    m.CopyFrom(proto)
    del m.pieces[:]
    for piece, t in head:
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, 0.0, t
    for p in proto.pieces[3:60]:
        m.pieces.add().CopyFrom(p)
    m.normalizer_spec.precompiled_charsmap = small
    m.trainer_spec.model_type = model_type
    m.trainer_spec.unk_id = [i for i, (_, t) in enumerate(head) if t == 2][0]
    return m.SerializeToString()
xlmr = [("<unk>", 2), ("<s>", 3), ("</s>", 3)]
(out / "spm_model" / "xlmr_shape.model").write_bytes(small_model(xlmr))
(out / "spm_model" / "deberta_shape.model").write_bytes(
    small_model([("[PAD]", 3), ("[CLS]", 3), ("[SEP]", 3), ("[UNK]", 2), ("[MASK]", 4)]))
(out / "spm_model" / "bpe.model").write_bytes(small_model(xlmr, model_type=2))
PY

for fam in bert roberta distilbert electra mpnet albert; do
  cp "$ROOT/fixtures/families/$fam/config.json" "$C/config/$fam.json"
  cp "$ROOT/fixtures/families/$fam/config.json" "$C/arch/$fam.json"
done
cp "$ROOT/fixtures/trained/mpnet-debsec/config.json" "$C/arch/mpnet-debsec.json"
# ALBERT's groups: 24 layers over 5 groups (uneven), 12 layers over one group (the public layout)
/usr/bin/python3 - "$ROOT/fixtures/families/albert/config.json" "$C/arch" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(num_hidden_layers=24, num_hidden_groups=5)
open(sys.argv[2] + "/albert-24-over-5.json", "w").write(json.dumps(c))
c.update(num_hidden_layers=12, num_hidden_groups=1)
open(sys.argv[2] + "/albert-12-shared.json", "w").write(json.dumps(c))
PY
cp "$ROOT/fixtures/debsec-mini/config.json" "$C/config/debsec-mini.json"

for f in onnx-extdata-vs-inline-toy/model_inline.onnx onnx-extdata-vs-inline-toy/model.onnx \
         onnx-tract-testcases/qtdnn_10x5_101_i32_biases__model.onnx onnx-tract-testcases/keras-tract-tf2__example.onnx \
         onnx-tract-testcases/qrelu_1__model.onnx; do
  cp "$R/$f" "$C/onnx/real_$(echo "$f" | tr / _)"
done
# a tiny BERT-like projection graph (MatMul + Add with initializers) written by the onnx package
/usr/bin/python3 - "$C/onnx/tiny_linear.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "encoder.layer.0.attention.self.query.weight")
b = numpy_helper.from_array(np.ones(3, dtype=np.float32), "encoder.layer.0.attention.self.query.bias")
g = helper.make_graph([helper.make_node("MatMul", ["x", w.name], ["h"]), helper.make_node("Add", ["h", b.name], ["y"])],
                      "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w, b])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), sys.argv[1])
PY

head -n 5 "$ROOT/fixtures/debsec-mini/eval.jsonl" > "$C/dataset/text_rows.jsonl"
printf '%s\n' '{"input_ids":[2,4,5,3],"label":1}' '{"input_ids":[2,7,8,3],"attention_mask":[1,1,1,1],"token_type_ids":[0,0,0,0],"label":"devel"}' \
  '' '{"text":"the python library","label":"libs"}' '{"text":"a lib for the"}' > "$C/dataset/mixed_rows.jsonl"
# .qfc statistics: a real calibration file is megabytes (4096-bin histograms per activation), so
# the seeds are built here from docs/format.md: no entries, one entry, two entries
/usr/bin/python3 - "$C/qfc" <<'PY'
import struct, sys, zlib, pathlib
out = pathlib.Path(sys.argv[1])
# hand-built .qfc files (docs/format.md): an empty one and small entries of 2-3 channels
def header(n, rows, tokens):
    return b"\x89QFSTAT\n" + struct.pack("<IIIIII", 1, 0, 4096, 128, n, 0) + struct.pack("<QQQQ", rows, tokens, 0, 0) + b"0" * 64
def record(name, xs):  # one row of values, one value per channel
    nb = name.encode()
    r = struct.pack("<I", len(nb)) + nb + b"\0" * ((-(4 + len(nb))) % 8)
    m = max(abs(v) for v in xs)
    def expo(a):
        e = 0
        if a == 0: return -2**31
        while 2.0**e <= a: e += 1
        while 2.0**(e - 1) > a: e -= 1
        return e
    e = expo(m)
    hist = [0] * 4096
    for v in xs: hist[int(abs(v) * 2.0**(12 - e))] += 1
    r += struct.pack("<QQQffiI", len(xs), len(xs), 0, min(xs), max(xs), e, 0) + struct.pack("<4096Q", *hist)
    r += struct.pack(f"<{len(xs)}f", *[abs(v) for v in xs]) + struct.pack(f"<{len(xs)}i", *[expo(abs(v)) for v in xs])
    for v in xs:
        ch = [0] * 128; ch[int(abs(v) * 2.0**(7 - expo(abs(v))))] += 1; r += struct.pack("<128Q", *ch)
    return r
def save(name, body):
    (out / name).write_bytes(body + struct.pack("<I", zlib.crc32(body)))
save("empty.qfc", header(0, 0, 0))
save("one_entry.qfc", header(1, 1, 2) + record("layers.0.attn.qkv.input", [0.5, -1.0]))
save("two_entries.qfc", header(2, 1, 2) + record("layers.0.attn.qkv.input", [0.25, -3.0, 0.75]) + record("layers.0.ffn.down.input", [1.5, 2.0]))
PY

# shard indexes; the fuzz target's scratch folder holds shard-1.safetensors ("a") and
# shard-2.safetensors ("b")
printf '%s' '{"metadata":{"total_size":12},"weight_map":{"a":"shard-1.safetensors","b":"shard-2.safetensors"}}' > "$C/sharded/two_shards.json"
printf '%s' '{"weight_map":{"a":"shard-1.safetensors"}}' > "$C/sharded/missing_tensor_b.json"
printf '%s' '{"weight_map":{"a":"shard-1.safetensors","b":"shard-1.safetensors"}}' > "$C/sharded/wrong_shard.json"
printf '%s' '{"weight_map":{"a":"../shard-1.safetensors"}}' > "$C/sharded/parent_path.json"
printf '%s' '{"weight_map":{"a":"absent.safetensors"}}' > "$C/sharded/absent_shard.json"

# HDF5 / .keras fixtures of at most 64 KB
for f in "$ROOT"/fixtures/hdf5/*.h5 "$ROOT"/fixtures/hdf5/*.keras; do
  [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$C/hdf5/"
done
du -sh "$C"
