"""bench/ort_python_compare.py — the same comparison as bench/ort_compare.mjs with ONNX Runtime's
Python package, for machines that have it (the lent GPU machine: onnxruntime 1.30 with its
transformers optimizer; here only CPU execution is used). Also runs
onnxruntime.transformers.optimizer (model_type bert) on the FP32 graphs and reports the fused
nodes (Attention, SkipLayerNormalization, BiasGelu ...) and the optimized graphs' logits and
latency beside the others.

  python3 bench/ort_python_compare.py --ids IDS.json --heads 4 --hidden 256 \
      torch_fp32=model.onnx export_fp32=export.onnx [int8 graphs ...]
IDS.json: a list of token-id lists (one row each, batch 1, mask ones). The first graph is the
reference of the paired ratios; graphs named *_fp32 also go through the optimizer.
"""
import argparse, collections, json, os, random, statistics, sys, tempfile, time

import numpy as np
import onnxruntime as ort

ap = argparse.ArgumentParser()
ap.add_argument("--ids", required=True)
ap.add_argument("--heads", type=int, required=True)
ap.add_argument("--hidden", type=int, required=True)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--long", type=int, default=200, help="rows of 128 random ids (vocab from --vocab)")
ap.add_argument("--vocab", type=int, default=8000)
ap.add_argument("graphs", nargs="+")
a = ap.parse_args()
print("onnxruntime", ort.__version__, "cpus", os.cpu_count())
paths = dict(g.split("=", 1) for g in a.graphs)
tmp = tempfile.mkdtemp()
from onnxruntime.transformers import optimizer  # noqa: E402

for n in [n for n in list(paths) if n.endswith("_fp32")]:
    m = optimizer.optimize_model(paths[n], model_type="bert", num_heads=a.heads, hidden_size=a.hidden, opt_level=0)
    c = collections.Counter(x.op_type for x in m.model.graph.node)
    fused = ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "LayerNormalization", "EmbedLayerNormalization",
             "BiasGelu", "Gelu", "FastGelu")
    print(f"transformers optimizer on {n}: " + ", ".join(f"{k} {c[k]}" for k in fused if c[k]))
    paths[n + "_ortopt"] = f"{tmp}/{n}_ortopt.onnx"
    m.save_model_to_file(paths[n + "_ortopt"])
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
names = list(paths)
sess = {n: ort.InferenceSession(paths[n], so, providers=["CPUExecutionProvider"]) for n in names}


def feeds(s, row):
    x = np.array([row], dtype=np.int64)
    return {i.name: x if i.name == "input_ids" else np.ones_like(x) if i.name == "attention_mask" else np.zeros_like(x)
            for i in s.get_inputs()}


ids = json.load(open(a.ids))
for n in [n for n in names if n.endswith("_ortopt")]:
    b = n[: -len("_ortopt")]
    d = max(float(np.abs(sess[n].run(["logits"], feeds(sess[n], r))[0] - sess[b].run(["logits"], feeds(sess[b], r))[0]).max())
            for r in ids[:200])
    print(f"{n}: max |dlogit| vs {b} on {min(200, len(ids))} rows {d:.2e}")
rng = random.Random(20251121)
long = [[2] + [rng.randrange(5, a.vocab) for _ in range(126)] + [3] for _ in range(a.long)]
for label, rows in (("given rows", ids), ("128 random tokens", long)):
    prep = {n: [feeds(sess[n], r) for r in rows] for n in names}
    for n in names:
        for f in prep[n][:20]:
            sess[n].run(None, f)
    ms = {n: [] for n in names}
    turn = 0
    for _ in range(a.rounds):
        for i in range(len(rows)):
            for j in range(len(names)):
                n = names[(j + turn) % len(names)]
                t0 = time.perf_counter()
                sess[n].run(None, prep[n][i])
                ms[n].append(1e3 * (time.perf_counter() - t0))
            turn += 1
    print(f"{label}: {len(rows)} rows x {a.rounds} rounds, batch 1, 1 thread, interleaved row by row")
    for n in names:
        ratio = statistics.median(x / y for x, y in zip(ms[n], ms[names[0]]))
        print(f"  {n:<20} mean {statistics.mean(ms[n]):8.3f} ms  median {statistics.median(ms[n]):8.3f} ms  "
              f"paired ratio vs {names[0]} {ratio:.3f}")
