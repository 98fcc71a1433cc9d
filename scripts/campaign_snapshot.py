#!/usr/bin/env python
"""A training checkpoint made portable: its adapter in fp16 plus a card, small enough to commit, so that a new
machine goes on with `kgc-lite train --init-adapter SNAP --start-step N` (scripts/quality_cpu.sh does).

    python scripts/campaign_snapshot.py runs/qwen05-kg campaign/qwen05-kg

Writes SNAP/adapter_model.safetensors (fp16), SNAP/adapter_config.json and SNAP/campaign.json: the step, the
run's options, the loss curve of every stage so far (earlier stages' curves are kept from the previous card),
CPU seconds, and the sha256 of the weights.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from kgc_lite.evaluation.results import hardware
from kgc_lite.io.files import file_sha256

ROOT = Path(__file__).resolve().parents[1]


def main(run: Path, snap: Path) -> None:
    ckpt = run / "checkpoint"
    if not (ckpt / "state.pt").is_file():
        sys.exit(f"no checkpoint in {run}")
    import torch
    state = torch.load(ckpt / "state.pt", weights_only=False)
    options = json.loads((ckpt / "options.json").read_text())
    previous = json.loads((snap / "campaign.json").read_text()) if (snap / "campaign.json").is_file() else {}
    if previous and state["step"] < previous["step"]:
        sys.exit(f"{run} holds step {state['step']}, behind the snapshot's {previous['step']}: not overwritten")
    snap.mkdir(parents=True, exist_ok=True)
    weights = {k: v.astype(np.float16) for k, v in load_file(str(ckpt / "adapter_model.safetensors")).items()}
    save_file(weights, str(snap / "adapter_model.safetensors"), metadata={"format": "pt"})
    shutil.copy(ckpt / "adapter_config.json", snap / "adapter_config.json")
    # A run resumed from its own checkpoint carries its whole curve; one begun from a snapshot (--start-step)
    # carries only its own steps, so the curve is the earlier stages' up to where this stage began, then its own.
    curve = state["curve"]
    first = curve[0]["step"] if curve else state["step"] + 1
    earlier = [c for c in previous.get("loss_curve", []) if c["step"] < first]
    seconds = state.get("seconds", 0.0)
    stages = [s for s in previous.get("stages", []) if s["from_step"] < first - 1]
    stages.append({"from_step": first - 1, "to_step": state["step"], "seconds": round(seconds, 1),
                   "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                   "cpu": hardware()["cpu"]})
    card = {
        "kind": "kgc-lite training campaign snapshot",
        "step": state["step"],
        "of_steps": options["steps"],
        "train_seconds": round(sum(s["seconds"] for s in stages), 1),
        "stages": stages,
        "options": options,
        "adapter_sha256": file_sha256(snap / "adapter_model.safetensors"),
        "loss_curve": earlier + curve,
        "go_on": f"kgc-lite train ... --init-adapter {snap} --start-step {state['step']} (scripts/quality_cpu.sh)",
    }
    (snap / "campaign.json").write_text(json.dumps(card, indent=1))
    last = card["loss_curve"][-20:]
    mean = sum(c["loss"] for c in last) / max(1, len(last))
    print(f"{snap}: step {state['step']}/{options['steps']}, {card['train_seconds'] / 3600:.2f} h of training, "
          f"mean loss of the last {len(last)} steps {mean:.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
