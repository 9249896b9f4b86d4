// tests/ort_compare.mjs — runs an ONNX graph and the graph qforge rewrote from it in ONNX Runtime
// (npm onnxruntime-node) on the same deterministic inputs and prints one JSON line:
// {"outputs": n, "max_abs_diff": d, "max_abs_ref": r}. Inputs come from the
// graph's input metadata (symbolic dimensions are 2): floats cycle through [-1, 1), integers through
// [0, --int-range), bools are true. ORT's warnings (log level 1) go to stderr: the rewritten graph's
// session is created first, then the line "--- source" is written, so that what stands before it
// (an unused initializer: "Removing initializer ...") is the rewrite's. Exit 1 when an output of
// the source is missing from the rewrite or has another shape.
//
//   node tests/ort_compare.mjs SOURCE.onnx REWRITTEN.onnx [--int-range N]
import * as ort from "onnxruntime-node";

const args = process.argv.slice(2);
let intRange = 4;
const i = args.indexOf("--int-range");
if (i >= 0) {
  intRange = Number(args[i + 1]);
  args.splice(i, 2);
}
const [srcPath, outPath] = args;
const opts = { logSeverityLevel: 1, intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "disabled" };
const out = await ort.InferenceSession.create(outPath, opts);
console.error("--- source");
const src = await ort.InferenceSession.create(srcPath, opts);

const feeds = {};
for (const m of src.inputMetadata) {
  const dims = (m.shape || []).map((d) => (typeof d === "number" && d > 0 ? d : 2));
  const n = dims.reduce((a, b) => a * b, 1);
  let t;
  if (m.type === "float32") t = new ort.Tensor("float32", Float32Array.from({ length: n }, (_, k) => ((k * 37) % 64) / 32 - 1), dims);
  else if (m.type === "int64") t = new ort.Tensor("int64", BigInt64Array.from({ length: n }, (_, k) => BigInt((k * 7) % intRange)), dims);
  else if (m.type === "int32") t = new ort.Tensor("int32", Int32Array.from({ length: n }, (_, k) => (k * 7) % intRange), dims);
  else if (m.type === "bool") t = new ort.Tensor("bool", new Uint8Array(n).fill(1), dims);
  else throw new Error(`input ${m.name}: type ${m.type} not handled`);
  feeds[m.name] = t;
}
const a = await src.run(feeds);
const b = await out.run(feeds);
let maxDiff = 0, maxRef = 0, bad = false;
for (const k of Object.keys(a)) {
  if (!b[k] || b[k].dims.join("x") !== a[k].dims.join("x")) { bad = true; continue; }
  for (let j = 0; j < a[k].data.length; j++) {
    maxRef = Math.max(maxRef, Math.abs(Number(a[k].data[j])));
    maxDiff = Math.max(maxDiff, Math.abs(Number(a[k].data[j]) - Number(b[k].data[j])));
  }
}
console.log(JSON.stringify({ outputs: Object.keys(a).length, max_abs_diff: maxDiff, max_abs_ref: maxRef }));
process.exit(bad ? 1 : 0);
