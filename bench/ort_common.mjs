// Shared by the ONNX Runtime side of the benchmarks: the prepared inputs (prepare_bert_base.py
// writes NAME.bin = int32 LE input_ids | attention_mask | token_type_ids, and NAME.json with batch,
// seq and the torch logits), sessions with fixed thread settings, and the timing statistics that
// bench_encoder.c computes the same way (sorted samples, linear interpolation between ranks).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';

export { ort };

export function loadInput(binPath) {
  const meta = JSON.parse(readFileSync(binPath.replace(/\.bin$/, '.json'), 'utf8'));
  const { batch, seq } = meta;
  const buf = readFileSync(binPath);
  const n = batch * seq;
  if (buf.length !== 3 * n * 4) {
    throw new Error(`${binPath}: ${buf.length} bytes, expected ${3 * n * 4} for batch ${batch} x seq ${seq}`);
  }
  const all = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const tensor = (k) => new ort.Tensor('int64', BigInt64Array.from(all.subarray(k * n, (k + 1) * n), BigInt),
                                      [batch, seq]);
  return {
    batch, seq, logits: meta.logits,
    feeds: { input_ids: tensor(0), attention_mask: tensor(1), token_type_ids: tensor(2) },
  };
}

export async function createSession(modelPath, threads) {
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  return { session, createMs: performance.now() - t0 };
}

export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith('--') || !(k.slice(2) in defaults) || i + 1 >= argv.length) {
      throw new Error(`unknown or incomplete option ${k}; options: ${Object.keys(defaults).map((x) => '--' + x).join(' ')}`);
    }
    const v = argv[++i];
    out[k.slice(2)] = typeof defaults[k.slice(2)] === 'number' ? Number(v) : v;
  }
  return out;
}
