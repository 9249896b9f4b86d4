#!/usr/bin/env bash
# tests/test_sbert6.sh — folders saved by sentence-transformers 6 (fixtures/sbert6, fixtures/jobs/embed):
# modules.json with the v6 module types, 1_Pooling/config.json with a "pooling_mode" string, the
# sequence limit in tokenizer_config.json (model_max_length) instead of sentence_bert_config.json.
#   - `qforge run FOLDER --output embedding` equals SentenceTransformer.encode's output recorded in the
#     folder's reference.json (bert mean + Normalize, roberta cls + Normalize, distilbert max,
#     electra mean_sqrt_len_tokens) and fixtures/jobs/embed's predictions.json: max |d| <= 1e-4;
#   - the dynamic int8 .qf quantized from each folder: min cosine to the reference >= 0.995;
#   - the limit: model_max_length 8 gives what --max-length 8 gives; --max-length overrides it;
#     sentence_bert_config.json's max_seq_length wins over it; a .qf converted from the folder keeps it;
#   - the texts are tokenized as written (sentence-transformers 6 does not strip them);
#   - hostile Pooling configs (pooling_mode not a string, an unknown name, a list of two, flags that
#     disagree with the string) are refused naming the part; hostile model_max_length values
#     (negative, huge, a string, 1e30) are no limit;
#   - do_lower_case true lower-cases every text first (a tokenizer that does not is refused);
#   - mean and CLS + Normalize for every family (fixtures/sbert6/normalize over fixtures/families);
#   - Dense modules (fixtures/sbert6/dense laid over distilbert-max): FP32, dynamic int8, the .qf
#     alone, --pooling overriding them, verify, ONNX Runtime on the exported graph, hostile configs.
set -euo pipefail
work="$QF_BINARY_DIR/test_sbert6.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# rows FILE.json: the texts of a reference as {"text"} rows
rows() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["texts"]:
    print(json.dumps({"text": t}))
PY
}

# compare GOT.jsonl WANT.json|WANT.jsonl TOL LABEL: max |d| (embeddings of reference.json /
# predictions.json, or of another run's output)
compare() {
  /usr/bin/python3 - "$1" "$2" "$3" "$4" <<'PY' || failures=$((failures + 1))
import json, sys
got = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
if sys.argv[2].endswith(".jsonl"):
    want = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
else:
    want = json.load(open(sys.argv[2]))["embeddings"]
tol = float(sys.argv[3])
ok = len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want))
d = max(abs(a - b) for g, w in zip(got, want) for a, b in zip(g, w)) if ok else float("inf")
print(f"{sys.argv[4]}: {len(got)} rows, max |d| {d:.3g}")
sys.exit(0 if ok and d <= tol else 1)
PY
}

# cosine GOT.jsonl WANT.json MIN LABEL
cosine() {
  /usr/bin/python3 - "$1" "$2" "$3" "$4" <<'PY' || failures=$((failures + 1))
import json, math, sys
got = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
want = json.load(open(sys.argv[2]))["embeddings"]
cos = min(sum(a * b for a, b in zip(g, w)) / math.sqrt(sum(a * a for a in g) * sum(b * b for b in w))
          for g, w in zip(got, want))
print(f"{sys.argv[4]}: {len(got)} rows, min cosine {cos:.5f}")
sys.exit(0 if len(got) == len(want) and cos >= float(sys.argv[3]) else 1)
PY
}

check_folder() { # DIR REFERENCE.json NAME
  local dir=$1 ref=$2 name=$3
  rows "$ref" > "$work/$name.jsonl"
  "$QF_CLI" run "$dir" --data "$work/$name.jsonl" --output embedding --threads 1 > "$work/$name.got.jsonl"
  compare "$work/$name.got.jsonl" "$ref" 1e-4 "$name FP32 vs SentenceTransformer.encode"
  "$QF_CLI" quantize "$dir" --mode dynamic -o "$work/$name.int8.qf" -q
  "$QF_CLI" run "$work/$name.int8.qf" --data "$work/$name.jsonl" --output embedding --threads 1 > "$work/$name.int8.jsonl"
  cosine "$work/$name.int8.jsonl" "$ref" 0.995 "$name dynamic int8 .qf vs SentenceTransformer.encode"
}

for d in "$QF_SOURCE_DIR"/fixtures/sbert6/*/; do
  d=${d%/}
  [ "$(basename "$d")" = dense ] && continue # Dense modules to lay over distilbert-max: below
  [ "$(basename "$d")" = prompts ] && continue # folders with prompts: tests/test_sentence_prompts.sh
  [ "$(basename "$d")" = normalize ] && continue # the modules of every family: below
  check_folder "$d" "$d/reference.json" "$(basename "$d")"
done


check_folder "$QF_SOURCE_DIR/fixtures/jobs/embed" "$QF_SOURCE_DIR/fixtures/jobs/embed/predictions.json" "jobs-embed"

# copy_folder SRC DST: a writable copy of a fixture folder
copy_folder() { rm -rf "$2"; cp -r "$1" "$2"; chmod -R u+w "$2"; }

# mean and CLS pooling + Normalize for every family (fixtures/sbert6/normalize: the module files
# sentence-transformers 6 saved over fixtures/families/<family>, whose weights they share): FP32
# vs SentenceTransformer.encode
for d in "$QF_SOURCE_DIR"/fixtures/sbert6/normalize/*/; do
  d=${d%/}; name=$(basename "$d"); fam=${name%%-*}
  copy_folder "$QF_SOURCE_DIR/fixtures/families/$fam" "$work/norm-$name"
  rm -f "$work/norm-$name/reference.json"
  cp -r "$d"/* "$work/norm-$name/"
  rows "$d/reference.json" > "$work/norm-$name.jsonl"
  "$QF_CLI" run "$work/norm-$name" --data "$work/norm-$name.jsonl" --output embedding --threads 1 > "$work/norm-$name.got.jsonl"
  compare "$work/norm-$name.got.jsonl" "$d/reference.json" 1e-4 "$name + Normalize FP32 vs SentenceTransformer.encode"
done

# set_json FILE KEY VALUE_JSON: sets (or with VALUE_JSON "DELETE" removes) a top-level key
set_json() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import json, sys
p, k, v = sys.argv[1:4]
c = json.load(open(p))
if v == "DELETE":
    c.pop(k, None)
else:
    c[k] = json.loads(v)
json.dump(c, open(p, "w"))
PY
}

bert="$QF_SOURCE_DIR/fixtures/sbert6/bert-mean"
roberta="$QF_SOURCE_DIR/fixtures/sbert6/roberta-cls"

# the limit comes from tokenizer_config.json's model_max_length: 8 tokens = --max-length 8
copy_folder "$bert" "$work/short"
set_json "$work/short/tokenizer_config.json" model_max_length 8
"$QF_CLI" run "$work/short" --data "$work/bert-mean.jsonl" --output embedding --threads 1 > "$work/short.jsonl"
"$QF_CLI" run "$bert" --data "$work/bert-mean.jsonl" --output embedding --max-length 8 --threads 1 > "$work/short.want.jsonl"
compare "$work/short.jsonl" "$work/short.want.jsonl" 0 "model_max_length 8 = --max-length 8"
if cmp -s "$work/short.jsonl" "$work/bert-mean.got.jsonl"; then fail "model_max_length 8 changed nothing"; fi
# --max-length given: it wins over the folder's limit
"$QF_CLI" run "$work/short" --data "$work/bert-mean.jsonl" --output embedding --max-length 64 --threads 1 > "$work/long.jsonl"
compare "$work/long.jsonl" "$work/bert-mean.got.jsonl" 0 "--max-length 64 overrides model_max_length 8"
# sentence_bert_config.json's max_seq_length wins over model_max_length
copy_folder "$bert" "$work/sbcfg"
set_json "$work/sbcfg/sentence_bert_config.json" max_seq_length 8
set_json "$work/sbcfg/tokenizer_config.json" model_max_length 32
"$QF_CLI" run "$work/sbcfg" --data "$work/bert-mean.jsonl" --output embedding --threads 1 > "$work/sbcfg.jsonl"
compare "$work/sbcfg.jsonl" "$work/short.want.jsonl" 0 "max_seq_length 8 over model_max_length 32"
# the limit travels in the .qf
"$QF_CLI" convert "$work/short" -o "$work/short.qf" -q
"$QF_CLI" run "$work/short.qf" --data "$work/bert-mean.jsonl" --output embedding --threads 1 > "$work/short-qf.jsonl"
compare "$work/short-qf.jsonl" "$work/short.want.jsonl" 0 "the .qf of the folder keeps model_max_length 8"
"$QF_CLI" inspect "$work/short.qf" > "$work/short.inspect" 2>&1 || true
grep -q "pipeline.max_seq_length" "$work/short.inspect" || fail "inspect does not show pipeline.max_seq_length"

# the embedding verify job truncates to the same limit
"$QF_CLI" verify "$work/short.qf" --reference "$work/short" --data "$work/bert-mean.jsonl" --threads 1 > "$work/verify.txt"
grep -q "max length 8)" "$work/verify.txt" || { fail "verify does not truncate to model_max_length 8"; cat "$work/verify.txt"; }

# hostile model_max_length / max_seq_length: no limit from the file, the model's positions bound it
for v in -5 0 '"64"' 1000000000000000019884624838656 1e30 9223372036854775807 1048577 null '[64]'; do
  copy_folder "$bert" "$work/mml"
  set_json "$work/mml/tokenizer_config.json" model_max_length "$v"
  if "$QF_CLI" run "$work/mml" --data "$work/bert-mean.jsonl" --output embedding --threads 1 > "$work/mml.jsonl" 2> "$work/mml.err"; then
    compare "$work/mml.jsonl" "$work/bert-mean.got.jsonl" 0 "model_max_length $v: the model's positions"
  else
    fail "model_max_length $v: refused"; cat "$work/mml.err"
  fi
done
copy_folder "$bert" "$work/mml"
set_json "$work/mml/tokenizer_config.json" model_max_length 1048576
"$QF_CLI" run "$work/mml" --data "$work/bert-mean.jsonl" --output embedding --threads 1 > "$work/mml.jsonl"
compare "$work/mml.jsonl" "$work/bert-mean.got.jsonl" 0 "model_max_length 1048576 (the limit): the model's positions"

# the texts are tokenized as written: sentence-transformers 6 does not strip them (5 did, with
# str.strip()); the reference's text 10 has surrounding whitespace that roberta's BPE sees. Here a
# text padded with whitespace embeds differently from the bare one under roberta's BPE.
/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
texts = ["pkg: a short description", "x  y"]
pad = " \t\xa0\u3000"
with open(w + "/plain.jsonl", "w") as f:
    for t in texts: f.write(json.dumps({"text": t}) + "\n")
with open(w + "/padded.jsonl", "w") as f:
    for t in texts: f.write(json.dumps({"text": pad + t + pad}) + "\n")
PY
"$QF_CLI" run "$roberta" --data "$work/plain.jsonl" --output embedding --threads 1 > "$work/plain.out.jsonl"
"$QF_CLI" run "$roberta" --data "$work/padded.jsonl" --output embedding --threads 1 > "$work/padded.out.jsonl"
if cmp -s "$work/plain.out.jsonl" "$work/padded.out.jsonl"; then fail "roberta-cls: surrounding whitespace was stripped"; fi

# refused, naming the part
refused() { # DIR EXPECTED_TEXT LABEL
  if timeout 60 "$QF_CLI" run "$1" --data "$work/plain.jsonl" --output embedding > "$work/r.out" 2> "$work/r.err"; then
    fail "$3: accepted"
  elif [ -s "$work/r.out" ] || ! grep -q "$2" "$work/r.err"; then
    fail "$3: the error does not say '$2' (or rows were printed):"; cat "$work/r.err"
  else
    echo "$3: refused ($(head -c 200 "$work/r.err"))"
  fi
}
pooling_case() { # VALUE_JSON EXPECTED LABEL [extra key value]
  copy_folder "$bert" "$work/pool"
  set_json "$work/pool/1_Pooling/config.json" pooling_mode "$1"
  if [ $# -ge 5 ]; then set_json "$work/pool/1_Pooling/config.json" "$4" "$5"; fi
  refused "$work/pool" "$2" "$3"
}
pooling_case 7 "pooling_mode is not a mode name" "pooling_mode 7"
pooling_case '{"mode": "mean"}' "pooling_mode is not a mode name" "pooling_mode an object"
pooling_case '"median"' "a pooling_mode qforge does not know" "pooling_mode median"
pooling_case '"mean\u0000"' "a pooling_mode qforge does not know" "pooling_mode with a NUL"
pooling_case '"me"' "a pooling_mode qforge does not know" "pooling_mode a prefix of mean"
pooling_case '["mean", "max"]' "several pooling modes at once" "pooling_mode a list of two"
pooling_case '[]' "pooling_mode is not a mode name" "pooling_mode an empty list"
pooling_case '"mean"' "pooling_mode and pooling_mode_\* flags disagree" "pooling_mode mean with the cls flag" \
  pooling_mode_cls_token true
copy_folder "$bert" "$work/pool"
set_json "$work/pool/1_Pooling/config.json" pooling_mode DELETE
refused "$work/pool" "a Pooling module with no mode" "no pooling_mode"
# accepted forms: upper case (Pooling lower-cases it), a list of one, the string with its own flag
for form in '"MEAN"' '["mean"]'; do
  copy_folder "$bert" "$work/pool"
  set_json "$work/pool/1_Pooling/config.json" pooling_mode "$form"
  "$QF_CLI" run "$work/pool" --data "$work/bert-mean.jsonl" --output embedding --threads 1 > "$work/pool.jsonl"
  compare "$work/pool.jsonl" "$work/bert-mean.got.jsonl" 0 "pooling_mode $form"
done
copy_folder "$bert" "$work/pool"
set_json "$work/pool/1_Pooling/config.json" pooling_mode_mean_tokens true
"$QF_CLI" run "$work/pool" --data "$work/bert-mean.jsonl" --output embedding --threads 1 > "$work/pool.jsonl"
compare "$work/pool.jsonl" "$work/bert-mean.got.jsonl" 0 "pooling_mode mean with pooling_mode_mean_tokens true"
# do_lower_case: sentence-transformers 6 puts a Lowercase normalizer in front of the tokenizer's
# (roberta's byte-level BPE is case-sensitive): the folder's embeddings are those of the texts
# lower-cased character by character (Rust's char::to_lowercase, which has no final-sigma rule:
# Python's per-character lower() is the same mapping), with the tokenizer as it was
copy_folder "$roberta" "$work/lower"
set_json "$work/lower/sentence_bert_config.json" do_lower_case true
/usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)["text"]
    print(json.dumps({"text": "".join(c.lower() for c in t)}))' "$work/roberta-cls.jsonl" > "$work/lowered.jsonl"
"$QF_CLI" run "$work/lower" --data "$work/roberta-cls.jsonl" --output embedding --threads 1 > "$work/lower.out.jsonl"
"$QF_CLI" run "$roberta" --data "$work/lowered.jsonl" --output embedding --threads 1 > "$work/lowered.out.jsonl"
compare "$work/lower.out.jsonl" "$work/lowered.out.jsonl" 0 "do_lower_case true vs the texts lower-cased"
if cmp -s "$work/lower.out.jsonl" "$work/roberta-cls.got.jsonl"; then fail "do_lower_case true changed nothing"; fi
# a .qf of that folder keeps pipeline.do_lower_case: a tokenizer.json named alone does not lower-case
"$QF_CLI" convert "$work/lower" -o "$work/lower.qf" -q
if "$QF_CLI" run "$work/lower.qf" --tokenizer "$work/lower/tokenizer.json" --data "$work/plain.jsonl" \
    --output embedding > "$work/r.out" 2> "$work/r.err"; then
  fail "do_lower_case with a tokenizer that does not lower-case: accepted"
elif [ -s "$work/r.out" ] || ! grep -q "lower-cases every text" "$work/r.err"; then
  fail "do_lower_case with tokenizer.json alone: wrong refusal"; cat "$work/r.err"
else
  echo "do_lower_case with tokenizer.json alone: refused ($(head -c 160 "$work/r.err"))"
fi
"$QF_CLI" run "$work/lower.qf" --tokenizer "$work/lower" --data "$work/roberta-cls.jsonl" --output embedding \
  --threads 1 > "$work/lowerqf.out.jsonl"
compare "$work/lowerqf.out.jsonl" "$work/lower.out.jsonl" 0 "do_lower_case .qf with the folder's tokenizer"
copy_folder "$bert" "$work/badlen"
set_json "$work/badlen/sentence_bert_config.json" max_seq_length '"64"'
refused "$work/badlen" "max_seq_length that is not a positive integer" "max_seq_length \"64\""
set_json "$work/badlen/sentence_bert_config.json" max_seq_length -1
refused "$work/badlen" "max_seq_length that is not a positive integer" "max_seq_length -1"

# Dense modules (fixtures/sbert6/dense over distilbert-max: 32 -> 24 Tanh (safetensors) -> 16 GELU
# without bias (pytorch_model.bin) -> 16 Identity + residual -> 12 ReLU + residual projection ->
# Normalize): FP32 equals the torch modules' output on encode's pooled vectors, dynamic int8 keeps
# cosine; a .qf carries the modules (run with the folder gone); --pooling gives the plain pooling
copy_folder "$QF_SOURCE_DIR/fixtures/sbert6/distilbert-max" "$work/dense"
cp -r "$QF_SOURCE_DIR"/fixtures/sbert6/dense/* "$work/dense/"
check_folder "$work/dense" "$work/dense/reference.json" "dense"
"$QF_CLI" convert "$work/dense" -o "$work/dense-alone.qf" -q
copy_folder "$work/dense" "$work/dense-tok"
rm -rf "$work/dense-tok"/[2-9]_* "$work/dense-tok/modules.json" "$work/dense-tok/model.safetensors"
"$QF_CLI" run "$work/dense-alone.qf" --tokenizer "$work/dense-tok" --data "$work/dense.jsonl" --output embedding \
  --threads 1 > "$work/dense-alone.jsonl"
compare "$work/dense-alone.jsonl" "$work/dense.got.jsonl" 0 "dense: the .qf alone"
"$QF_CLI" run "$work/dense" --pooling max --data "$work/dense.jsonl" --output embedding --threads 1 > "$work/dense-max.jsonl"
compare "$work/dense-max.jsonl" "$QF_SOURCE_DIR/fixtures/sbert6/distilbert-max/reference.json" 1e-4 \
  "dense with --pooling max: the plain pooling"
"$QF_CLI" verify "$work/dense.int8.qf" --reference "$work/dense" --data "$work/dense.jsonl" --min-cosine 0.995 \
  --no-layers --json "$work/dense-verify.json" -q || fail "dense: verify of the dynamic int8 .qf"
/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("dense verify: %s dimensions, mean cosine %.6f" % (d["dimensions"], d["cosine"]["mean"]))
sys.exit(0 if d["dimensions"] == 12 else 1)' "$work/dense-verify.json" || fail "dense: verify measured another size"
# hostile Dense configs: refused naming the part
dense_case() { # MODULE KEY VALUE_JSON EXPECTED
  copy_folder "$work/dense" "$work/dcase"
  set_json "$work/dcase/$1/config.json" "$2" "$3"
  refused "$work/dcase" "$4" "Dense $1 $2=$3"
}
dense_case 2_Dense activation_function '"my.module.Swish"' "activation_function is not torch's"
dense_case 2_Dense activation_function null "activation_function is not torch's"
dense_case 3_Dense module_input_name '"token_embeddings"' "another input than sentence_embedding"
dense_case 2_Dense in_features 0 "in_features, out_features, bias or use_residual"
dense_case 4_Dense use_residual '"yes"' "in_features, out_features, bias or use_residual"
dense_case 2_Dense out_features 25 "does not have the shape its config.json gives"
copy_folder "$work/dense" "$work/dcase"
rm "$work/dcase/3_Dense/pytorch_model.bin"
refused "$work/dcase" "neither model.safetensors nor pytorch_model.bin" "Dense without weights"
copy_folder "$work/dense" "$work/dcase"
ln -sf "$work/dense/2_Dense/model.safetensors" "$work/dcase/4_Dense/model.safetensors"
refused "$work/dcase" "resolves outside the model folder" "Dense weights linked out of the folder"

# the Dense modules in the exported graph: ONNX Runtime's sentence_embedding vs qforge run
if [ -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ]; then
  "$QF_CLI" convert "$work/dense" -o "$work/dense.qf" --onnx-out "$work/dense.onnx" -q
  node "$QF_SOURCE_DIR/tests/ort_run.mjs" "$work/dense.onnx" "$work/dense.jsonl" --tokenizer "$work/dense/tokenizer.json" \
    --max-length 64 --all-outputs > "$work/dense.ort.jsonl"
  /usr/bin/python3 - "$work/dense.ort.jsonl" "$work/dense.got.jsonl" <<'PY' || fail "dense: ONNX Runtime differs from qforge"
import json, sys
ort = [json.loads(l)["outputs"]["sentence_embedding"] for l in open(sys.argv[1])]
got = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
assert all(o["dims"] == [1, 12] for o in ort), [o["dims"] for o in ort][:3]
d = max(abs(a - b) for o, g in zip(ort, got) for a, b in zip(o["data"], g))
print(f"dense: ONNX Runtime vs qforge run: {len(got)} rows, max |d| {d:.3g}")
sys.exit(0 if len(ort) == len(got) and d <= 1e-5 else 1)
PY
fi

# the ONNX export of a v6 folder computes the pipeline: output sentence_embedding
"$QF_CLI" convert "$roberta" -o "$work/roberta.qf" --onnx-out "$work/roberta.onnx" -q
if /usr/bin/python3 -c "import onnx" 2>/dev/null; then
  /usr/bin/python3 -c "
import onnx, sys
m = onnx.load(sys.argv[1])
names = [o.name for o in m.graph.output]
print('roberta-cls ONNX outputs:', names)
sys.exit(0 if 'sentence_embedding' in names else 1)" "$work/roberta.onnx" || fail "the ONNX export has no sentence_embedding"
else
  grep -aq "sentence_embedding" "$work/roberta.onnx" || fail "the ONNX export has no sentence_embedding"
fi

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "all sentence-transformers 6 checks passed"
