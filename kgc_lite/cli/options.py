"""Options that several commands share, defined once so their names, help and defaults cannot drift apart."""

from __future__ import annotations

from typing import Optional

import typer

from kgc_lite.runtime.engine import resolve_gpu_layers

GPU_LAYERS_HELP = ("Layers to offload to a CUDA/Metal GPU (-1: all, 0: none). Default: all when this "
                   "llama-cpp-python build has a GPU backend, else none.")


def gpu_layers_option() -> Optional[int]:
    """`--n-gpu-layers`: None until resolved by `gpu_layers`."""
    return typer.Option(None, "--n-gpu-layers", help=GPU_LAYERS_HELP)


def gpu_layers(requested: Optional[int]) -> int:
    """The layers to offload for --n-gpu-layers as given (None: the default), warning on a CPU-only build."""
    return resolve_gpu_layers(requested, warn=lambda m: typer.echo(f"kgc-lite: warning: {m}", err=True))


# Shared by extract and eval, which both run the extractor.
RETOKENIZE_OPTION = typer.Option(None, "--retokenize/--no-retokenize", help="Show ordinary text to the model split "
                                 "as its pre-tokenized training text ('Redmond , Washington .') and map its spans "
                                 "back to your text. Default: on for models trained on pre-tokenized text "
                                 "(models.toml tokenized_text, as the default model is).")


# One definition each of the options every model-running command takes (extract, eval, bench; qa4re spells the
# same texts in its Annotated form): tests/test_cli_options.py checks they agree everywhere.
MODEL_HELP = "Model name from models.toml, or a .gguf path. Default: models.toml's default."
THREADS_HELP = "CPU threads (default: cores, max 8)."
CTX_HELP = "Context window in tokens (default: the model's entry in models.toml)."
PROGRESS_HELP = "Show progress on stderr (default: when stderr is a terminal)."


def model_option():
    return typer.Option(None, "--model", "-m", help=MODEL_HELP)


def threads_option():
    return typer.Option(None, "--threads", "-t", min=1, help=THREADS_HELP)


def ctx_option():
    return typer.Option(None, "--ctx", min=256, help=CTX_HELP)


def progress_option():
    return typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP)
