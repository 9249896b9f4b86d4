#!/usr/bin/python3
"""The conversion peer of bench/conversion.sh: what a PyTorch user runs to get a dynamic-int8
checkpoint of the same model, timed as one process by the caller (wall, peak RSS):
torch.load of the state dict, a module tree rebuilt from its names and shapes (no random
initialisation: torch.nn.utils.skip_init; every 2-D
".weight" outside the embeddings an nn.Linear, embeddings nn.Embedding, LayerNorm nn.LayerNorm:
the modules of BertForSequenceClassification, without importing anything else) filled with it,
torch.quantization.quantize_dynamic({nn.Linear}, qint8), torch.save of the quantized state dict.
Prints one JSON line with its own phase times.

Run: /usr/bin/python3 bench/torch_quantize_peer.py IN.bin OUT.pt
"""
import json
import os
import sys
import time

import torch
from torch import nn
from torch.nn.utils import skip_init



def build_module(state, eps=1e-5):
    """The module tree of BertForSequenceClassification rebuilt from the state dict's names and
    shapes, uninitialised (skip_init); also used by torch_calibrate_peer.py."""
    root = nn.Module()
    for key, t in state.items():
        if not key.endswith(".weight"):
            continue
        path = key[: -len(".weight")].split(".")
        parent = root
        for part in path[:-1]:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        if "LayerNorm" in path[-1]:
            mod = skip_init(nn.LayerNorm, t.shape[0], eps=eps)
        elif "embeddings" in path[-1]:
            mod = skip_init(nn.Embedding, t.shape[0], t.shape[1])
        else:
            mod = skip_init(nn.Linear, t.shape[1], t.shape[0], bias=(key[: -len("weight")] + "bias") in state)
        parent.add_module(path[-1], mod)
    return root


def main():
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    t0 = time.perf_counter()
    state = torch.load(sys.argv[1], map_location="cpu")
    t1 = time.perf_counter()
    model = build_module(state)
    model.load_state_dict({k: v for k, v in state.items() if not k.endswith("position_ids")}, strict=True)
    model.eval()
    q = torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    t2 = time.perf_counter()
    torch.save(q.state_dict(), sys.argv[2])
    t3 = time.perf_counter()
    print(json.dumps({"load_s": t1 - t0, "quantize_s": t2 - t1, "save_s": t3 - t2,
                      "out_bytes": os.path.getsize(sys.argv[2]), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
