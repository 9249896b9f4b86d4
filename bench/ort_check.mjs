// Checks the prepared ONNX models in ONNX Runtime before anything is timed: FP32 logits against the
// torch logits recorded by prepare_bert_base.py, and the int8 (MatMulInteger) graph against FP32.
// Prints one JSON object and fails when FP32 is off by more than --fp32-tol or int8 by more than
// --int8-tol from FP32 (the int8 figure is a sanity bound, not an accuracy claim).
//   node bench/ort_check.mjs --dir build/bench [--threads 2]
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ort, loadInput, createSession, maxAbsDiff, parseArgs } from './ort_common.mjs';

async function main() {
  const a = parseArgs(process.argv.slice(2), { dir: 'build/bench', threads: 2, 'fp32-tol': 1e-4, 'int8-tol': 0.1 });
  const fp32 = (await createSession(join(a.dir, 'model.onnx'), a.threads)).session;
  const int8 = (await createSession(join(a.dir, 'model.int8.onnx'), a.threads)).session;
  const inputs = readdirSync(join(a.dir, 'inputs')).filter((f) => f.endsWith('.bin')).sort();
  const result = { engine: `onnxruntime-node ${ort.env.versions.common}`, inputs: {} };
  let ok = inputs.length > 0;
  for (const f of inputs) {
    const input = loadInput(join(a.dir, 'inputs', f));
    const lf = Array.from((await fp32.run(input.feeds)).logits.data);
    const li = Array.from((await int8.run(input.feeds)).logits.data);
    const r = {
      batch: input.batch,
      seq: input.seq,
      fp32_vs_torch_max_abs: maxAbsDiff(lf, input.logits.flat()),
      int8_vs_fp32_max_abs: maxAbsDiff(li, lf),
      fp32_logits_max_abs: Math.max(...lf.map(Math.abs)),
    };
    ok = ok && r.fp32_vs_torch_max_abs <= a['fp32-tol'] && r.int8_vs_fp32_max_abs <= a['int8-tol'];
    result.inputs[f.replace(/\.bin$/, '')] = r;
  }
  result.ok = ok;
  console.log(JSON.stringify(result, null, 1));
  if (!ok) process.exit(1);
}

main().catch((e) => { console.error(`ort_check: ${e.message}`); process.exit(1); });
