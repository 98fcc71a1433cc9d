#!/usr/bin/env python
"""Does an adapter merged by `kgc-lite convert` compute what PEFT computes, for this base's architecture?

    python scripts/check_merge.py --base qwen2.5-coder-0.5b-instruct --adapter campaign/qwen05-kg [--gain 30]

tests/test_convert.py checks the merge on the embedded SmolLM2 (llama arch: Q/K rows permuted). A new base
(Qwen2: no permutation, q/k/v biases, tied embeddings) gets this check before a campaign's hours go into it: the
adapter's B matrices are multiplied by --gain so that its change to the logits is large (a young adapter barely
moves them, and any merge would look right), the result is merged into an F16 GGUF, and next-token logits from
llama.cpp are compared with transformers + PEFT on the dequantized base over a few prompts: Pearson correlation
over the vocabulary, and whether the top-1 token agrees.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

PROMPTS = ["Microsoft is based in Redmond, Washington, and was founded by",
           "The capital of France is", "def fibonacci(n):", "Triplets: [[\"Ada Lovelace\", \""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--gain", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from peft import PeftModel
    from safetensors.torch import load_file, save_file

    from kgc_lite.models.merge import merge_gguf
    from kgc_lite.runtime.engine import Engine
    from kgc_lite.train.loop import load_base, resolve_base

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    loud = tmp / "adapter"
    loud.mkdir()
    shutil.copy(Path(args.adapter) / "adapter_config.json", loud / "adapter_config.json")
    weights = {k: (v.float() * args.gain if "lora_B" in k else v.float())
               for k, v in load_file(str(Path(args.adapter) / "adapter_model.safetensors")).items()}
    save_file(weights, str(loud / "adapter_model.safetensors"))

    base = resolve_base(args.base)
    merged = merge_gguf(base.path, loud, tmp / "merged.gguf", "F16")
    model, tok = load_base(base, torch.float32)
    model = PeftModel.from_pretrained(model, str(loud)).eval()
    engine = Engine(merged, n_ctx=512, n_threads=args.threads)
    plain = Engine(base.path, n_ctx=512, n_threads=args.threads)  # how far the adapter moves the logits
    rows = []
    for prompt in PROMPTS:
        ids = engine.tokenize(prompt, bos=True)
        with torch.no_grad():
            ref = model(torch.tensor([ids])).logits[0, -1].float().numpy()
        got = np.asarray(engine.next_logits(ids), dtype=np.float64)[: ref.shape[0]]
        untuned = np.asarray(plain.next_logits(ids), dtype=np.float64)[: ref.shape[0]]
        rows.append({"prompt": prompt, "correlation": round(float(np.corrcoef(ref, got)[0, 1]), 5),
                     "top1_equal": int(ref.argmax()) == int(got.argmax()),
                     "correlation_with_the_base": round(float(np.corrcoef(untuned, got)[0, 1]), 5)})
        print(json.dumps(rows[-1]))
    engine.close()
    plain.close()
    shutil.rmtree(tmp)
    worst = min(r["correlation"] for r in rows)
    moved = max(r["correlation_with_the_base"] for r in rows)
    ok = worst >= 0.999 and all(r["top1_equal"] for r in rows)
    print(f"{'ok' if ok else 'MISMATCH'}: lowest correlation {worst:.5f} over {len(rows)} prompts (gain {args.gain}; "
          f"the untuned base's logits correlate at most {moved:.3f} with the merged model's)")
    if moved > 0.99:
        print("the adapter hardly moves the logits: raise --gain for a check that can fail")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
