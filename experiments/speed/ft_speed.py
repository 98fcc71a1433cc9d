"""Merged GGUF vs runtime LoRA: extraction speed and agreement on the first N test sentences.

    python experiments/speed/ft_speed.py --dataset conll04 --n 60 --threads 1 \
        --merged Q8_0=~/.cache/kgc-lite/models/smollm2-135m-kg.gguf --merged Q4_0=/tmp/kg-q4_0.gguf \
        --lora /tmp/kg-lora.gguf

Runtime LoRA = the untuned base GGUF (the embedded Q4_1) + the adapter exported with `kgc-lite convert --lora-only`,
applied by llama.cpp at every forward pass. Prints one JSON line per variant: sentences/s, strict micro-F1 on
those sentences, and how many sentences' triplets equal the first variant's.
"""

from __future__ import annotations

import argparse
import json
import time
from unittest import mock

from kgc_lite.data.benchmarks import load_split
from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.models.resolve import resolve


def f1(golds, preds):
    tp = fp = fn = 0
    for g, p in zip(golds, preds):
        g, p = {t.key for t in g}, {t.key for t in p}
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
    pr = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    return 2 * pr * rc / (pr + rc) if pr + rc else 0.0


def run(label, model_path, lora, data, opts, threads):
    import llama_cpp
    real = llama_cpp.Llama
    patch = mock.patch.object(llama_cpp, "Llama", lambda *a, **k: real(*a, lora_path=lora, **k)) if lora else None
    if patch:
        patch.start()
    try:
        ex = Extractor(model_path, opts["schema"], ExtractOptions(style="natural", icl=0), n_threads=threads)
    finally:
        if patch:
            patch.stop()
    ex.extract(data[0].text)  # warm the prefix cache
    start = time.perf_counter()
    preds = [ex.extract(d.text) for d in data]
    secs = time.perf_counter() - start
    return preds, {"variant": label, "sentences": len(data), "sentences_per_s": round(len(data) / secs, 3),
                   "f1": round(100 * f1([d.triplets for d in data], preds), 1),
                   "generated_tokens": ex.engine.stats.generated_tokens}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="conll04")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--merged", action="append", default=[], help="LABEL=path.gguf")
    ap.add_argument("--lora", help="GGUF LoRA applied at run time to the embedded base")
    a = ap.parse_args()
    data = load_split(a.dataset, "test")[: a.n]
    first = None
    variants = [(m.split("=", 1)[0], m.split("=", 1)[1], None) for m in a.merged]
    if a.lora:
        variants.append(("runtime-lora", str(resolve(None).path), a.lora))
    for label, path, lora in variants:
        preds, rec = run(label, path, lora, data, {"schema": a.dataset}, a.threads)
        keys = [sorted(t.key for t in p) for p in preds]
        first = first or keys
        rec["same_as_first"] = sum(x == y for x, y in zip(first, keys))
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
