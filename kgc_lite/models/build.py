"""Fine-tuned registry models, built at first use: the adapter in adapters/ merged into its base
and quantized (kgc_lite/models/merge.py), hash-checked, cached under home()/models."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from kgc_lite.errors import KgcError
from kgc_lite.io.files import file_sha256
from kgc_lite.models.merge import merge_and_quantize
from kgc_lite.models.registry import home, registry_path, verify_file


# -- fine-tuned registry models ----------------------------------------------------------------------------------
def adapter_dir(spec) -> Path:
    return (registry_path().parent / spec.adapter).resolve()


def build_registry_model(spec, base_path: Callable[[], Path]) -> Path:
    """Build a fine-tuned registry model into home()/models/NAME.gguf: verify the adapter's hash, get the base
    (`base_path()`: resolved and verified by the caller, only when a build is needed), merge, quantize to spec.quant, then check the result against spec.sha256. Takes a few
    seconds for a 135M model; later runs find the file in the cache.

    Safe when several processes start at once (a test run beside a user's command): builders take turns under a
    lock file, one that waited finds the file built and checks it instead of building again, and the file is
    built under a temporary name and renamed into place whole, so no reader ever sees half of it. A file that
    fails its check (built from an older adapter) is rebuilt."""
    folder = adapter_dir(spec)
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise KgcError(f"model {spec.name!r}: its adapter {folder} is missing (reinstall kgc-lite)")
    if spec.adapter_sha256 and file_sha256(weights) != spec.adapter_sha256:
        raise KgcError(f"model {spec.name!r}: adapter {weights} does not match its sha256 in models.toml")
    if not spec.base:
        raise KgcError(f"model {spec.name!r} has an adapter but no base in models.toml")
    out = home() / "models" / f"{spec.name}.gguf"
    with _exclusive(out):
        if out.exists():
            try:
                verify_file(out, spec.sha256, spec.name)
                return out  # built by another process while this one waited
            except KgcError:
                pass  # stale: build it again
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{spec.name}.") as tmp:
            built = merge_and_quantize(base_path(), folder, Path(tmp) / out.name, spec.quant)
            if spec.sha256 and file_sha256(built) != spec.sha256:
                raise KgcError(f"model {spec.name!r}: the merged file built from {spec.base} + {folder.name} does "
                               "not match its sha256 in models.toml (a different llama.cpp build may quantize "
                               "differently)")
            os.replace(built, out)
    return out


@contextmanager
def _exclusive(path: Path):
    """An exclusive advisory lock on PATH.lock while the `with` runs (fcntl.flock; where fcntl does not exist, as
    on Windows, no lock, and the rename into place alone keeps half-built files out of sight)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:  # closing it releases the lock
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
