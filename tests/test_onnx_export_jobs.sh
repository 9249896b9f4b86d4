#!/usr/bin/env bash
# tests/test_onnx_export_jobs.sh — the ONNX graph of each trained job fixture (fixtures/jobs/{ner,
# qa,embed,rerank}: fixtures/jobs/README.md), FP32, dynamic int8 and static int8, run in ONNX
# Runtime (tests/ort_run.mjs, one row per session.run) against `qforge run` of the same .qf on the
# same rows. Graphs: `qforge convert --onnx-out` (FP32), `qforge quantize --mode dynamic
# --onnx-out`, and static calibrated on the first 256 training rows as tests/test_job_fixtures.sh
# makes it (`--mode static --stats --onnx-out`, the QDQ graph).
#
# Rows: the first 60 eval rows of NER (words joined by spaces: {"text"}), QA (plus every eval row
# whose context needs more than one window: --max-seq-len 192 --doc-stride 64, as the model was
# trained), rerank (12 queries of 5 candidates); embedding: text and text_pair of the first 30 eval
# pairs (60 texts). ORT gets qforge's own tokenization: the ids, type ids, QA windows and offsets
# come from libqforge (ctypes: qf_tokenizer_encode / _encode_pair, qf_qa_windows_build; the tokenizer
# is the folder's, whose tokenizer_config.json decides whether pair types reach the model), and on
# FP32 `qforge run` of those ids rows must give bit for bit what it gives on the text rows (so ORT
# and qforge saw the same tokens). Each row runs alone in ORT: qforge quantizes activations per
# sequence, ORT's DynamicQuantizeLinear per tensor, so only batch-1 runs are comparable for dynamic.
#
# Checks per fixture x mode (one table line each):
#   NER     per-token logits max |d|; argmax label equal on every token, special tokens included;
#           entity F1 (IOB2 chunks of the words' first tokens, vs the gold labels) of both
#   QA      start/end logits max |d| per window; the answer (best span over the windows, decoded by
#           libqforge's qf_qa_decode_window on ORT's logits, merged across windows as the pipeline)
#           equal to qforge run's answer characters; SQuAD F1 of both
#   embed   the graph outputs "sentence_embedding" (mean pooling and Normalize inside: unit norm);
#           cosine of ORT's to qforge run's embedding, min over the texts
#   rerank  score (sigmoid of the one logit, what qforge run prints) max |d|; the order of the 5
#           candidates of each query equal; MRR@10 of both
# Gates. FP32: logits and scores max |d| <= 1e-4, cosine >= 0.9999, every argmax, answer and
# ranking equal. int8: both sides run the same integer GEMMs, but the float ops between them
# (LayerNorm, GELU, softmax, the dequantize scale) are not bit-identical, so now and then an
# activation lands one quantization step away and the rest of that row follows: most values agree
# to float precision (median |d| ~1e-6) and a few rows move by a fraction of what int8 itself moves
# them. Measured (AMD EPYC, 2 cores): dynamic NER 2 of 60 rows move, max 0.055 (qforge's own
# int8-vs-FP32 on that row: 0.15); QA 9 of 67 windows (8 rows), max 0.057 (0.11); static NER 1 row, 0.022;
# QA 5 windows, 0.044; rerank score 1.5e-6 / 1.7e-5; embedding 1 - cosine 3e-9 / 2e-8. ORT against
# itself does the same: the static QDQ graphs run with graph optimizations "all" and "disabled"
# differ on 2 NER rows and 9 QA windows. So the int8 gates are the issue's acceptance ("agrees with
# qforge run: same metric within 0.1 pt"): argmax / answer / ranking equal on >= 99% of the rows, or
# the job's metric (entity F1, SQuAD F1, MRR@10) within 0.1 pt; and bounds that only a wrong graph
# crosses: median |d| <= 1e-5 (a wrong scale or zero point moves every value), max |dlogit| <= 0.25
# and |dscore| <= 5e-3 (about 4x and 300x the measured; start_logits and end_logits swapped in
# the graph give 23.6 and a median of 1.3), cosine >= 0.9999.
# About 9 s on a 2-core AMD EPYC (printed at the end). Skipped (77) without npm onnxruntime-node,
# and in a sanitizer build, whose libqforge.so /usr/bin/python3 cannot load.
set -euo pipefail
if [ ! -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ]; then echo "skipped: npm onnxruntime-node not installed (.ci/install-deps.sh)"; exit 77; fi
if grep -q 'QF_SANITIZE:BOOL=ON' "$QF_BINARY_DIR/CMakeCache.txt" 2>/dev/null; then
  echo "skipped: sanitizer build (an ASan libqforge.so cannot be loaded by /usr/bin/python3 for the tokenization)"; exit 77
fi
t0=$(date +%s%N)
jobs="$QF_SOURCE_DIR/fixtures/jobs"
work="$QF_BINARY_DIR/test_onnx_export_jobs.d"
lib="$QF_BINARY_DIR/libqforge.so"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
q() { "$QF_CLI" "$@"; }
failures=0

# prep KIND MAX_LENGTH: rows for qforge run ($work/KIND.rows.jsonl), one ORT row per sequence or QA
# window with qforge's ids ($work/KIND.ids.jsonl), and what the comparison needs ($work/KIND.meta.json)
prep() {
  /usr/bin/python3 - "$lib" "$1" "$jobs" "$work" "$2" <<'PY'
import ctypes as C, json, sys
lib_path, kind, jobs, work, max_length = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
lib = C.CDLL(lib_path)
P32 = C.POINTER(C.c_int32)
class Enc(C.Structure):  # qf_encoding (include/qforge/text.h)
    _fields_ = [("input_ids", P32), ("attention_mask", P32), ("token_type_ids", P32), ("sequence_ids", P32),
                ("offsets", P32), ("word_ids", P32), ("length", C.c_size_t), ("capacity", C.c_size_t)]
class TokParams(C.Structure):  # qf_tokenize_params
    _fields_ = [("max_length", C.c_int32), ("pad_to", C.c_int32), ("add_special_tokens", C.c_bool)]
class QaParams(C.Structure):  # qf_qa_params (include/qforge/verify.h)
    _fields_ = [("max_seq_len", C.c_int32), ("doc_stride", C.c_int32), ("max_answer_len", C.c_int32),
                ("max_question_len", C.c_int32), ("align_to_words", C.c_bool)]
class QaWindows(C.Structure):  # qf_qa_windows
    _fields_ = [("count", C.c_size_t), ("window", C.POINTER(Enc)), ("context_first", C.POINTER(C.c_size_t))]
err = C.create_string_buffer(1 << 16)
def check(status):
    if status:
        line = C.create_string_buffer(4096)
        lib.qf_error_format(err, line, C.c_size_t(len(line)))
        sys.exit("libqforge: " + line.value.decode(errors="replace"))
tok = C.c_void_p()
check(lib.qf_tokenizer_load(f"{jobs}/{kind}".encode(), C.byref(tok), err))
params = TokParams(max_length, 0, True)
def enc_dict(e):
    n = e.length
    return {"input_ids": e.input_ids[:n], "token_type_ids": e.token_type_ids[:n],
            "sequence_ids": e.sequence_ids[:n], "offsets": [e.offsets[2 * i:2 * i + 2] for i in range(n)],
            "word_ids": e.word_ids[:n]}
def encode(a, b=None):
    e = Enc()
    ba = a.encode()
    if b is None:
        check(lib.qf_tokenizer_encode(tok, ba, C.c_size_t(len(ba)), C.byref(params), C.byref(e), err))
    else:
        bb = b.encode()
        check(lib.qf_tokenizer_encode_pair(tok, ba, C.c_size_t(len(ba)), bb, C.c_size_t(len(bb)), C.byref(params),
                                           C.byref(e), err))
    d = enc_dict(e)
    lib.qf_encoding_free(C.byref(e))
    return d
lines = [json.loads(l) for l in open(f"{jobs}/data/{'embed' if kind == 'embed' else kind}.eval.jsonl") if l.strip()]
rows, seqs, meta = [], [], []
if kind == "ner":
    for r in lines[:60]:
        text = " ".join(r["tokens"])
        e = encode(text)
        starts, at = [], 0
        for w in r["tokens"]:
            starts.append(at); at += len(w) + 1
        first = [next(i for i, (s, t) in enumerate(e["offsets"]) if e["sequence_ids"][i] == 0 and s <= c < t) for c in starts]
        rows.append({"text": text}); seqs.append(e); meta.append({"first": first, "gold": r["labels"]})
elif kind == "qa":
    qp = QaParams(192, 64, 15, 0, True)
    for k, r in enumerate(lines):
        w = QaWindows()
        bq, bc = r["question"].encode(), r["context"].encode()
        check(lib.qf_qa_windows_build(tok, bq, C.c_size_t(len(bq)), bc, C.c_size_t(len(bc)), C.byref(qp), C.byref(w), err))
        wins = [enc_dict(w.window[i]) for i in range(w.count)]
        lib.qf_qa_windows_free(C.byref(w))
        if k < 60 or len(wins) > 1:
            rows.append(r); seqs += wins
            meta.append({"windows": wins, "context": r["context"], "answers": r["answers"]["text"]})
elif kind == "embed":
    for r in lines[:30]:
        for text in (r["text"], r["text_pair"]):
            rows.append({"text": text}); seqs.append(encode(text)); meta.append({})
else:  # rerank: {"query", "text", "label"}, 5 candidates per query
    for r in lines[:60]:
        rows.append(r); seqs.append(encode(r["query"], r["text"])); meta.append({"query": r["query"], "label": r["label"]})
with open(f"{work}/{kind}.rows.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
with open(f"{work}/{kind}.ids.jsonl", "w") as f:
    f.writelines(json.dumps({"input_ids": s["input_ids"], "token_type_ids": s["token_type_ids"], "keep_padding": True}) + "\n"
                 for s in seqs)
json.dump(meta, open(f"{work}/{kind}.meta.json", "w"))
print(f"{kind}: {len(rows)} rows, {len(seqs)} sequences, longest {max(len(s['input_ids']) for s in seqs)} tokens")
PY
}

# compare KIND MODE: qforge run's rows vs ORT's, prints the table line; exit 1 past the gate
compare() {
  /usr/bin/python3 - "$lib" "$1" "$2" "$work" "$jobs" <<'PY'
import ctypes as C, json, math, re, string, sys
from collections import Counter
lib_path, kind, mode, work, jobs = sys.argv[1:6]
fp32 = mode == "fp32"
meta = json.load(open(f"{work}/{kind}.meta.json"))
qf = [json.loads(l) for l in open(f"{work}/{kind}.{mode}.qf.jsonl")]
ort = [json.loads(l)["outputs"] for l in open(f"{work}/{kind}.{mode}.ort.jsonl")]
problems = []
def gate(ok, what):
    if not ok: problems.append(what)
def agree_gate(equal, total, metric_qf, metric_ort, what):
    # FP32: all equal; int8: >= 99% of rows equal, or the metric within 0.1 pt
    if fp32: gate(equal == total, f"{what}: {total - equal} of {total} differ")
    else: gate(equal >= 0.99 * total or abs(metric_qf - metric_ort) <= 0.1,
               f"{what}: {total - equal} of {total} differ and the metric moves {abs(metric_qf - metric_ort):.2f} pt")
dlogit_max = 1e-4 if fp32 else 0.25
dscore_max = 1e-4 if fp32 else 5e-3
median_max = 1e-5  # int8: the bulk agrees to float precision (the integer GEMMs are the same)
cos_min = 0.9999
def diff_gate(diffs, bound, what):
    diffs = sorted(diffs)
    worst, median = diffs[-1], diffs[len(diffs) // 2]
    gate(worst <= bound, f"{what} max |d| {worst:.3g} > {bound}")
    gate(median <= median_max, f"{what} median |d| {median:.3g} > {median_max}")
    return worst, median

if fp32:  # qforge run on the ids ORT got == qforge run on the text rows: same tokens
    ids_run = [json.loads(l) for l in open(f"{work}/{kind}.fp32.qf_ids.jsonl")]
    key = {"ner": "token_logits", "embed": "embedding", "rerank": "logits"}.get(kind)
    if kind == "qa":
        a = [w for r in qf for w in (r["windows"] if "windows" in r else [r])]
        same = len(a) == len(ids_run) and all(x["start_logits"] == y["start_logits"] and x["end_logits"] == y["end_logits"]
                                               for x, y in zip(a, ids_run))
    else:
        same = len(qf) == len(ids_run) and all(x[key] == y[key] for x, y in zip(qf, ids_run))
    gate(same, "qforge run on the ids given to ORT differs from qforge run on the text rows")

def chunks(labels):  # IOB2 entities (type, first, last) as conlleval reads them
    out, cur = set(), None
    for i, l in enumerate(labels + ["O"]):
        tag, typ = (l.split("-", 1) + [""])[:2] if l != "O" else ("O", "")
        if cur and (tag != "I" or typ != cur[0]):
            out.add((cur[0], cur[1], i - 1)); cur = None
        if tag == "B" or (tag == "I" and cur is None):
            cur = (typ, i)
    return out
def entity_f1(pred_rows, gold_rows):
    tp = npred = ngold = 0
    for k, (p, g) in enumerate(zip(pred_rows, gold_rows)):
        cp, cg = {c + (k,) for c in chunks(p)}, {c + (k,) for c in chunks(g)}
        tp += len(cp & cg); npred += len(cp); ngold += len(cg)
    return 100 * 2 * tp / (npred + ngold) if npred + ngold else 100.0

if kind == "ner":
    id2label = {int(k): v for k, v in json.load(open(f"{jobs}/ner/config.json"))["id2label"].items()}
    diffs, moved, tok_eq, tok_n, row_eq, pred_q, pred_o, gold = [], 0, 0, 0, 0, [], [], []
    for r, o, m in zip(qf, ort, meta):
        lo = o["logits"]; T, L = lo["dims"][1], lo["dims"][2]
        assert T == len(r["token_logits"]), (T, len(r["token_logits"]))
        ort_labels, row_d = [], []
        for t in range(T):
            a = lo["data"][t * L:(t + 1) * L]; b = r["token_logits"][t]
            row_d += [abs(x - y) for x, y in zip(a, b)]
            ka, kb = max(range(L), key=a.__getitem__), max(range(L), key=b.__getitem__)
            assert id2label[kb] == r["labels"][t], (id2label[kb], r["labels"][t])  # qforge's label is its argmax
            ort_labels.append(ka)
        diffs += row_d; moved += max(row_d) > 1e-4
        qlab = r["labels"]
        olab = [id2label[k] for k in ort_labels]
        eq = sum(x == y for x, y in zip(qlab, olab))
        tok_eq += eq; tok_n += T; row_eq += eq == T
        pred_q.append([qlab[i] for i in m["first"]]); pred_o.append([olab[i] for i in m["first"]]); gold.append(m["gold"])
    fq, fo = entity_f1(pred_q, gold), entity_f1(pred_o, gold)
    worst, median = diff_gate(diffs, dlogit_max, "token logits")
    agree_gate(row_eq, len(qf), fq, fo, "rows with a token argmax changed")
    line = (f"|dlogit| max {worst:8.2e} median {median:8.2e}, {moved:2d} rows > 1e-4  argmax equal {tok_eq}/{tok_n} tokens, {row_eq}/{len(qf)} rows  "
            f"entity F1 qforge {fq:.2f} ORT {fo:.2f}")
elif kind == "qa":
    lib = C.CDLL(lib_path)
    class Span(C.Structure):  # qf_qa_span
        _fields_ = [("found", C.c_bool), ("start_token", C.c_size_t), ("end_token", C.c_size_t), ("score", C.c_double)]
    F = C.c_float
    def answer(m, logits):  # the pipeline's answer from each window's (start, end) logits
        found = []  # [text, score, start, end]
        for w, (s, e) in zip(m["windows"], logits):
            n = len(s); cls = w["input_ids"][0] if w["sequence_ids"][0] < 0 else None
            cand = (C.c_uint8 * n)(*[int(w["sequence_ids"][i] == 1 or w["input_ids"][i] == cls) for i in range(n)])
            sp, scratch = Span(), (C.c_double * (2 * n))()
            lib.qf_qa_decode_window((F * n)(*s), (F * n)(*e), cand, C.c_size_t(n), C.c_int32(15), scratch, C.byref(sp))
            if not sp.found: continue
            # align_to_words: the first and last context token of the span's first and last words
            ws, we = w["word_ids"][sp.start_token], w["word_ids"][sp.end_token]
            ctx = [i for i in range(n) if w["sequence_ids"][i] == 1]
            first = next(i for i in ctx if w["word_ids"][i] == ws) if ws >= 0 else sp.start_token
            last = max(i for i in ctx if w["word_ids"][i] == we) if we >= 0 else sp.end_token
            a, b = w["offsets"][first][0], w["offsets"][last][1]
            text = m["context"][a:b]
            prev = next((f for f in found if f[0].lower() == text.lower()), None)
            if prev: prev[1] += sp.score
            else: found.append([text, sp.score, a, b])
        best = max(found, key=lambda f: f[1], default=None)  # max keeps the first of equal scores
        return (best[2], best[3]) if best else None
    def norm(s):
        s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())
    def f1(pred, golds):
        def one(g):
            p, t = norm(pred).split(), norm(g).split()
            common = sum((Counter(p) & Counter(t)).values())
            if not p or not t: return float(p == t)
            if not common: return 0.0
            pr, rc = common / len(p), common / len(t)
            return 2 * pr * rc / (pr + rc)
        return max(one(g) for g in golds)
    diffs, moved, row_eq, f1q, f1o, k, nwin = [], 0, 0, 0.0, 0.0, 0, 0
    for r, m in zip(qf, meta):
        wins = r["windows"] if "windows" in r else [r]
        ow = ort[k:k + len(wins)]; k += len(wins); nwin += len(wins)
        assert len(wins) == len(m["windows"]), (len(wins), len(m["windows"]))
        ort_logits, row_d = [], []
        for w, o in zip(wins, ow):
            s, e = o["start_logits"]["data"], o["end_logits"]["data"]
            assert len(s) == len(w["start_logits"]), (len(s), len(w["start_logits"]))
            row_d += [abs(x - y) for x, y in zip(s + e, w["start_logits"] + w["end_logits"])]
            ort_logits.append((s, e))
        diffs += row_d; moved += max(row_d) > 1e-4
        a_o = answer(m, ort_logits)
        a_q = (r["answer"]["start"], r["answer"]["end"]) if r.get("answer") else None
        row_eq += a_o == a_q
        f1q += f1(m["context"][a_q[0]:a_q[1]] if a_q else "", m["answers"])
        f1o += f1(m["context"][a_o[0]:a_o[1]] if a_o else "", m["answers"])
    assert k == len(ort), (k, len(ort))
    f1q, f1o = 100 * f1q / len(qf), 100 * f1o / len(qf)
    worst, median = diff_gate(diffs, dlogit_max, "start/end logits")
    agree_gate(row_eq, len(qf), f1q, f1o, "rows whose answer differs")
    line = (f"|dlogit| max {worst:8.2e} median {median:8.2e}, {moved:2d} rows > 1e-4  answer equal {row_eq}/{len(qf)} rows ({nwin} windows)  "
            f"F1 qforge {f1q:.2f} ORT {f1o:.2f}")
elif kind == "embed":
    if "sentence_embedding" not in ort[0]:
        print(f"{kind:6s} {mode:7s} FAIL: the graph has no sentence_embedding output (outputs: {sorted(ort[0])})")
        sys.exit(1)
    cmin, nmax, worst = 1.0, 0.0, 0.0
    for r, o in zip(qf, ort):
        a, b = o["sentence_embedding"]["data"], r["embedding"]
        if o["sentence_embedding"]["dims"] != [1, len(b)]:
            print(f"{kind:6s} {mode:7s} FAIL: sentence_embedding has dims {o['sentence_embedding']['dims']}, not [1, {len(b)}]")
            sys.exit(1)
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
        cmin = min(cmin, sum(x * y for x, y in zip(a, b)) / (na * nb))
        nmax = max(nmax, abs(na - 1)); worst = max(worst, max(abs(x - y) for x, y in zip(a, b)))
    gate(nmax <= 1e-5, f"ORT's sentence_embedding is not normalized inside the graph: | |e| - 1 | up to {nmax:.3g}")
    gate(cmin >= cos_min, f"min cosine {cmin:.7f} < {cos_min}")
    line = f"|d| max {worst:8.2e}  min cosine {cmin:.9f} (1 - cos {1 - cmin:.1e}) over {len(qf)} texts  max ||e|-1| {nmax:.1e}"
else:
    diffs, groups = [], {}
    for r, o, m in zip(qf, ort, meta):
        (z,) = o["logits"]["data"]
        s = 1 / (1 + math.exp(-z))
        diffs.append(abs(s - r["score"]))
        groups.setdefault(m["query"], []).append((r["score"], s, m["label"]))
    def mrr(g, i):
        total = 0.0
        for c in g.values():
            order = sorted(range(len(c)), key=lambda j: -c[j][i])[:10]
            total += next((1 / (p + 1) for p, j in enumerate(order) if c[j][2] > 0), 0.0)
        return 100 * total / len(g)
    same = sum(sorted(range(len(c)), key=lambda j: -c[j][0]) == sorted(range(len(c)), key=lambda j: -c[j][1])
               for c in groups.values())
    mq, mo = mrr(groups, 0), mrr(groups, 1)
    worst, median = diff_gate(diffs, dscore_max, "score")
    agree_gate(same, len(groups), mq, mo, "query groups ranked differently")
    line = (f"|dscore| max {worst:8.2e} median {median:8.2e}  ranking equal {same}/{len(groups)} queries ({len(qf)} pairs)  "
            f"MRR@10 qforge {mq:.2f} ORT {mo:.2f}")
print(f"{kind:6s} {mode:7s} {line}  {'ok' if not problems else 'FAIL: ' + '; '.join(problems)}")
sys.exit(1 if problems else 0)
PY
}

for model in ner qa embed rerank; do
  src="$jobs/$model/model.safetensors"
  head -n 256 "$jobs/data/$model.train.jsonl" > "$work/$model.calib.jsonl"
  q convert "$src" -o "$work/$model.fp32.qf" --onnx-out "$work/$model.fp32.onnx" -q
  q quantize "$src" --mode dynamic -o "$work/$model.dynamic.qf" --onnx-out "$work/$model.dynamic.onnx" --threads 1 -q
  q calibrate "$src" --data "$work/$model.calib.jsonl" -o "$work/$model.qfc" --threads 1 -q
  q quantize "$src" --mode static --stats "$work/$model.qfc" -o "$work/$model.static.qf" \
    --onnx-out "$work/$model.static.onnx" --threads 1 -q
  case $model in
    ner) out=(--output tokens); maxlen=256 ;;
    qa) out=(--output spans --max-seq-len 192 --doc-stride 64); maxlen=0 ;;
    embed) out=(--output embedding); maxlen=128 ;;  # the folder's tokenizer_config model_max_length
    rerank) out=(--output logits); maxlen=256 ;;
  esac
  prep "$model" "$maxlen"
  for mode in fp32 dynamic static; do
    q run "$work/$model.$mode.qf" --data "$work/$model.rows.jsonl" "${out[@]}" --threads 1 > "$work/$model.$mode.qf.jsonl"
    if [ "$mode" = fp32 ]; then
      q run "$work/$model.$mode.qf" --data "$work/$model.ids.jsonl" "${out[@]}" --threads 1 > "$work/$model.$mode.qf_ids.jsonl"
    fi
    node "$QF_SOURCE_DIR/tests/ort_run.mjs" "$work/$model.$mode.onnx" "$work/$model.ids.jsonl" --all-outputs \
      > "$work/$model.$mode.ort.jsonl"
    compare "$model" "$mode" || failures=$((failures + 1))
  done
done
ms=$((($(date +%s%N) - t0) / 1000000))
printf 'time: %d.%03d s (%s, nproc %s)\n' $((ms / 1000)) $((ms % 1000)) \
  "$(lscpu | sed -n 's/^Model name: *//p')" "$(nproc --all)"
echo "$failures failure(s)"
[ "$failures" = 0 ]
