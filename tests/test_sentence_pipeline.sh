#!/usr/bin/env bash
# tests/test_sentence_pipeline.sh — sentence-transformers folders: modules.json + 1_Pooling/config.json
# (+ 2_Normalize) beside a checkpoint make `qforge run --output embedding` print what
# SentenceTransformer.encode computes. The folders are the family fixtures (fixtures/families/{bert,
# roberta}) with the sentence-transformers files added here; the expected embeddings are computed from
# the last hidden state transformers recorded in their reference.json (texts 0 and 1), pooled and
# normalized as sentence_transformers.models.Pooling / Normalize do, in float64:
#   - every pooling mode, with and without Normalize: max |d| <= 1e-5;
#   - convert --onnx-out writes the pipeline into the graph (output sentence_embedding, pooling and
#     normalization as ONNX ops; onnx.checker full_check passes): ONNX Runtime's values match to
#     1e-5 (lasttoken: refused, nothing written);
#   - the .qf converted (and dynamic-quantized) from the folder records the pipeline: the FP32 .qf
#     alone gives the same embeddings, the int8 one a cosine >= 0.99 to them;
#   - --pooling / --normalize override the pipeline; a plain checkpoint keeps the mean;
#   - refused, naming the part: a Dense module after Normalize, two pooling modes at once, a default
#     prompt naming none of the prompts (prompts themselves: test_sentence_prompts.sh); a
#     module path leaving the folder, or a modules.json or config_sentence_transformers.json linked
#     out of it, is FORBIDDEN; a FIFO (either file) is
#     refused by type without waiting; a modules.json that is not an array is FORMAT.
set -euo pipefail
work="$QF_BINARY_DIR/test_sentence_pipeline.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# make_folder FAMILY DIR POOLING NORMALIZE(0|1) [extra modules.json entry]
make_folder() {
  local fam=$1 dir=$2 mode=$3 norm=$4 extra=${5:-}
  local src="$QF_SOURCE_DIR/fixtures/families/$fam"
  mkdir -p "$dir/1_Pooling"
  cp "$src"/config.json "$src"/tokenizer* "$src"/special_tokens_map.json "$dir/"
  cp "$src"/pytorch_model.bin "$dir/" 2>/dev/null || cp "$src"/model.safetensors "$dir/"
  /usr/bin/python3 - "$dir" "$mode" "$norm" "$extra" <<'PY'
import json, sys
d, mode, norm, extra = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
modes = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"]
cfg = {"word_embedding_dimension": 0, "include_prompt": True}
cfg.update({"pooling_mode_" + m: m.startswith(mode) or (mode == "mean" and m == "mean_tokens") for m in modes})
if mode == "mean":
    cfg["pooling_mode_mean_sqrt_len_tokens"] = False
json.dump(cfg, open(d + "/1_Pooling/config.json", "w"), indent=2)
mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
if norm:
    mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
if extra:
    mods.append(json.loads(extra))
json.dump(mods, open(d + "/modules.json", "w"), indent=2)
PY
}

# expected FAMILY MODE NORM OUT: embeddings of texts 0 and 1 and their input_ids as rows
expected() {
  /usr/bin/python3 - "$QF_SOURCE_DIR/fixtures/families/$1/reference.json" "$2" "$3" "$4" "$work/rows-$1.jsonl" <<'PY'
import json, math, sys
ref = json.load(open(sys.argv[1])); mode, norm = sys.argv[2], sys.argv[3] == "1"
out = []
with open(sys.argv[5], "w") as rows:
    for lh in ref["last_hidden_state"]:
        h = lh["values"]; n = len(h); H = len(h[0])
        rows.write(json.dumps({"input_ids": ref["unpadded"][lh["text_index"]]["input_ids"]}) + "\n")
        if mode == "cls": e = list(h[0])
        elif mode == "lasttoken": e = list(h[-1])
        elif mode == "max": e = [max(t[j] for t in h) for j in range(H)]
        elif mode == "mean": e = [sum(t[j] for t in h) / n for j in range(H)]
        elif mode == "mean_sqrt_len_tokens": e = [sum(t[j] for t in h) / math.sqrt(n) for j in range(H)]
        elif mode == "weightedmean": e = [sum((i + 1) * t[j] for i, t in enumerate(h)) / (n * (n + 1) / 2) for j in range(H)]
        if norm:
            s = max(math.sqrt(sum(v * v for v in e)), 1e-12); e = [v / s for v in e]
        out.append(e)
json.dump(out, open(sys.argv[4], "w"))
PY
}

# compare GOT.jsonl WANT.json TOL LABEL
compare() {
  /usr/bin/python3 - "$1" "$2" "$3" "$4" <<'PY' || failures=$((failures + 1))
import json, sys
got = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
want = json.load(open(sys.argv[2])); tol = float(sys.argv[3])
d = max(abs(a - b) for g, w in zip(got, want) for a, b in zip(g, w))
ok = len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want)) and d <= tol
print(f"{sys.argv[4]}: max |d| = {d:.3g}" + ("" if ok else f"  FAIL (tol {tol})"))
sys.exit(0 if ok else 1)
PY
}

ort=0; [ -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ] && ort=1
[ "$ort" = 1 ] || echo "note: npm onnxruntime-node not installed: the exported graphs are not run"
for fam in bert roberta; do
  expected "$fam" mean 0 /dev/null # writes rows-$fam.jsonl
  /usr/bin/python3 - "$work/rows-$fam.jsonl" "$QF_SOURCE_DIR/fixtures/families/$fam/config.json" "$work/batch-$fam.json" <<'PY'
import json, sys
rows = [json.loads(l)["input_ids"] for l in open(sys.argv[1])]
pad = json.load(open(sys.argv[2])).get("pad_token_id") or 0
T = max(map(len, rows))
json.dump({"input_ids": [r + [pad] * (T - len(r)) for r in rows],
           "attention_mask": [[1] * len(r) + [0] * (T - len(r)) for r in rows]}, open(sys.argv[3], "w"))
PY
  w=pytorch_model.bin; [ -f "$QF_SOURCE_DIR/fixtures/families/$fam/$w" ] || w=model.safetensors
  for mode in mean cls max mean_sqrt_len_tokens weightedmean lasttoken; do
    for norm in 0 1; do
      d="$work/$fam-$mode-$norm"
      make_folder "$fam" "$d" "$mode" "$norm"
      expected "$fam" "$mode" "$norm" "$d.want.json"
      "$QF_CLI" run "$d/$w" --data "$work/rows-$fam.jsonl" --output embedding --threads 1 > "$d.got.jsonl"
      compare "$d.got.jsonl" "$d.want.json" 1e-5 "$fam $mode normalize=$norm"
      # the exported graph computes it too (output sentence_embedding), in ONNX Runtime
      if [ "$ort" = 1 ] && [ "$mode" != lasttoken ]; then
        "$QF_CLI" convert "$d/$w" -o "$d.qf" --onnx-out "$d.onnx" -q
        /usr/bin/python3 -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" "$d.onnx" ||
          { echo "FAIL: $d.onnx: onnx.checker"; failures=$((failures + 1)); }
        node "$QF_SOURCE_DIR/tests/ort_batch.mjs" "$d.onnx" "$work/batch-$fam.json" > "$d.ort.json"
        /usr/bin/python3 - "$d.ort.json" "$d.want.json" "$fam $mode normalize=$norm" <<'PY' || failures=$((failures + 1))
import json, sys
out = json.load(open(sys.argv[1]))["outputs"]["sentence_embedding"]; want = json.load(open(sys.argv[2]))
H = out["dims"][1]
d = max(abs(out["data"][b * H + j] - want[b][j]) for b in range(len(want)) for j in range(H))
ok = out["dims"] == [len(want), len(want[0])] and d <= 1e-5
print(f"{sys.argv[3]} ONNX sentence_embedding in ONNX Runtime: max |d| = {d:.3g}" + ("" if ok else "  FAIL"))
sys.exit(0 if ok else 1)
PY
      fi
    done
  done
  if [ "$ort" = 1 ]; then
    # lasttoken is not computed by the export: refused, nothing written
    if "$QF_CLI" convert "$work/$fam-lasttoken-1/$w" -o "$work/lt.qf" --onnx-out "$work/lt.onnx" -q 2> "$work/lt.err" ||
       ! grep -q "lasttoken" "$work/lt.err" || [ -e "$work/lt.onnx" ]; then
      echo "FAIL: $fam: the export of a lasttoken pipeline was not refused"; cat "$work/lt.err"; failures=$((failures + 1))
    fi
  fi
  # the artifact alone carries the pipeline (cls + normalize here)
  d="$work/$fam-cls-1"
  "$QF_CLI" convert "$d/$w" -o "$work/$fam-st.qf" -q
  "$QF_CLI" run "$work/$fam-st.qf" --data "$work/rows-$fam.jsonl" --output embedding --threads 1 > "$work/$fam-st.got.jsonl"
  compare "$work/$fam-st.got.jsonl" "$d.want.json" 1e-5 "$fam FP32 .qf from the folder (cls, normalize)"
  "$QF_CLI" quantize "$d/$w" --mode dynamic -o "$work/$fam-st.int8.qf" -q
  "$QF_CLI" run "$work/$fam-st.int8.qf" --data "$work/rows-$fam.jsonl" --output embedding --threads 1 > "$work/$fam-st.int8.jsonl"
  /usr/bin/python3 - "$work/$fam-st.int8.jsonl" "$d.want.json" "$fam" <<'PY' || failures=$((failures + 1))
import json, math, sys
got = [json.loads(l)["embedding"] for l in open(sys.argv[1])]; want = json.load(open(sys.argv[2]))
cos = min(sum(a * b for a, b in zip(g, w)) / math.sqrt(sum(a * a for a in g) * sum(b * b for b in w)) for g, w in zip(got, want))
norms = [math.sqrt(sum(a * a for a in g)) for g in got]
print(f"{sys.argv[3]} dynamic int8 .qf: min cosine to FP32 {cos:.5f}, norms {', '.join(f'{n:.6f}' for n in norms)}")
sys.exit(0 if cos >= 0.99 and all(abs(n - 1) < 1e-5 for n in norms) else 1)
PY
  # flags override the pipeline: --pooling mean on the cls folder is the plain mean
  expected "$fam" mean 0 "$work/$fam-override.want.json"
  "$QF_CLI" run "$d/$w" --data "$work/rows-$fam.jsonl" --output embedding --pooling mean --threads 1 > "$work/$fam-override.jsonl"
  compare "$work/$fam-override.jsonl" "$work/$fam-override.want.json" 1e-5 "$fam --pooling mean overrides the folder's cls + normalize"
  # a plain checkpoint: the mean, and --normalize on it
  "$QF_CLI" run "$QF_SOURCE_DIR/fixtures/families/$fam/$w" --data "$work/rows-$fam.jsonl" --output embedding --threads 1 > "$work/$fam-plain.jsonl"
  compare "$work/$fam-plain.jsonl" "$work/$fam-override.want.json" 1e-5 "$fam plain checkpoint: mean"
  expected "$fam" mean 1 "$work/$fam-plainnorm.want.json"
  "$QF_CLI" run "$QF_SOURCE_DIR/fixtures/families/$fam/$w" --data "$work/rows-$fam.jsonl" --output embedding --normalize --threads 1 > "$work/$fam-plainnorm.jsonl"
  compare "$work/$fam-plainnorm.jsonl" "$work/$fam-plainnorm.want.json" 1e-5 "$fam plain checkpoint: --normalize"
done

# refused, naming what qforge does not compute
refused() { # DIR EXPECTED_TEXT LABEL
  if timeout 60 "$QF_CLI" run "$1/pytorch_model.bin" --data "$work/rows-bert.jsonl" --output embedding > "$work/r.out" 2> "$work/r.err"; then
    fail "$3: accepted"
  elif [ -s "$work/r.out" ] || ! grep -q "$2" "$work/r.err"; then
    fail "$3: the error does not say '$2' (or rows were printed):"; cat "$work/r.err"
  else
    echo "$3: refused ($(head -c 160 "$work/r.err"))"
  fi
}
make_folder bert "$work/dense" mean 1 '{"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}'
refused "$work/dense" "a Dense module before the Pooling or after Normalize" "a Dense module after Normalize"
make_folder bert "$work/two" mean 0
/usr/bin/python3 -c "import json,sys; p=sys.argv[1]+'/1_Pooling/config.json'; c=json.load(open(p)); c['pooling_mode_cls_token']=True; json.dump(c,open(p,'w'))" "$work/two"
refused "$work/two" "several pooling modes" "two pooling modes"
make_folder bert "$work/prompt" mean 1
echo '{"prompts": {"query": "query: "}, "default_prompt_name": "passage"}' > "$work/prompt/config_sentence_transformers.json"
refused "$work/prompt" "names none of the prompts" "a default prompt that is none of the prompts"
make_folder bert "$work/escape" mean 0
/usr/bin/python3 -c "import json,sys; p=sys.argv[1]+'/modules.json'; m=json.load(open(p)); m[1]['path']='../../etc'; json.dump(m,open(p,'w'))" "$work/escape"
refused "$work/escape" "leaves the model folder" "a module path leaving the folder"
# modules.json as a FIFO: refused by type at once, never waited on; as a link out of the folder: FORBIDDEN
make_folder bert "$work/fifo" mean 0
rm "$work/fifo/modules.json"; mkfifo "$work/fifo/modules.json"
refused "$work/fifo" "regular file" "modules.json a FIFO"
make_folder bert "$work/linkout" mean 0
cp "$work/linkout/modules.json" "$work/outside-modules.json"; rm "$work/linkout/modules.json"
ln -s "$work/outside-modules.json" "$work/linkout/modules.json"
refused "$work/linkout" "outside the model folder" "modules.json linked out of the folder"
# config_sentence_transformers.json (prompts, model_type, activation_fn): the same rules
make_folder bert "$work/stfifo" mean 0
mkfifo "$work/stfifo/config_sentence_transformers.json"
refused "$work/stfifo" "regular file" "config_sentence_transformers.json a FIFO"
make_folder bert "$work/stout" mean 0
echo '{"prompts": {"q": "query: "}, "default_prompt_name": "q"}' > "$work/outside-st.json"
ln -s "$work/outside-st.json" "$work/stout/config_sentence_transformers.json"
refused "$work/stout" "outside the model folder" "config_sentence_transformers.json linked out of the folder"
# a module type that is not a plain name (control bytes, cut UTF-8) is never copied into the metadata:
# the .qf converted from the folder stays readable and the refusal says "unrecognised type"
make_folder bert "$work/oddtype" mean 0 "{\"idx\": 3, \"name\": \"3\", \"path\": \"\", \"type\": \"x.A$(printf '\\u00e9%.0s' $(seq 40))\\u001b[31m\"}"
"$QF_CLI" convert "$work/oddtype/pytorch_model.bin" -o "$work/oddtype.qf" -q
"$QF_CLI" inspect "$work/oddtype.qf" > /dev/null || fail "the .qf of a folder with an odd module type is unreadable"
refused "$work/oddtype" "unrecognised type" "a module type that is not a plain name"
make_folder bert "$work/notarray" mean 0
echo '{"0": "Transformer"}' > "$work/notarray/modules.json"
refused "$work/notarray" "not a JSON array" "modules.json not an array"
# usage errors
if "$QF_CLI" run "$work/bert-mean-0/pytorch_model.bin" --data "$work/rows-bert.jsonl" --pooling median 2> "$work/r.err"; then fail "--pooling median accepted"; fi
if "$QF_CLI" run "$work/bert-mean-0/pytorch_model.bin" --data "$work/rows-bert.jsonl" --normalize 2> "$work/r.err"; then fail "--normalize with --output logits accepted"; fi

echo "$failures failure(s)"
[ "$failures" = 0 ]
