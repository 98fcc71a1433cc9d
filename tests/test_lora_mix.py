"""scripts/lora_mix.py: two LoRA adapters mixed in weight space and written exactly as one adapter, checked by
the delta that kgc_lite.models.merge merges."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

safetensors = pytest.importorskip("safetensors.numpy")

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "lora_mix.py"
NAME = "base_model.model.model.layers.0.self_attn.q_proj.lora_{}.weight"


def adapter(folder: Path, rank: int, alpha: float, seed: int, rslora: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir()
    safetensors.save_file({NAME.format("A"): rng.normal(size=(rank, 12)).astype(np.float16),
                           NAME.format("B"): rng.normal(size=(10, rank)).astype(np.float16)},
                          str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank, "lora_alpha": alpha,
                                                            "use_rslora": rslora, "target_modules": ["q_proj"]}))
    return folder


def delta(folder: Path) -> np.ndarray:
    from kgc_lite.models.merge import read_lora
    lora = read_lora(folder)
    (a, b), = lora.pairs.values()
    return lora.scale * (b.astype(np.float64) @ a.astype(np.float64))


@pytest.mark.parametrize("w", [0.5, 0.2])
def test_mix_is_the_weighted_sum_of_the_deltas(tmp_path, w):
    a = adapter(tmp_path / "a", 4, 8.0, seed=1)
    b = adapter(tmp_path / "b", 2, 16.0, seed=2, rslora=True)   # other rank, other scale rule
    out = tmp_path / "mix"
    done = subprocess.run([sys.executable, str(SCRIPT), str(a), str(b), str(w), str(out)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 6
    want = w * delta(a) + (1 - w) * delta(b)
    got = delta(out)
    assert np.abs(got - want).max() <= 2e-3 * np.abs(want).max()   # fp16 factors
    assert np.abs(got - delta(a)).max() > 0.05 * np.abs(want).max()   # not one of the inputs


def test_mix_refuses_a_weight_outside_0_1(tmp_path):
    a = adapter(tmp_path / "a", 2, 4.0, seed=1)
    done = subprocess.run([sys.executable, str(SCRIPT), str(a), str(a), "1.5", str(tmp_path / "m")],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "between 0 and 1" in done.stderr
