"""`kgc-lite extract`: text in, triplets out (JSONL)."""

from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import InputError, KgcError
from ..extract import ExtractOptions, Extractor
from ..grammar import ENTITY_MODES
from ..inputs import read_documents
from ..engine import resolve_gpu_layers
from ..models import resolve
from ..prompts import STYLES
from . import Progress, app, fail, write_jsonl

ON_ERROR = ("stop", "skip")


@app.command("extract")
def extract_command(
    files: List[str] = typer.Argument(None, help="Text files to read; none or '-' reads stdin."),
    jsonl: bool = typer.Option(False, "--jsonl", help='Input is JSONL records {"text": ..., "id": ...} instead of '
                               "plain text (one document per file)."),
    schema: str = typer.Option("conll04", "--schema", "-s", help="Relation schema: conll04, ade, scierc, or a "
                               ".toml/.json schema file (see README)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name from models.toml, or a .gguf path. "
                                        "Default: models.toml's default."),
    prompt_style: Optional[str] = typer.Option(None, "--prompt-style", help=f"Answer style: {' or '.join(STYLES)} "
                                               "(default: the model's, from models.toml)."),
    icl: Optional[int] = typer.Option(None, "--icl", min=0, help="In-context examples in the prompt, from the "
                                      "schema (default: the model's, from models.toml)."),
    rationale: bool = typer.Option(False, "--rationale/--no-rationale", help="Let the model list relations and "
                                   "entities before the triplets (helps untuned models only)."),
    entities: str = typer.Option("text", "--entities", help="'text': heads and tails are spans of the input, "
                                 "enforced by the grammar; 'free': any string."),
    split: bool = typer.Option(True, "--split/--no-split", help="Split documents into sentences; --no-split "
                               "keeps each document (or JSONL record) whole unless it exceeds --max-chars."),
    max_chars: int = typer.Option(1200, "--max-chars", min=50, help="Longest unit sent to the model; longer "
                                  "sentences are cut at spaces."),
    on_error: str = typer.Option("stop", "--on-error", help="stop: first bad record ends the run (exit 1); "
                                 "skip: write an error line for it and go on."),
    batch: int = typer.Option(1, "--batch", "-b", min=1, max=64, help="Units decoded together in one llama.cpp "
                              "batch: more throughput, output in groups of this size."),
    n_gpu_layers: Optional[int] = typer.Option(None, "--n-gpu-layers", help="Layers to offload to a CUDA/Metal "
                                               "GPU (-1: all). Default: all when the build has a GPU backend."),
    threads: Optional[int] = typer.Option(None, "--threads", "-t", min=1, help="CPU threads (default: cores, max 8)."),
    ctx: Optional[int] = typer.Option(None, "--ctx", min=256, help="Context window in tokens (default: the model's "
                                      "entry in models.toml)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show a counter on stderr "
                                            "(default: when stderr is a terminal)."),
) -> None:
    """Extract (head, relation, tail) triplets from text; one JSON line per sentence-sized unit."""
    for value, allowed, name in ((prompt_style, STYLES, "--prompt-style"), (entities, ENTITY_MODES, "--entities"),
                                 (on_error, ON_ERROR, "--on-error")):
        if value is not None and value not in allowed:
            raise fail(f"{name} must be one of: {', '.join(allowed)} (got {value!r})", 2)
    resolved = resolve(model)
    n_gpu_layers = resolve_gpu_layers(n_gpu_layers, warn=lambda m: typer.echo(f"kgc-lite: warning: {m}", err=True))
    options = ExtractOptions(style=prompt_style or resolved.spec.prompt_style,
                             icl=resolved.spec.icl if icl is None else icl, rationale=rationale, entities=entities)
    extractor = Extractor(schema=schema, options=options, n_ctx=ctx, n_threads=threads, n_gpu_layers=n_gpu_layers,
                          resolved=resolved)
    counter = Progress("units", progress)
    errors = 0
    for source in files or ["-"]:
        try:
            errors += write_jsonl(_stop_at_bad(extractor.records(read_documents([source], jsonl), max_chars, batch, split),
                                               on_error), counter)
        except KgcError as exc:
            if on_error == "stop":
                raise
            errors += write_jsonl([{"id": source, "error": str(exc)}])
    if errors and on_error == "skip":
        typer.echo(f"kgc-lite: {errors} record(s) skipped with errors", err=True)


def _stop_at_bad(records, on_error: str):
    for record in records:
        if "error" in record and on_error == "stop":
            raise InputError(record["error"])
        yield record
