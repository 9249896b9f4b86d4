// tests/ort_run.mjs — runs an ONNX model in ONNX Runtime (npm onnxruntime-node) on JSONL rows and
// prints one JSON line per row: {"logits": [...], "prediction": k} (plus "label" when the row has
// one). Rows carry "input_ids", or "text" tokenized with --tokenizer tokenizer.json
// (@huggingface/tokenizers, truncated to --max-length like transformers). Each row runs alone
// (batch 1, no padding), as qforge's encoder computes it. The graph's inputs named input_ids,
// attention_mask, token_type_ids are fed as int64 (token_type_ids from an input_ids row's own
// "token_type_ids" when it has them, else zeros); extra int64 inputs get zeros. --all-outputs adds
// "outputs": {name: {"dims", "data"}} with every graph output of the row (logits and prediction
// stay those of the first output). --scalar NAME=V feeds the int64 scalar input NAME (an input
// with a default initializer, e.g. an embedding graph's prompt_length, included).
//
//   node tests/ort_run.mjs MODEL.onnx DATA.jsonl [--tokenizer T.json] [--max-length 128]
//        [--threads 1] [--limit N] [--timing] [--all-outputs] [--scalar NAME=V]
//        (--timing: latency on stderr, ms)
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { loadEncoder } from "../fixtures/gen/tokenizer_oracle_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
};
const tokenizerPath = opt("--tokenizer", null);
const maxLength = Number(opt("--max-length", "128"));
const threads = Number(opt("--threads", "1"));
const limit = Number(opt("--limit", "0"));
const timing = flag("--timing");
const allOutputs = flag("--all-outputs");
const warmup = Number(opt("--warmup", "3"));
// --scalar NAME=V (repeatable): an int64 scalar input fed to every row (e.g. prompt_length)
const scalars = {};
for (let v = opt("--scalar", null); v !== null; v = opt("--scalar", null)) {
  const [name, value] = v.split("=");
  scalars[name] = new ort.Tensor("int64", BigInt64Array.from([BigInt(value)]), []);
}
if (args.length !== 2) {
  console.error("usage: node tests/ort_run.mjs MODEL.onnx DATA.jsonl [--tokenizer T.json] [--max-length N] [--threads N] [--limit N] [--timing] [--all-outputs]");
  process.exit(2);
}
const [modelPath, dataPath] = args;

const encode = tokenizerPath ? loadEncoder(tokenizerPath) : null;
let rows = readFileSync(dataPath, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
if (limit > 0) rows = rows.slice(0, limit);

const session = await ort.InferenceSession.create(modelPath, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
  logSeverityLevel: 3,
});

function feeds(ids, types) {
  const n = ids.length;
  const f = {};
  for (const [name, t] of Object.entries(scalars)) f[name] = t;
  for (const name of session.inputNames) {
    if (name in scalars) continue;
    let data;
    if (name === "input_ids") data = BigInt64Array.from(ids, (v) => BigInt(v));
    else if (name === "attention_mask") data = new BigInt64Array(n).fill(1n);
    else if (name === "token_type_ids" && types) data = BigInt64Array.from(types.slice(0, n), (v) => BigInt(v));
    else data = new BigInt64Array(n);
    f[name] = new ort.Tensor("int64", data, [1, n]);
  }
  return f;
}

function idsOf(row) {
  if (row.input_ids) {
    const ids = row.input_ids;
    let end = ids.length;
    while (end > 1 && ids[end - 1] === 0 && row.keep_padding !== true) end--; // [PAD] tail of padded rows
    return ids.slice(0, end);
  }
  if (!encode) throw new Error("rows have text: pass --tokenizer tokenizer.json");
  return encode(row.text, maxLength);
}

const allIds = rows.map(idsOf);
const typesOf = (r) => (rows[r].input_ids && rows[r].token_type_ids ? rows[r].token_type_ids : null);
for (let i = 0; timing && i < Math.min(warmup, allIds.length); i++) await session.run(feeds(allIds[i], typesOf(i)));
const times = [];
const out = [];
for (let r = 0; r < rows.length; r++) {
  const f = feeds(allIds[r], typesOf(r));
  const t0 = process.hrtime.bigint();
  const res = await session.run(f);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  const logits = Array.from(res[session.outputNames[0]].data);
  let best = 0;
  for (let k = 1; k < logits.length; k++) if (logits[k] > logits[best]) best = k;
  const line = { logits, prediction: best };
  if (rows[r].label !== undefined) line.label = rows[r].label;
  if (allOutputs) {
    line.outputs = {};
    for (const name of session.outputNames) line.outputs[name] = { dims: res[name].dims, data: Array.from(res[name].data) };
  }
  out.push(JSON.stringify(line));
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
if (timing) {
  const s = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.error(JSON.stringify({ rows: times.length, mean_ms: mean, median_ms: s[Math.floor(s.length / 2)], p90_ms: s[Math.floor(s.length * 0.9)] }));
}
