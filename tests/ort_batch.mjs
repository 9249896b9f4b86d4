// tests/ort_batch.mjs — runs an ONNX model in ONNX Runtime (npm onnxruntime-node) on one padded
// batch, as transformers computes it: input_ids, attention_mask and (when the graph has that
// input) token_type_ids from a JSON object of [batch][length] arrays; graph inputs the JSON lacks
// get zeros (attention_mask: ones). Prints {"outputs": {name: {"dims": [...], "data": [...]}}}
// with every graph output, so a script compares logits and hidden states itself.
//
//   node tests/ort_batch.mjs MODEL.onnx BATCH.json [--key batch] [--threads 1] [--rows N]
//        (--key: the batch is that member of the JSON file; --rows: only the first N rows)
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const key = opt("--key", null);
const threads = Number(opt("--threads", "1"));
const rows = Number(opt("--rows", "0"));
if (args.length !== 2) {
  console.error("usage: node tests/ort_batch.mjs MODEL.onnx BATCH.json [--key batch] [--threads 1] [--rows N]");
  process.exit(2);
}
const [modelPath, batchPath] = args;
let batch = JSON.parse(readFileSync(batchPath, "utf8"));
if (key) batch = batch[key];
const ids = rows > 0 ? batch.input_ids.slice(0, rows) : batch.input_ids;
const B = ids.length, T = ids[0].length;

const session = await ort.InferenceSession.create(modelPath, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
  logSeverityLevel: 3,
});
const feeds = {};
for (const name of session.inputNames) {
  const data = new BigInt64Array(B * T).fill(name === "attention_mask" ? 1n : 0n);
  const src = batch[name];
  if (src) for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) data[b * T + t] = BigInt(src[b][t]);
  feeds[name] = new ort.Tensor("int64", data, [B, T]);
}
const res = await session.run(feeds);
const outputs = {};
for (const name of session.outputNames) outputs[name] = { dims: res[name].dims, data: Array.from(res[name].data) };
process.stdout.write(JSON.stringify({ outputs }) + "\n");
