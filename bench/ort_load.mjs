// The load peer of bench/load.sh: ONNX Runtime session creation + first run of one row on an ONNX
// model, in a fresh node process. Prints one JSON line: session creation ms, first run ms, and the
// process's age when the first logits exist (process.uptime(): from process start, node's own
// start-up included, as `qforge run` is measured from fork).
//   node bench/ort_load.mjs MODEL.onnx INPUT.bin
import { performance } from 'node:perf_hooks';
import { createSession, loadInput } from './ort_common.mjs';

const [model, input] = process.argv.slice(2);
const { feeds } = loadInput(input);
const { session, createMs } = await createSession(model, 1);
const t0 = performance.now();
const out = await session.run(feeds);
const runMs = performance.now() - t0;
const ageMs = process.uptime() * 1e3;
const logits = out[session.outputNames[0]].data;
console.log(JSON.stringify({ model, create_ms: createMs, first_run_ms: runMs, process_to_first_logits_ms: ageMs,
                             logit0: logits[0] }));
