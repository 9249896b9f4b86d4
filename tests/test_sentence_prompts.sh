#!/usr/bin/env bash
# tests/test_sentence_prompts.sh — sentence-transformers prompts (config_sentence_transformers.json
# "prompts" / "default_prompt_name", the Pooling config's include_prompt), over the committed
# sentence-transformers 6 folders fixtures/sbert6/bert-mean (mean + Normalize) and roberta-cls:
#   - the default prompt is prepended to every text: the embedding equals the folder without prompts
#     run on "query: " + text (max |d| 0); --prompt-name picks another; --prompt "" and a null prompt
#     are no prompt; an unknown name is refused listing the names; a .qf converted from the folder
#     keeps the prompts; verify prints and records the prompt; calibrate prepends the default one;
#   - folders saved by sentence-transformers 6 itself (fixtures/sbert6/prompts: include_prompt false
#     mean and cls, and a CrossEncoder with prompts): encode() / predict() by default, with a
#     prompt_name and with a prompt, max |d| <= 1e-5;
#   - include_prompt false (mean and cls): the prompt's tokens are attended to but left out of the
#     pooling. Checked against an independent computation of sentence-transformers 6's rule from
#     the encoder's hidden states (qforge.native; the prompt's length measured alone minus a
#     trailing special token, special ids read from tokenizer.json), max |d| <= 1e-5;
#   - the exported graph of an include_prompt false pipeline takes an int64 scalar prompt_length:
#     ONNX Runtime fed the count verify --json reports equals qforge run (<= 1e-5), fed 0 the folder
#     without prompts;
#   - a sentence-transformers 6 CrossEncoder folder (fixtures/jobs/rerank laid out as one) is the
#     rerank job, scored by its head; its default prompt goes before each query (max |d| 0 to the
#     plain checkpoint on the prefixed queries), its max_seq_length truncates the pairs, the .qf
#     keeps it all, a module after its Transformer is refused; verify prints and records its prompt
#     (the rerank job), and a CrossEncoder with several labels (the classification job) takes its
#     prompt too: verify equals verify of the rows written with the prompt in front;
#   - refused, naming the part: input_ids rows with a prompt, a row with no token after the prompt,
#     and hostile configs
#     (prompts not an object, a NUL byte, too long, too many, a default naming none of them,
#     include_prompt not a boolean, invalid UTF-8); each prompt limit holds at the limit, is refused
#     one past it.
set -euo pipefail
work="$QF_BINARY_DIR/test_sentence_prompts.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
fixtures="$QF_SOURCE_DIR/fixtures/sbert6"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
q() { "$QF_CLI" "$@"; }

# rows REFERENCE.json PREFIX: the reference texts as {"text": PREFIX + text} rows
rows() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["texts"]:
    print(json.dumps({"text": sys.argv[2] + t}))
PY
}

# same A.jsonl B.jsonl TOL LABEL: max |d| between two runs' embeddings
same() {
  /usr/bin/python3 - "$1" "$2" "$3" "$4" <<'PY' || failures=$((failures + 1))
import json, sys
a = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
b = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
ok = len(a) == len(b) > 0 and all(len(x) == len(y) for x, y in zip(a, b))
d = max(abs(u - v) for x, y in zip(a, b) for u, v in zip(x, y)) if ok else float("inf")
print(f"{sys.argv[4]}: {len(a)} rows, max |d| {d:.3g}")
sys.exit(0 if ok and d <= float(sys.argv[3]) else 1)
PY
}

# refused EXPECTED_RC PATTERN LABEL CMD...: CMD exits EXPECTED_RC and says PATTERN on stderr
refused() {
  local want=$1 pattern=$2 label=$3; shift 3
  local rc=0
  "$@" > "$work/out.txt" 2> "$work/err.txt" || rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -q -- "$pattern" "$work/err.txt"; then
    fail "$label: rc $rc (want $want), stderr: $(head -c 400 "$work/err.txt")"
  else
    echo "refused ($label): $(head -c 200 "$work/err.txt")"
  fi
}

# with_prompts DIR INCLUDE_PROMPT: DIR's config_sentence_transformers.json and Pooling include_prompt
with_prompts() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
d, include = sys.argv[1], sys.argv[2] == "true"
st = json.load(open(f"{d}/config_sentence_transformers.json"))
st["prompts"] = {"query": "query: ", "passage": "passage: ", "none": None}
st["default_prompt_name"] = "query"
json.dump(st, open(f"{d}/config_sentence_transformers.json", "w"))
pool = json.load(open(f"{d}/1_Pooling/config.json"))
pool["include_prompt"] = include
json.dump(pool, open(f"{d}/1_Pooling/config.json", "w"))
PY
}

base="$fixtures/bert-mean"
ref="$base/reference.json"
rows "$ref" "" > "$work/plain.jsonl"
rows "$ref" "query: " > "$work/query.jsonl"
rows "$ref" "passage: " > "$work/passage.jsonl"
q run "$base" --data "$work/plain.jsonl" --output embedding > "$work/base.plain.jsonl"
q run "$base" --data "$work/query.jsonl" --output embedding > "$work/base.query.jsonl"
q run "$base" --data "$work/passage.jsonl" --output embedding > "$work/base.passage.jsonl"

# --- include_prompt true: the prompt is text -------------------------------------------------------
cp -r "$base" "$work/p"
with_prompts "$work/p" true
q run "$work/p" --data "$work/plain.jsonl" --output embedding > "$work/p.default.jsonl"
same "$work/p.default.jsonl" "$work/base.query.jsonl" 0 "default prompt 'query: ' = the texts behind 'query: '"
q run "$work/p" --data "$work/plain.jsonl" --output embedding --prompt-name passage > "$work/p.passage.jsonl"
same "$work/p.passage.jsonl" "$work/base.passage.jsonl" 0 "--prompt-name passage"
q run "$work/p" --data "$work/plain.jsonl" --output embedding --prompt "" > "$work/p.empty.jsonl"
same "$work/p.empty.jsonl" "$work/base.plain.jsonl" 0 "--prompt \"\" (no prompt)"
q run "$work/p" --data "$work/plain.jsonl" --output embedding --prompt-name none > "$work/p.none.jsonl"
same "$work/p.none.jsonl" "$work/base.plain.jsonl" 0 "--prompt-name none (a null prompt)"
q run "$work/p" --data "$work/plain.jsonl" --output embedding --prompt "passage: " > "$work/p.text.jsonl"
same "$work/p.text.jsonl" "$work/base.passage.jsonl" 0 "--prompt 'passage: '"
refused 2 "none of its prompts (query, passage, none)" "--prompt-name unknown" \
  q run "$work/p" --data "$work/plain.jsonl" --output embedding --prompt-name nope
refused 2 "not both" "--prompt and --prompt-name" \
  q run "$work/p" --data "$work/plain.jsonl" --output embedding --prompt x --prompt-name query
q convert "$work/p" -o "$work/p.qf" > /dev/null
q run "$work/p.qf" --data "$work/plain.jsonl" --output embedding > "$work/p.qf.jsonl"
same "$work/p.qf.jsonl" "$work/base.query.jsonl" 0 "the .qf converted from the folder keeps the default prompt"
q verify "$work/p.qf" --reference "$work/p" --data "$work/plain.jsonl" --prompt-name passage --no-layers \
  --json "$work/verify.json" > "$work/verify.txt" || fail "verify --prompt-name passage"
grep -E "^(prompt|cosine) " "$work/verify.txt" || fail "verify prints the prompt and the cosine"
/usr/bin/python3 -c 'import json, sys; p = json.load(open(sys.argv[1]))["prompt"]; sys.exit(p != {"text": "passage: ", "tokens_excluded_from_pooling": 0})' \
  "$work/verify.json" || fail "verify --json records the prompt"

# calibration sees what the deployed model sees: the texts behind the default prompt
q calibrate "$work/p" --data "$work/plain.jsonl" -o "$work/p.qfc" > /dev/null
q calibrate "$base" --data "$work/query.jsonl" -o "$work/base.query.qfc" > /dev/null
cmp "$work/p.qfc" "$work/base.query.qfc" && echo "calibrate: the statistics equal those of the texts behind 'query: '" \
  || fail "calibrate with a default prompt"

# --- include_prompt false: the prompt's tokens are left out of the pooling --------------------------
cp -r "$base" "$work/x"
with_prompts "$work/x" false
cp -r "$fixtures/roberta-cls" "$work/xc"
with_prompts "$work/xc" false
rows "$fixtures/roberta-cls/reference.json" "" > "$work/plain.roberta.jsonl"
q run "$work/x" --data "$work/plain.jsonl" --output embedding > "$work/x.default.jsonl"
q run "$work/xc" --data "$work/plain.roberta.jsonl" --output embedding > "$work/xc.default.jsonl"
q run "$work/x" --data "$work/plain.jsonl" --output embedding --prompt "" > "$work/x.empty.jsonl"
q verify "$work/x" --reference "$work/x" --data "$work/plain.jsonl" --no-layers --json "$work/verify.x.json" > /dev/null \
  || fail "verify include_prompt false"
/usr/bin/python3 -c 'import json, sys; p = json.load(open(sys.argv[1]))["prompt"]; print("verify --json:", p); sys.exit(p["tokens_excluded_from_pooling"] < 1)' \
  "$work/verify.x.json" || fail "verify --json records the tokens left out"
same "$work/x.empty.jsonl" "$work/base.plain.jsonl" 0 "include_prompt false, --prompt \"\": nothing left out"
if grep -q 'QF_SANITIZE:BOOL=ON' "$QF_BINARY_DIR/CMakeCache.txt" 2>/dev/null; then
  echo "skipped part: the independent include_prompt false reference (an ASan libqforge.so cannot be loaded by /usr/bin/python3)"
else
  for case in "x plain mean" "xc plain.roberta cls"; do
    set -- $case
    /usr/bin/python3 - "$QF_BINARY_DIR/libqforge.so" "$QF_SOURCE_DIR/python" "$work/$1" "$work/$2.jsonl" \
      "$work/$1.default.jsonl" "$3" <<'PY' || failures=$((failures + 1))
import json, os, sys
import numpy as np
lib_path, pkg, folder, rows, got_path, mode = sys.argv[1:7]
os.environ["QFORGE_LIB"] = lib_path
sys.path.insert(0, pkg)
from qforge.native import Model, Tokenizer
tok = Tokenizer(folder)
limit = min(int(json.load(open(f"{folder}/tokenizer_config.json")).get("model_max_length", 512)), 512)
def encode(text):
    return tok.encode(text, max_length=limit)["input_ids"]
# sentence-transformers 6 (Transformer._get_prompt_length): the prompt tokenized alone, less its
# last token when that is one of the tokenizer's special ids
special = {t["id"] for t in json.load(open(f"{folder}/tokenizer.json"))["added_tokens"] if t["special"]}
prompt = json.load(open(f"{folder}/config_sentence_transformers.json"))["prompts"]["query"]
p_ids = encode(prompt)
prompt_length = len(p_ids) - (1 if p_ids[-1] in special else 0)
normalize = "Normalize" in open(f"{folder}/modules.json").read()
got = [json.loads(l)["embedding"] for l in open(got_path)]
texts = [json.loads(l)["text"] for l in open(rows)]
worst = 0.0
with Model(folder) as m:
    enc = m.encoder(threads=1)
    for text, g in zip(texts, got):
        ids = encode(prompt + text)
        h = enc.run([ids], hidden=True)["last_hidden"][0].astype(np.float64)
        kept = h[prompt_length:len(ids)]
        v = kept[0] if mode == "cls" else kept.mean(axis=0)  # the mask's argmax: the first kept token
        if normalize:
            v = v / max(np.linalg.norm(v), 1e-12)
        worst = max(worst, float(np.max(np.abs(v - np.array(g)))))
print(f"include_prompt false, {mode} pooling, prompt {prompt!r} = {prompt_length} tokens left out: "
      f"{len(got)} rows, max |d| to the independent computation {worst:.3g}")
sys.exit(0 if len(got) == len(texts) > 0 and worst <= 1e-5 else 1)
PY
  done
fi
# the prompt's tokens change nothing but the pooling: with the pooling over everything the same ids
# give the folder-without-prompts embedding of "query: " + text
q run "$work/x" --data "$work/plain.jsonl" --output embedding --pooling mean --normalize > "$work/x.plain-pooling.jsonl"
same "$work/x.plain-pooling.jsonl" "$work/base.plain.jsonl" 0 "include_prompt false with --pooling (no default prompt then)"
printf '{"input_ids": [101, 7592, 102]}\n' > "$work/ids.jsonl"
refused 1 "prepended to text rows only" "input_ids rows with a prompt" \
  q run "$work/x" --data "$work/ids.jsonl" --output embedding
/usr/bin/python3 - "$work/x/tokenizer.json" "$work/tokenizer-no-specials.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["post_processor"] = None
json.dump(t, open(sys.argv[2], "w"))
PY
printf '{"text": ""}\n' > "$work/empty.jsonl"
refused 1 "no token after the prompt" "a row that is only the prompt (no special tokens)" \
  q run "$work/x" --data "$work/empty.jsonl" --output embedding --tokenizer "$work/tokenizer-no-specials.json"
q convert "$work/p" -o "$work/p2.qf" --onnx-out "$work/p.onnx" > /dev/null || fail "ONNX export with include_prompt true"
# the exported graph of an include_prompt false pipeline takes prompt_length (int64 scalar): ONNX
# Runtime, fed the count verify reports, gives qforge's embeddings; fed 0, the pooling over everything
if [ -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ]; then
  for case in "x bert-mean" "xc roberta-cls"; do
    set -- $case
    q convert "$work/$1" -o "$work/$1.qf" --onnx-out "$work/$1.onnx" -q || fail "$1: ONNX export"
    rows "$fixtures/$2/reference.json" "query: " > "$work/$1.query-rows.jsonl"
    q verify "$work/$1" --reference "$work/$1" --data "$work/$1.query-rows.jsonl" --prompt "query: " --no-layers \
      --json "$work/$1.pl.json" > /dev/null || fail "$1: verify for the prompt length"
    pl=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["prompt"]["tokens_excluded_from_pooling"])' "$work/$1.pl.json")
    for feed in "$pl" 0; do
      node "$QF_SOURCE_DIR/tests/ort_run.mjs" "$work/$1.onnx" "$work/$1.query-rows.jsonl" --tokenizer "$work/$1/tokenizer.json" \
        --max-length 512 --all-outputs --scalar "prompt_length=$feed" > "$work/$1.ort.$feed.jsonl" || fail "$1: ONNX Runtime"
      /usr/bin/python3 - "$work/$1.ort.$feed.jsonl" "$work/$1.ort.$feed.emb.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        out.write(json.dumps({"embedding": json.loads(line)["outputs"]["sentence_embedding"]["data"]}) + "\n")
PY
    done
    want_plain="$work/base.query.jsonl"
    [ "$1" = xc ] && { q run "$fixtures/roberta-cls" --data "$work/$1.query-rows.jsonl" --output embedding > "$work/xc.plain.jsonl"; want_plain="$work/xc.plain.jsonl"; }
    same "$work/$1.ort.$pl.emb.jsonl" "$work/$1.default.jsonl" 1e-5 "$1: ONNX Runtime, prompt_length $pl, vs qforge run"
    same "$work/$1.ort.0.emb.jsonl" "$want_plain" 1e-5 "$1: ONNX Runtime, prompt_length 0, vs the folder without prompts"
  done
else
  echo "skipped part: ONNX Runtime on the exported graphs (npm onnxruntime-node not installed)"
fi

# --- sentence-transformers 6 itself (fixtures/sbert6/prompts, fixtures/gen/make_st_module_references.py):
# encode() by default, with prompt_name "passage" and with prompt "Represent: "; CrossEncoder.predict
# of fixtures/jobs/rerank saved with prompts, by default, with "passage" and with prompt "" ----------
st6="$QF_SOURCE_DIR/fixtures/sbert6/prompts"
for case in bert-prompt-mean-without-prompt roberta-prompt-cls-without-prompt; do
  /usr/bin/python3 - "$st6/$case/reference.json" "$work/st6" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
open(sys.argv[2] + ".rows.jsonl", "w").writelines(json.dumps({"text": t}) + "\n" for t in r["texts"])
for k in ("embeddings", "embeddings_passage", "embeddings_custom"):
    open(sys.argv[2] + "." + k + ".jsonl", "w").writelines(json.dumps({"embedding": e}) + "\n" for e in r[k])
PY
  q run "$st6/$case" --data "$work/st6.rows.jsonl" --output embedding > "$work/st6.default.jsonl"
  q run "$st6/$case" --data "$work/st6.rows.jsonl" --output embedding --prompt-name passage > "$work/st6.passage.jsonl"
  q run "$st6/$case" --data "$work/st6.rows.jsonl" --output embedding --prompt "Represent: " > "$work/st6.custom.jsonl"
  same "$work/st6.default.jsonl" "$work/st6.embeddings.jsonl" 1e-5 "$case vs SentenceTransformer.encode"
  same "$work/st6.passage.jsonl" "$work/st6.embeddings_passage.jsonl" 1e-5 "$case vs encode(prompt_name='passage')"
  same "$work/st6.custom.jsonl" "$work/st6.embeddings_custom.jsonl" 1e-5 "$case vs encode(prompt='Represent: ')"
done
cp -r "$QF_SOURCE_DIR/fixtures/jobs/rerank" "$work/ce6"
cp "$st6/cross-encoder/"*.json "$work/ce6/"
rm "$work/ce6/reference.json"
/usr/bin/python3 - "$st6/cross-encoder/reference.json" "$work/ce6" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
open(sys.argv[2] + ".rows.jsonl", "w").writelines(json.dumps({"query": a, "text": b}) + "\n" for a, b in r["pairs"])
for k in ("default", "passage", "none"):
    open(sys.argv[2] + "." + k + ".jsonl", "w").writelines(json.dumps({"embedding": [v]}) + "\n" for v in r[k])
PY
score_of() { /usr/bin/python3 -c 'import json, sys; [print(json.dumps({"embedding": [json.loads(l)["score"]]})) for l in open(sys.argv[1])]' "$1"; }
q run "$work/ce6" --data "$work/ce6.rows.jsonl" > "$work/ce6.out"; score_of "$work/ce6.out" > "$work/ce6.got.default.jsonl"
q run "$work/ce6" --data "$work/ce6.rows.jsonl" --prompt-name passage > "$work/ce6.out"; score_of "$work/ce6.out" > "$work/ce6.got.passage.jsonl"
q run "$work/ce6" --data "$work/ce6.rows.jsonl" --prompt "" > "$work/ce6.out"; score_of "$work/ce6.out" > "$work/ce6.got.none.jsonl"
for k in default passage none; do
  same "$work/ce6.got.$k.jsonl" "$work/ce6.$k.jsonl" 1e-5 "CrossEncoder saved by sentence-transformers 6 ($k) vs CrossEncoder.predict"
done
# verify of that CrossEncoder (the rerank job) prints and records its default prompt
q verify "$work/ce6" --reference "$work/ce6" --data "$work/ce6.rows.jsonl" --json "$work/ce6.verify.json" \
  > "$work/ce6.verify.txt" || fail "verify of the CrossEncoder"
grep '^prompt ' "$work/ce6.verify.txt" || fail "verify of the CrossEncoder prints its prompt"
/usr/bin/python3 -c 'import json, sys; p = json.load(open(sys.argv[1])).get("prompt"); print("rerank verify --json:", p); sys.exit(not p or not p["text"])' \
  "$work/ce6.verify.json" || fail "verify --json of the CrossEncoder records its prompt"
# a CrossEncoder with several labels (the classification job; fixtures/families/bert's 3-label head
# laid out as one, with a default prompt): the prompt goes before the text as in qforge run, and
# verify equals verify of the rows written with the prompt in front (and no prompt), the prompt
# recorded in the first report only
rm -rf "$work/ce3"; cp -r "$QF_SOURCE_DIR/fixtures/families/bert" "$work/ce3"
rm -f "$work/ce3/reference.json"
cp "$st6/cross-encoder/modules.json" "$work/ce3/"
printf '%s' '{"model_type": "CrossEncoder", "prompts": {"ask": "question: "}, "default_prompt_name": "ask"}' \
  > "$work/ce3/config_sentence_transformers.json"
/usr/bin/python3 - "$work/plain.jsonl" "$work/ce3" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][:24]
open(sys.argv[2] + ".rows.jsonl", "w").writelines(json.dumps({"text": r["text"], "label": i % 3}) + "\n" for i, r in enumerate(rows))
open(sys.argv[2] + ".prefixed.jsonl", "w").writelines(json.dumps({"text": "question: " + r["text"], "label": i % 3}) + "\n" for i, r in enumerate(rows))
PY
q verify "$work/ce3" --reference "$work/ce3" --data "$work/ce3.rows.jsonl" --no-layers --json "$work/ce3.a.json" \
  > "$work/ce3.txt" || fail "verify of a 3-label CrossEncoder"
grep '^prompt ' "$work/ce3.txt" || fail "verify of a 3-label CrossEncoder prints its prompt"
q verify "$work/ce3" --reference "$work/ce3" --data "$work/ce3.prefixed.jsonl" --prompt "" --no-layers \
  --json "$work/ce3.b.json" > /dev/null || fail "verify of a 3-label CrossEncoder, prompt in the rows"
/usr/bin/python3 - "$work/ce3.a.json" "$work/ce3.b.json" <<'PY' || fail "the CrossEncoder's prompt in verify differs from the prompt in the rows"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print("classification verify --json:", a.get("prompt"))
assert a.get("prompt", {}).get("text") == "question: " and "prompt" not in b
for k in ("prompt", "seconds", "data", "data_sha256"):
    a.pop(k, None), b.pop(k, None)
assert a == b, [k for k in a if a.get(k) != b.get(k)]
print("a 3-label CrossEncoder: verify with its default prompt == verify of the prefixed rows,", a["rows"], "rows")
PY

# --- hostile configs: the embedding is refused naming the part -----------------------------------
hostile() { # NAME PATTERN PYTHON-EDIT (of st: config_sentence_transformers.json, pool: the Pooling config)
  rm -rf "$work/h"; cp -r "$work/p" "$work/h"
  /usr/bin/python3 - "$work/h" "$3" <<'PY'
import json, sys
d = sys.argv[1]
st = json.load(open(f"{d}/config_sentence_transformers.json"))
pool = json.load(open(f"{d}/1_Pooling/config.json"))
exec(sys.argv[2])
json.dump(st, open(f"{d}/config_sentence_transformers.json", "w"))
json.dump(pool, open(f"{d}/1_Pooling/config.json", "w"))
PY
  refused 1 "$2" "$1" q run "$work/h" --data "$work/plain.jsonl" --output embedding
}
hostile "prompts a list" "prompts that are not a JSON object" 'st["prompts"] = ["query: "]'
hostile "a prompt text that is a number" "a prompt qforge cannot carry" 'st["prompts"]["query"] = 7'
hostile "a NUL byte in a prompt" "a prompt qforge cannot carry" 'st["prompts"]["query"] = "q\u0000: "'
hostile "a prompt past QF_MAX_SENTENCE_PROMPT_BYTES" "a prompt qforge cannot carry" 'st["prompts"]["query"] = "q" * 4097'
hostile "a prompt name past QF_MAX_SENTENCE_PROMPT_NAME" "a prompt qforge cannot carry" 'st["prompts"]["n" * 257] = "x"'
hostile "an empty prompt name" "a prompt qforge cannot carry" 'st["prompts"][""] = "x"'
hostile "65 prompts" "more prompts than qforge carries" 'st["prompts"].update({f"p{i}": "x" for i in range(62)})'
hostile "a default naming none" "names none of the prompts" 'st["default_prompt_name"] = "nope"'
hostile "include_prompt a string" "include_prompt that is neither true nor false" 'pool["include_prompt"] = "false"'
rm -rf "$work/h"; cp -r "$work/p" "$work/h"
printf '{"prompts": {"query": "q\xff: "}, "default_prompt_name": "query"}' > "$work/h/config_sentence_transformers.json"
refused 1 "not JSON" "invalid UTF-8 in config_sentence_transformers.json" \
  q run "$work/h" --data "$work/plain.jsonl" --output embedding
# at the limits: 64 prompts and a 4096-byte prompt are carried
rm -rf "$work/h"; cp -r "$work/p" "$work/h"
/usr/bin/python3 - "$work/h" <<'PY'
import json, sys
d = sys.argv[1]
st = json.load(open(f"{d}/config_sentence_transformers.json"))
st["prompts"].update({f"p{i}": "x" for i in range(59)})
st["prompts"]["n" * 256] = "x"
st["prompts"]["long"] = "q" * 4096
json.dump(st, open(f"{d}/config_sentence_transformers.json", "w"))
PY
q run "$work/h" --data "$work/plain.jsonl" --output embedding > "$work/h.jsonl" || fail "64 prompts, one of 4096 bytes, a name of 256"
same "$work/h.jsonl" "$work/base.query.jsonl" 0 "at the limits (64 prompts, one of 4096 bytes, a name of 256)"

# --- a sentence-transformers 6 CrossEncoder folder (modules.json with the Transformer alone,
# transformer_task sequence-classification, model_type CrossEncoder): scored by its head as a
# reranker, its default prompt before the query of each pair -------------------------------------
rerank="$QF_SOURCE_DIR/fixtures/jobs/rerank"
head -40 "$QF_SOURCE_DIR/fixtures/jobs/data/rerank.eval.jsonl" > "$work/pairs.jsonl"
/usr/bin/python3 - "$work/pairs.jsonl" "$work/pairs.query.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        r["query"] = "query: " + r["query"]
        out.write(json.dumps(r) + "\n")
PY
ce_folder() { # DIR DEFAULT_PROMPT_JSON [EXTRA_MODULE_JSON]
  cp -r "$rerank" "$1"
  echo "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.base.modules.transformer.Transformer\"}${3:+, $3}]" \
    > "$1/modules.json"
  echo '{"transformer_task": "sequence-classification", "max_seq_length": null, "do_lower_case": false}' > "$1/sentence_bert_config.json"
  echo "{\"model_type\": \"CrossEncoder\", \"prompts\": {\"query\": \"query: \", \"document\": \"\"}, \"default_prompt_name\": $2}" \
    > "$1/config_sentence_transformers.json"
}
scores() { /usr/bin/python3 -c 'import json, sys; [print(json.dumps({"embedding": json.loads(l)["logits"]})) for l in open(sys.argv[1])]' "$1"; }
ce_folder "$work/ce" null
ce_folder "$work/ce-prompt" '"query"'
q run "$rerank" --data "$work/pairs.jsonl" > "$work/rr.plain.out"
q run "$rerank" --data "$work/pairs.query.jsonl" > "$work/rr.query.out"
q run "$work/ce" --data "$work/pairs.jsonl" > "$work/ce.out"
q run "$work/ce-prompt" --data "$work/pairs.jsonl" > "$work/ce-prompt.out"
scores "$work/rr.plain.out" > "$work/rr.plain.jsonl"; scores "$work/rr.query.out" > "$work/rr.query.jsonl"
scores "$work/ce.out" > "$work/ce.jsonl"; scores "$work/ce-prompt.out" > "$work/ce-prompt.jsonl"
same "$work/ce.jsonl" "$work/rr.plain.jsonl" 0 "CrossEncoder folder, no default prompt: the plain checkpoint's scores"
same "$work/ce-prompt.jsonl" "$work/rr.query.jsonl" 0 "CrossEncoder folder, default prompt: the scores of the queries behind 'query: '"
q run "$work/ce-prompt" --data "$work/pairs.jsonl" --prompt "" > "$work/ce-noprompt.out"
scores "$work/ce-noprompt.out" > "$work/ce-noprompt.jsonl"
same "$work/ce-noprompt.jsonl" "$work/rr.plain.jsonl" 0 "CrossEncoder folder, --prompt \"\""
q verify "$work/ce-prompt" --reference "$work/ce-prompt" --data "$work/pairs.jsonl" > "$work/ce-verify.txt" \
  || fail "verify a CrossEncoder folder"
grep -q "MRR@10" "$work/ce-verify.txt" && echo "verify chose the rerank job for the CrossEncoder folder" \
  || fail "verify of a CrossEncoder folder is not the rerank job: $(head -c 300 "$work/ce-verify.txt")"
q convert "$work/ce-prompt" -o "$work/ce-prompt.qf" -q
q run "$work/ce-prompt.qf" --data "$work/pairs.jsonl" > "$work/ce-qf.out"
scores "$work/ce-qf.out" > "$work/ce-qf.jsonl"
same "$work/ce-qf.jsonl" "$work/rr.query.jsonl" 0 "the .qf of the CrossEncoder folder keeps its default prompt"
# the Transformer module's max_seq_length truncates each pair (longest first), as predict() does
ce_folder "$work/ce-short" null
echo '{"transformer_task": "sequence-classification", "max_seq_length": 24, "do_lower_case": false}' > "$work/ce-short/sentence_bert_config.json"
q run "$work/ce-short" --data "$work/pairs.jsonl" > "$work/ce-short.out"
q run "$rerank" --data "$work/pairs.jsonl" --max-length 24 > "$work/rr.short.out"
scores "$work/ce-short.out" > "$work/ce-short.jsonl"; scores "$work/rr.short.out" > "$work/rr.short.jsonl"
same "$work/ce-short.jsonl" "$work/rr.short.jsonl" 0 "CrossEncoder folder, max_seq_length 24 = --max-length 24"
if cmp -s "$work/ce-short.jsonl" "$work/ce.jsonl"; then fail "max_seq_length 24 changed no score"; fi
# the activation CrossEncoder loads from config_sentence_transformers.json: Identity scores are the
# logits; an activation qforge does not compute is refused
ce_folder "$work/ce-identity" null
/usr/bin/python3 -c 'import json, sys; p = sys.argv[1]; c = json.load(open(p)); c["activation_fn"] = "torch.nn.modules.linear.Identity"; json.dump(c, open(p, "w"))' \
  "$work/ce-identity/config_sentence_transformers.json"
q run "$work/ce-identity" --data "$work/pairs.jsonl" > "$work/ce-identity.out"
/usr/bin/python3 - "$work/ce-identity.out" "$work/ce.out" <<'PY' || fail "activation_fn Identity"
import json, math, sys
ident = [json.loads(l) for l in open(sys.argv[1])]
sig = [json.loads(l) for l in open(sys.argv[2])]
d = max(abs(a["score"] - a["logits"][0]) for a in ident)
s = max(abs(b["score"] - 1 / (1 + math.exp(-b["logits"][0]))) for b in sig)
print(f"CrossEncoder activation_fn Identity: score = logit (max |d| {d:.3g}); default Sigmoid: score = sigmoid(logit) ({s:.3g})")
sys.exit(0 if d == 0 and s < 1e-6 else 1)
PY
ce_folder "$work/ce-tanh" null
/usr/bin/python3 -c 'import json, sys; p = sys.argv[1]; c = json.load(open(p)); c["activation_fn"] = "torch.nn.modules.activation.Tanh"; json.dump(c, open(p, "w"))' \
  "$work/ce-tanh/config_sentence_transformers.json"
refused 1 "activation_fn other than Sigmoid or Identity" "a CrossEncoder activation_fn Tanh" \
  q run "$work/ce-tanh" --data "$work/pairs.jsonl"
ce_folder "$work/ce-extra" null '{"idx": 1, "name": "1", "path": "1_LogitScore", "type": "sentence_transformers.cross_encoder.modules.LogitScore"}'
refused 1 "a module after a CrossEncoder's Transformer" "a CrossEncoder with a module after its Transformer" \
  q run "$work/ce-extra" --data "$work/pairs.jsonl"
refused 2 "apply to --output embedding and to a sentence-transformers CrossEncoder" "--prompt on a plain classifier" \
  q run "$rerank" --data "$work/pairs.jsonl" --prompt "x"

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "all prompt checks passed"
