"""Options that several commands share, defined once so their names, help and defaults cannot drift apart."""

from __future__ import annotations

from typing import Optional

import typer

from ..engine import resolve_gpu_layers

GPU_LAYERS_HELP = ("Layers to offload to a CUDA/Metal GPU (-1: all, 0: none). Default: all when this "
                   "llama-cpp-python build has a GPU backend, else none.")


def gpu_layers_option() -> Optional[int]:
    """`--n-gpu-layers`: None until resolved by `gpu_layers`."""
    return typer.Option(None, "--n-gpu-layers", help=GPU_LAYERS_HELP)


def gpu_layers(requested: Optional[int]) -> int:
    """The layers to offload for --n-gpu-layers as given (None: the default), warning on a CPU-only build."""
    return resolve_gpu_layers(requested, warn=lambda m: typer.echo(f"kgc-lite: warning: {m}", err=True))
