#!/usr/bin/env python
"""Ship a trained adapter as a models.toml entry: copy it into adapters/NAME, build the merged GGUF the way
first use builds it, and write both sha256 values into the entry (which must already name base, adapter, quant).

    python scripts/ship_adapter.py smollm2-135m-qa4re /work/runs/qa-semeval
    python scripts/ship_adapter.py qwen05-kg campaign/qwen05-kg       # a campaign snapshot

Then `kgc-lite models verify NAME` rebuilds the cached GGUF from scratch and checks it.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from kgc_lite.io.files import file_sha256
from kgc_lite.models.merge import merge_and_quantize
from kgc_lite.models.registry import home, spec_for
from kgc_lite.models.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]


def main(name: str, run: str) -> None:
    spec = spec_for(name)
    if not (spec.base and spec.adapter):
        sys.exit(f"models.toml entry {name} needs base and adapter")
    dest = ROOT / spec.adapter
    dest.mkdir(parents=True, exist_ok=True)
    # a training run's folder carries run_card.json; a campaign snapshot (scripts/campaign_snapshot.py) its
    # campaign.json, which `kgc-lite convert` and first-use builds read the prompt from in the same way
    cards = [f for f in ("run_card.json", "campaign.json") if (Path(run) / f).exists()]
    if not cards:
        sys.exit(f"{run} has neither run_card.json nor campaign.json: the prompt it was trained with is unknown")
    for f in ("adapter_model.safetensors", "adapter_config.json", cards[0]):
        shutil.copy(Path(run) / f, dest / f)
    adapter_sha = file_sha256(dest / "adapter_model.safetensors")
    tmp = Path(tempfile.mkdtemp()) / "merged.gguf"
    merge_and_quantize(resolve(spec.base).path, dest, tmp, spec.quant)
    merged_sha = file_sha256(tmp)
    registry = ROOT / "models.toml"
    text = registry.read_text()
    start = text.index(f"[models.{name}]") if f"[models.{name}]" in text else text.index(f'[models."{name}"]')
    end = text.find("\n[models.", start + 1)
    end = len(text) if end < 0 else end
    block = re.sub(r'adapter_sha256 = "[^"]*"', f'adapter_sha256 = "{adapter_sha}"', text[start:end])
    block = re.sub(r'\nsha256 = "[^"]*"', f'\nsha256 = "{merged_sha}"', block)
    registry.write_text(text[:start] + block + text[end:])
    (home() / "models" / f"{name}.gguf").unlink(missing_ok=True)
    print(f"{name}: adapter {adapter_sha}, merged {spec.quant} {merged_sha}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
