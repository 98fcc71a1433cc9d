"""Results files: the model, config, data and metrics of one run, with what is needed to
trust it again later (version, git commit, source hash, hardware, date)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import orjson

from kgc_lite.errors import KgcError


# -- results files ----------------------------------------------------------------------------------------
def kgc_version() -> str:
    try:
        from importlib.metadata import version
        return version("kgc-lite")
    except Exception:  # not installed: running from a checkout
        return "unknown"


def git_state() -> dict | None:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)} if commit else None


def source_sha256() -> str:
    """One hash over kgc-lite's source files (code, grammars, schemas, models.toml) as they are now: pins the
    exact code behind a result even when the working tree is not committed."""
    import hashlib
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    files = [*sorted((root / "kgc_lite").rglob("*.py")), *sorted((root / "kgc_lite").rglob("*.toml")),
             *sorted((root / "grammars").glob("*.gbnf")), root / "models.toml"]
    for f in files:
        if f.is_file():
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def hardware(threads: int | None = None, n_gpu_layers: int = 0) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        mem_gib = round(int(m.group(1)) / 2**20, 1) if m else None
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        from importlib.metadata import version
        llama_version = version("llama-cpp-python")
    except Exception:
        llama_version = None
    return {"cpu": cpu, "cores": cores, "memory_gib": mem_gib, "threads": threads, "n_gpu_layers": n_gpu_layers,
            "platform": platform.platform(), "python": platform.python_version(),
            "llama_cpp_python": llama_version}


# llama.cpp's LLAMA_FTYPE values (general.file_type in GGUF metadata)
_FTYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
           12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
           19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
           26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16"}


def quantization(metadata: Mapping[str, str] | None, path: str | Path | None = None) -> str | None:
    """The quantization of a GGUF from its metadata (general.file_type), else from its file name."""
    try:
        ftype = int((metadata or {}).get("general.file_type", ""))
        if ftype in _FTYPES:
            return _FTYPES[ftype]
    except ValueError:
        pass
    m = re.search(r"(?i)(IQ\d_\w+|Q\d_K_[SML]|Q\d_K|Q\d_\d|F16|BF16|F32)", Path(path).name if path else "")
    return m.group(1).upper() if m else None


def model_info(resolved, engine=None) -> dict:
    """What identifies the model of a run: registry name, file, sha256, quantization."""
    metadata = getattr(getattr(engine, "llm", None), "metadata", None)
    return {"name": resolved.spec.name, "path": str(resolved.path), "file": Path(resolved.path).name,
            "sha256": resolved.sha256, "quantization": quantization(metadata, resolved.path),
            "prompt_format": resolved.spec.prompt_format}


def results_document(kind: str, *, model: dict | None, config: dict, data: dict, metrics: dict,
                     runs: list[dict] | None = None, threads: int | None = None, n_gpu_layers: int = 0,
                     extra: dict | None = None) -> dict:
    """The one results-file structure every `eval` and `bench` writes (and `report` reads)."""
    doc = {"kind": kind, "kgc_lite_version": kgc_version(), "git": git_state(), "source_sha256": source_sha256(),
           "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "command": " ".join(["kgc-lite", *sys.argv[1:]]) if sys.argv and "kgc-lite" in sys.argv[0] else None,
           "hardware": hardware(threads, n_gpu_layers), "model": model, "config": config, "data": data,
           "metrics": metrics}
    if runs is not None:
        doc["runs"] = runs
    if extra:
        doc.update(extra)
    return doc


def write_results(doc: dict, path: str | Path | None) -> None:
    """Write a results document to path (parents created), or to stdout when path is None or '-'."""
    blob = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if path in (None, "-"):
        sys.stdout.buffer.write(blob)
        sys.stdout.flush()
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    except OSError as exc:
        raise KgcError(f"cannot write results file {path}: {exc.strerror}") from None


class NotResultsFile(KgcError):
    """Valid JSON, but not written by `kgc-lite eval` / `bench`."""


def load_results(path: str | Path) -> dict:
    path = Path(path)
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise KgcError(f"cannot read results file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise KgcError(f"results file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "metrics" not in doc or "kind" not in doc:
        raise NotResultsFile(f"{path} is not a kgc-lite results file (no \"kind\" / \"metrics\")")
    doc["_path"] = str(path)
    return doc
