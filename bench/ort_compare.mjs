// bench/ort_compare.mjs — latency of several ONNX graphs of one model in ONNX Runtime
// (onnxruntime-node, CPU, intraOpNumThreads T, sequential, all graph optimizations), measured
// row by row in one process: for every row each graph runs once, in an order rotated from row to
// row, so load on a shared machine hits every graph alike. Batch 1, real tokens only (mask ones).
// Prints one JSON line per graph (mean / median ms per row) and the per-row paired ratio of each
// graph to the first (median over rows of t_graph / t_first).
//   node bench/ort_compare.mjs --rows ROWS.jsonl [--tokenizer T.json] [--threads 1] [--rounds 3]
//        [--warmup 20] NAME=MODEL.onnx NAME=MODEL.onnx ...
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
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
const rowsPath = opt("--rows", null);
const tokenizerPath = opt("--tokenizer", null);
const threads = Number(opt("--threads", "1"));
const rounds = Number(opt("--rounds", "3"));
const warmup = Number(opt("--warmup", "20"));
if (!rowsPath || args.length < 1) {
  console.error("usage: node bench/ort_compare.mjs --rows ROWS.jsonl [--tokenizer T.json] NAME=MODEL.onnx ...");
  process.exit(2);
}
const encode = tokenizerPath ? loadEncoder(tokenizerPath) : null;
const rows = readFileSync(rowsPath, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const ids = rows.map((r) => (r.input_ids ? r.input_ids : encode(r.text, 128)));
const graphs = [];
for (const a of args) {
  const [name, path] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
    graphOptimizationLevel: "all", logSeverityLevel: 3,
  });
  graphs.push({ name, path, session, ms: [] });
}
function feeds(session, row) {
  const n = row.length, f = {};
  for (const name of session.inputNames) {
    let data;
    if (name === "input_ids") data = BigInt64Array.from(row, (v) => BigInt(v));
    else if (name === "attention_mask") data = new BigInt64Array(n).fill(1n);
    else data = new BigInt64Array(n);
    f[name] = new ort.Tensor("int64", data, [1, n]);
  }
  return f;
}
const prepared = graphs.map((g) => ids.map((row) => feeds(g.session, row)));
for (let i = 0; i < Math.min(warmup, ids.length); i++)
  for (let k = 0; k < graphs.length; k++) await graphs[k].session.run(prepared[k][i]);
let turn = 0;
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < ids.length; i++, turn++) {
    for (let j = 0; j < graphs.length; j++) {
      const k = (j + turn) % graphs.length;
      const t0 = performance.now();
      await graphs[k].session.run(prepared[k][i]);
      graphs[k].ms.push(performance.now() - t0);
    }
  }
}
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
for (const g of graphs) {
  const ratios = g.ms.map((t, i) => t / graphs[0].ms[i]);
  console.log(JSON.stringify({
    graph: g.name, rows: ids.length, rounds, threads,
    mean_ms: +(g.ms.reduce((a, b) => a + b, 0) / g.ms.length).toFixed(4),
    median_ms: +median(g.ms).toFixed(4),
    paired_median_ratio_vs_first: +median(ratios).toFixed(4),
  }));
}
