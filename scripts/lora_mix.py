#!/usr/bin/env python
"""Two LoRA adapters of one base mixed in weight space, written exactly as one adapter:

    delta = w * delta(A) + (1 - w) * delta(B)

(WiSE-FT's interpolation between a model and its further-trained self). A LoRA delta is scale * B @ A, so the mix
is one LoRA of rank rA + rB: the two A matrices stacked, the two B matrices side by side, each pair scaled so that
its product carries its weight and its own scale. The result is a PEFT folder (adapter_model.safetensors,
adapter_config.json, run_card.json naming both inputs) that `kgc-lite convert` and `scripts/ship_adapter.py` take
as any other.

    python scripts/lora_mix.py adapters/smollm2-135m-kg runs/kg-stage7 0.5 runs/kg-mix50
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from kgc_lite.io.files import file_sha256
from kgc_lite.models.merge import lora_scale


def mix(a_dir: Path, b_dir: Path, w: float, out: Path) -> None:
    if not 0.0 <= w <= 1.0:
        sys.exit(f"weight {w} is not between 0 and 1")
    cfg_a = json.loads((a_dir / "adapter_config.json").read_text())
    cfg_b = json.loads((b_dir / "adapter_config.json").read_text())
    if sorted(cfg_a.get("target_modules") or []) != sorted(cfg_b.get("target_modules") or []):
        sys.exit("the adapters adapt different modules (target_modules)")
    ta, tb = load_file(str(a_dir / "adapter_model.safetensors")), load_file(str(b_dir / "adapter_model.safetensors"))
    if set(ta) != set(tb):
        sys.exit("the adapters do not adapt the same weights")
    rank = int(cfg_a["r"]) + int(cfg_b["r"])
    # the output's own scale is alpha / rank; each input's factors are scaled so that the product comes out as
    # weight * its own scale * B @ A
    out_scale = 2.0
    ka = math.sqrt(w * lora_scale(cfg_a) / out_scale)
    kb = math.sqrt((1.0 - w) * lora_scale(cfg_b) / out_scale)
    mixed = {}
    for name in sorted(ta):
        x, y = ta[name].astype(np.float32), tb[name].astype(np.float32)
        if ".lora_A." in name:
            mixed[name] = np.concatenate([ka * x, kb * y], axis=0)
        elif ".lora_B." in name:
            mixed[name] = np.concatenate([ka * x, kb * y], axis=1)
        else:
            sys.exit(f"unexpected tensor {name}")
        mixed[name] = mixed[name].astype(ta[name].dtype)
    out.mkdir(parents=True, exist_ok=True)
    save_file(mixed, str(out / "adapter_model.safetensors"))
    cfg = {**cfg_a, "r": rank, "lora_alpha": out_scale * rank, "use_rslora": False, "rank_pattern": {},
           "alpha_pattern": {}}
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    card = {"kind": "kgc-lite lora mix", "command": "python " + " ".join(sys.argv),
            "delta": f"{w} * delta(A) + {1 - w} * delta(B)", "rank": rank,
            "A": {"path": str(a_dir), "sha256": file_sha256(a_dir / "adapter_model.safetensors"),
                  "run_card": _card(a_dir)},
            "B": {"path": str(b_dir), "sha256": file_sha256(b_dir / "adapter_model.safetensors"),
                  "run_card": _card(b_dir)}}
    (out / "run_card.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {out}: rank {rank}, {w} * {a_dir} + {1 - w} * {b_dir}")


def _card(d: Path):
    p = d / "run_card.json"
    return json.loads(p.read_text()) if p.exists() else None


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    mix(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
