// Latency of one model on one prepared input in ONNX Runtime (onnxruntime-node, CPU): session with
// intraOpNumThreads = T, interOpNumThreads = 1, all graph optimizations; W warm-up runs, then N timed
// runs of session.run. Prints one JSON line, the same shape bench_encoder prints.
//   node bench/ort_latency.mjs --model build/bench/model.onnx --input build/bench/inputs/b1x128.bin \
//        [--threads 1] [--warmup 5] [--runs 30]
import { performance } from 'node:perf_hooks';
import { ort, loadInput, createSession, quantile, maxAbsDiff, parseArgs } from './ort_common.mjs';

async function main() {
  const a = parseArgs(process.argv.slice(2), { model: '', input: '', threads: 1, warmup: 5, runs: 30 });
  if (!a.model || !a.input || !(a.threads >= 1) || !(a.runs >= 1) || !(a.warmup >= 0)) {
    throw new Error('need --model and --input; --threads >= 1, --runs >= 1, --warmup >= 0');
  }
  const input = loadInput(a.input);
  const { session, createMs } = await createSession(a.model, a.threads);
  let out;
  for (let i = 0; i < a.warmup; i++) out = await session.run(input.feeds);
  const ms = [];
  for (let i = 0; i < a.runs; i++) {
    const t0 = performance.now();
    out = await session.run(input.feeds);
    ms.push(performance.now() - t0);
  }
  ms.sort((x, y) => x - y);
  const logits = Array.from(out.logits.data);
  console.log(JSON.stringify({
    engine: `onnxruntime-node ${ort.env.versions.common}`,
    model: a.model,
    batch: input.batch,
    seq: input.seq,
    threads: a.threads,
    runs: a.runs,
    median_ms: +quantile(ms, 0.5).toFixed(3),
    p10: +quantile(ms, 0.1).toFixed(3),
    p90: +quantile(ms, 0.9).toFixed(3),
    session_create_ms: +createMs.toFixed(1),
    max_abs_diff_vs_torch: maxAbsDiff(logits, input.logits.flat()),
  }));
  await session.release();
}

main().catch((e) => { console.error(`ort_latency: ${e.message}`); process.exit(1); });
