#!/usr/bin/env bash
# tests/test_job_fixtures.sh — issue 19's acceptance gates on the trained job fixtures
# (fixtures/jobs/README.md; the measured figures are in fixtures/jobs/FIGURES.md):
#   - each model quantized dynamic int8, and static int8 calibrated on its first 256 training rows
#     (the job's own row form: word rows, QA rows, text pairs, query/text rows);
#   - `qforge verify` of both artifacts on the first rows of the eval data, gated: NER entity F1
#     and QA SQuAD F1 drop <= 0.5 pt (QA windows as trained: --max-seq-len 192 --doc-stride 64);
#     the embedding's mean cosine to FP32 >= 0.995 and top-1 retrieval agreement >= 98% on the
#     eval texts, STS Spearman drop <= 0.5 pt; the cross-encoder's score Spearman to FP32 >= 0.999
#     and MRR@10 drop <= 0.5 pt;
#   - qforge's FP32 against the Python libraries' own outputs (predictions.json): the NER word
#     labels (first sub-token) of transformers equal on all 200 rows (verify on rows labelled with
#     transformers' predictions: FP32 word accuracy 100%), SentenceTransformer.encode's embeddings
#     within 1e-5 (mean pooling, normalized, max_seq_length 128), CrossEncoder.predict's scores within
#     1e-5 (the folder's tokenizer feeds no token_type_ids: qf_tokenizer_feeds_token_types).
# The embedding folder is sentence-transformers 6's layout, whose Pooling config qforge does not read
# yet: --pooling mean --normalize say what it holds.
set -euo pipefail
jobs="$QF_SOURCE_DIR/fixtures/jobs"
work="$QF_BINARY_DIR/test_job_fixtures.d"
rm -rf "$work"; mkdir -p "$work"
q() { "$QF_CLI" "$@"; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
threads=(--threads 2)

for model in ner qa embed rerank; do
  head -n 256 "$jobs/data/$model.train.jsonl" > "$work/$model.calib.jsonl"
  q quantize "$jobs/$model/model.safetensors" --mode dynamic -o "$work/$model.dynamic.qf" -q
  q calibrate "$jobs/$model/model.safetensors" --data "$work/$model.calib.jsonl" -o "$work/$model.qfc" "${threads[@]}" -q
  q quantize "$jobs/$model/model.safetensors" --mode static --stats "$work/$model.qfc" -o "$work/$model.static.qf" -q
done

# verify MODEL MODE ROWS [options...]: runs the gate, keeps the JSON report
verify() {
  local model=$1 mode=$2 rows=$3; shift 3
  if ! q verify "$work/$model.$mode.qf" --reference "$jobs/$model/model.safetensors" --data "$rows" \
      --json "$work/$model.$mode.$(basename "$rows" .jsonl).json" "${threads[@]}" -q "$@"; then
    fail "verify $model $mode int8 on $(basename "$rows") missed its gate ($*)"
  fi
}
# eval texts alone: rows {"text"} (a {"text", "text_pair"} row is one pair input)
/usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]): print(json.dumps({"text": json.loads(line)["text"]}))' \
  "$jobs/data/embed.eval.jsonl" > "$work/embed_texts.jsonl"
for mode in dynamic static; do
  verify ner "$mode" "$jobs/data/ner.eval.jsonl" --limit 400 --max-drop 0.5
  verify qa "$mode" "$jobs/data/qa.eval.jsonl" --limit 300 --max-drop 0.5 --max-seq-len 192 --doc-stride 64
  verify embed "$mode" "$work/embed_texts.jsonl" --min-cosine 0.995 --pooling mean --normalize --no-layers
  verify embed "$mode" "$jobs/data/sts.eval.jsonl" --max-drop 0.5 --pooling mean --normalize --no-layers
  verify rerank "$mode" "$jobs/data/rerank.eval.jsonl" --limit 400 --max-drop 0.5 --min-spearman 0.999 --no-layers
  /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["retrieval"]
sys.exit(0 if r["top1_agreement"] >= 0.98 else "top-1 retrieval agreement %.4f < 0.98" % r["top1_agreement"])' \
    "$work/embed.$mode.embed_texts.json" || fail "embed $mode int8: top-1 retrieval agreement"
done

# FP32 against transformers' word labels: rows labelled with its predictions, FP32 must agree on each
/usr/bin/python3 -c 'import json, sys
for row in json.load(open(sys.argv[1]))["rows"]:
    print(json.dumps({"tokens": row["tokens"], "labels": row["predicted"]}))' \
  "$jobs/ner/predictions.json" > "$work/ner_predicted.jsonl"
q convert "$jobs/ner/model.safetensors" -o "$work/ner.fp32.qf" -q
q verify "$work/ner.fp32.qf" --reference "$jobs/ner/model.safetensors" --data "$work/ner_predicted.jsonl" \
  --json "$work/ner_predicted.json" --no-layers "${threads[@]}" -q
/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
acc = d["metrics"]["token_accuracy"]["reference"]
print("ner: qforge FP32 vs transformers: %d words, %d differ" % (d["words"], round((1 - acc) * d["words"])))
sys.exit(0 if acc == 1.0 and d["words_cut"] == 0 else "word labels differ")' "$work/ner_predicted.json" \
  || fail "ner: qforge FP32 word labels differ from transformers' (predictions.json)"

# FP32 against SentenceTransformer.encode
/usr/bin/python3 -c 'import json, sys
for text in json.load(open(sys.argv[1]))["texts"]: print(json.dumps({"text": text}))' \
  "$jobs/embed/predictions.json" > "$work/embed_predicted.jsonl"
q run "$jobs/embed/model.safetensors" --data "$work/embed_predicted.jsonl" --output embedding --pooling mean \
  --normalize --max-length 128 "${threads[@]}" > "$work/embed_predicted.out.jsonl"
/usr/bin/python3 -c 'import json, sys
want = json.load(open(sys.argv[1]))["embeddings"]
got = [json.loads(line)["embedding"] for line in open(sys.argv[2])]
assert len(got) == len(want), (len(got), len(want))
worst = max(abs(a - b) for u, v in zip(got, want) for a, b in zip(u, v))
print("embed: qforge FP32 vs SentenceTransformer.encode: %d texts, max |diff| %.3g" % (len(got), worst))
sys.exit(0 if worst <= 1e-5 else "embeddings differ")' "$jobs/embed/predictions.json" "$work/embed_predicted.out.jsonl" \
  || fail "embed: qforge FP32 embeddings differ from SentenceTransformer.encode (predictions.json)"

# FP32 against CrossEncoder.predict: the folder's tokenizer (TokenizersBackend, no model_input_names)
# feeds the model no token_type_ids, so neither may qforge
/usr/bin/python3 -c 'import json, sys
for row in json.load(open(sys.argv[1]))["rows"]: print(json.dumps({"text": row["query"], "text_pair": row["text"]}))' \
  "$jobs/rerank/predictions.json" > "$work/rerank_predicted.jsonl"
q run "$jobs/rerank/model.safetensors" --data "$work/rerank_predicted.jsonl" --max-length 160 "${threads[@]}" \
  > "$work/rerank_predicted.out.jsonl"
/usr/bin/python3 -c 'import json, sys
want = [row["score"] for row in json.load(open(sys.argv[1]))["rows"]]
got = [json.loads(line)["score"] for line in open(sys.argv[2])]
assert len(got) == len(want), (len(got), len(want))
worst = max(abs(a - b) for a, b in zip(got, want))
print("rerank: qforge FP32 vs CrossEncoder.predict: %d pairs, max |diff| %.3g" % (len(got), worst))
sys.exit(0 if worst <= 1e-5 else "scores differ")' "$jobs/rerank/predictions.json" "$work/rerank_predicted.out.jsonl" \
  || fail "rerank: qforge FP32 scores differ from CrossEncoder.predict (predictions.json)"

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "ok"
