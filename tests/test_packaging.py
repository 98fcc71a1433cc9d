"""A non-editable install works: the wheel carries every stage package, the grammars, the schemas, models.toml
and the adapters as real files, and `kgc-lite extract` runs from it in a fresh venv, away from this checkout.

Offline: the venv gets kgc-lite alone (--no-deps --no-index); its dependencies (llama-cpp-python, the embedded
base model's package, ...) are read from this interpreter's site-packages through PYTHONPATH, which does not
run .pth files, so the editable install of this checkout cannot leak in."""

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import orjson
import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


DEPS = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}  # this interpreter's packages, no .pth


def _pip(*args, python=sys.executable, env=None):
    proc = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], capture_output=True,
                          text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _fresh_venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(where)  # pip from ensurepip: offline
    return where / ("Scripts" if os.name == "nt" else "bin")


def _extract_from(bin_dir: Path, home: Path, cwd: Path) -> list[dict]:
    """`kgc-lite extract examples/news.txt` through the venv's own entry point, with the default model built from
    the installed adapter into an empty KGC_LITE_HOME."""
    env = {**DEPS, "KGC_LITE_HOME": str(home)}
    env.pop("KGC_LITE_MODELS", None)
    probe = subprocess.run([str(bin_dir / "python"), "-c", "import kgc_lite; print(kgc_lite.__file__)"],
                           capture_output=True, text=True, env=env, cwd=cwd)
    assert Path(probe.stdout.strip()).is_relative_to(bin_dir.parent), (probe.stdout, probe.stderr)
    proc = subprocess.run([str(bin_dir / "kgc-lite"), "extract", "--threads", "2", str(ROOT / "examples" / "news.txt")],
                          capture_output=True, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    records = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert records and all(r["id"].endswith("news.txt") for r in records)
    assert any(r["triplets"] for r in records)
    return records


def test_the_wheel_carries_everything_and_extracts_in_a_fresh_venv(tmp_path):
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(ROOT))
    (wheel,) = (tmp_path / "dist").glob("kgc_lite-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        registry = zf.read("kgc_lite/models.toml").decode()
        for package in ("cli", "io", "runtime", "models", "prompting", "extract", "qa4re", "data", "evaluation",
                        "train", "graph", "schemas", "grammars"):
            assert f"kgc_lite/{package}/__init__.py" in names, package
        assert "kgc_lite/grammars/triplets_natural.gbnf" in names and "kgc_lite/schemas/conll04.toml" in names
        assert "kgc_lite/output.schema.json" in names
        for adapter in (ROOT / "adapters").iterdir():
            weights = f"kgc_lite/adapters/{adapter.name}/adapter_model.safetensors"
            assert zf.getinfo(weights).file_size == (adapter / "adapter_model.safetensors").stat().st_size
    assert registry == (ROOT / "models.toml").read_text()  # the file itself, not a link to it
    bin_dir = _fresh_venv(tmp_path / "venv")
    _pip("install", "--no-deps", "--no-index", str(wheel), python=bin_dir / "python")
    wheel_records = _extract_from(bin_dir, tmp_path / "home-wheel", tmp_path)

    # `pip install .` (a non-editable build straight from the checkout, with this interpreter's setuptools)
    bin2 = _fresh_venv(tmp_path / "venv2")
    _pip("install", "--no-deps", "--no-index", "--no-build-isolation", str(ROOT), python=bin2 / "python", env=DEPS)
    assert _extract_from(bin2, tmp_path / "home-source", tmp_path) == wheel_records
