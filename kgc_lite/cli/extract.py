"""`kgc-lite extract`: text in, triplets out (JSONL)."""

from __future__ import annotations

import threading
from typing import List, Optional

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import Progress, fail, hint_at_terminal, write_jsonl
from kgc_lite.cli.options import (
    RETOKENIZE_OPTION,
    ctx_option,
    gpu_layers,
    gpu_layers_option,
    model_option,
    progress_option,
    threads_option,
)
from kgc_lite.errors import InputError, KgcError
from kgc_lite.extract.extractor import Extractor, stop_margin_applies
from kgc_lite.extract.pipeline import DEFAULT_BATCH, default_two_stage, first_model, model_options, open_extractor
from kgc_lite.io import output as out
from kgc_lite.io.files import file_sha256
from kgc_lite.io.inputs import BadRecord, check_sources, count_units, read_documents
from kgc_lite.models.registry import qa4re_model_for, tier_model
from kgc_lite.models.resolve import resolve
from kgc_lite.prompting.grammar import ENTITY_MODES
from kgc_lite.prompting.prompts import STYLES
from kgc_lite.schema import builtin_names, load_schema

ON_ERROR = ("stop", "skip")
DECODERS = ("fast", "plain")


@app.command("extract")
def extract_command(
    files: List[str] = typer.Argument(None, help="Text files to read; none or '-' reads stdin."),
    jsonl: bool = typer.Option(False, "--jsonl", help='Input is JSONL records {"text": ..., "id": ...} instead of '
                               "plain text (one document per file)."),
    schema: str = typer.Option("conll04", "--schema", "-s", help="Relation schema: conll04, ade, scierc, or a "
                               ".toml/.json schema file: a [[relations]] table per relation, with a name and a "
                               "one-line description (README, 'Your own relations')."),
    model: Optional[str] = model_option(),
    quality: bool = typer.Option(False, "--quality", help="The quality tier (a 0.5B model, about half as fast): "
                                 "for conll04, ade and scierc the model trained on them (qwen05-kg-in), for any "
                                 "other schema the one that reads a schema of your own (qwen05-kg); one pass. Its "
                                 "base comes from `kgc-lite models pull` or the [quality] install extra."),
    prompt_style: Optional[str] = typer.Option(None, "--prompt-style", help=f"Answer style: {' or '.join(STYLES)} "
                                               "(default: the model's, from models.toml)."),
    icl: Optional[int] = typer.Option(None, "--icl", min=0, help="In-context examples in the prompt, from the "
                                      "schema (default: the model's, from models.toml)."),
    rationale: bool = typer.Option(False, "--rationale/--no-rationale", help="Let the model list relations and "
                                   "entities before the triplets (helps untuned models only)."),
    entities: str = typer.Option("text", "--entities", help="'text': heads and tails are spans of the input "
                                 "with clean edges (no trailing sentence period or comma, balanced brackets; 'Apple "
                                 "Inc.' keeps its period; in pre-tokenized text, 'Redmond , Washington .', a period "
                                 "still clinging to a word stays with it), enforced by the grammar; 'words': any run "
                                 "of whole words; 'free': any string."),
    retokenize: Optional[bool] = RETOKENIZE_OPTION,
    split: bool = typer.Option(True, "--split/--no-split", help="Split documents into sentences; --no-split "
                               "keeps each document (or JSONL record) whole unless it exceeds --max-chars."),
    max_chars: int = typer.Option(1200, "--max-chars", min=50, help="Longest unit sent to the model; longer "
                                  "sentences are cut at spaces."),
    on_error: str = typer.Option("stop", "--on-error", help="stop: first bad record ends the run (exit 1), and "
                                 "an input file that cannot be opened ends it before the model loads; skip: write "
                                 "an error line for it and go on."),
    batch: int = typer.Option(DEFAULT_BATCH, "--batch", "-b", min=1, max=64, help="Units in flight at once, "
                              "decoded together in each llama.cpp call (continuous batching: a finished unit's "
                              "place goes to the next one at once; output stays in input order, each line "
                              "written as soon as it and all before it are done). 1: one unit at a time. "
                              "Reruns give the same output at any batch; another batch size may flip a near-tie."),
    decoder: str = typer.Option("fast", "--decoder", help="fast: grammar-forced tokens and input-copy drafts are "
                                "evaluated together, no sampling step each (same answers as plain up to rare "
                                "float near-ties); plain: one token per llama.cpp call, the reference path."),
    confidence: bool = typer.Option(True, "--confidence/--no-confidence", help="Give each triplet a "
                                    "\"confidence\": the lowest probability of a token the model chose inside it "
                                    "(fast decoder only)."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", min=0.0, max=1.0, help="Drop triplets whose "
                                         "confidence is below this (0: keep all)."),
    stop_margin: Optional[float] = typer.Option(None, "--stop-margin", min=0.0, help="Write more triplets: close "
                                                "the list only where the model prefers closing it to going on by "
                                                "more than this many nats (0: plain greedy; 1-2 trade precision "
                                                "for recall on text that states several facts a sentence). Fast "
                                                "decoder, natural prompt style. Default: the model's "
                                                "(models.toml stop_margin), else 0."),
    n_gpu_layers: Optional[int] = gpu_layers_option(),
    threads: Optional[int] = threads_option(),
    ctx: Optional[int] = ctx_option(),
    progress: Optional[bool] = progress_option(),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Append records to this file (one fsync'ed "
                                         "line each) instead of stdout; what made it goes to FILE.meta.json."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted -o run: repair a torn last "
                                "line, skip the units already written; refused if model, schema, options or "
                                "inputs differ."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", "--ray", help="Run on a Ray cluster: its "
                                              "address (e.g. 127.0.0.1:6379, or 'auto'), or 'local' to start one "
                                              "here. Needs -o, input files and the [ray] extra."),
    actors: int = typer.Option(2, "--actors", min=1, help="With --ray-address: model actors, each using "
                               "--threads CPUs (default threads: 1 per actor)."),
    two_stage: Optional[bool] = typer.Option(None, "--two-stage/--one-pass", help="two-stage: a pair finder "
                                             "extracts the entity pairs a fact links, whatever the relation, "
                                             "then the QA4RE entail model names each pair's relation from "
                                             "--schema, in either direction, or drops it "
                                             "(kgc_lite/extract/two_stage.py); "
                                             "confidence (and --min-confidence) is then P(yes) of the chosen "
                                             "statement. one-pass: one model reads the schema and writes the "
                                             "triplets. Default: one-pass for the schemas the default model was "
                                             "trained on (conll04, ade, scierc) or with --model, else two-stage."),
    pair_model: Optional[str] = typer.Option(None, "--pair-model", help="--two-stage: the pair finder (default: "
                                             "the models.toml entry marked pair_finder)."),
    qa_model: Optional[str] = typer.Option(None, "--qa-model", help="--two-stage: the entail model naming the "
                                           "relations (default: qa4re's choice for any relation set)."),
    reader_model: Optional[str] = typer.Option(None, "--reader-model", hidden=True,
                                               help="--two-stage: also take the pair a "
                                               "one-relation reader fills for each relation of --schema as a "
                                               "stage-1 candidate (one more pass per relation)."),
) -> None:
    """Extract (head, relation, tail) triplets from text; one JSON line per sentence-sized unit."""
    for value, allowed, name in ((prompt_style, STYLES, "--prompt-style"), (entities, ENTITY_MODES, "--entities"),
                                 (on_error, ON_ERROR, "--on-error"), (decoder, DECODERS, "--decoder")):
        if value is not None and value not in allowed:
            raise fail(f"{name} must be one of: {', '.join(allowed)} (got {value!r})", 2)
    if min_confidence > 0 and (not confidence or decoder != "fast"):
        raise fail("--min-confidence needs the confidence of the fast decoder (drop --no-confidence / "
                   "--decoder plain)", 2)
    # a style left to the model is checked by Extractor, once the model is known
    if stop_margin and not stop_margin_applies(prompt_style or "natural", decoder):
        raise fail("--stop-margin needs the fast decoder and the natural prompt style", 2)
    if resume and not output:
        raise fail("--resume continues an -o file; give -o FILE", 2)
    if ray_address and not output:
        raise fail("--ray-address writes with -o FILE (records are merged into input order at the end)", 2)
    sources = files or ["-"]
    if ray_address and "-" in sources:
        raise fail("--ray-address reads input files (Ray Data reads them on the workers), not stdin", 2)
    if on_error == "stop" and not ray_address:  # on Ray the paths are the workers' (s3:// too)
        check_sources(sources)
    hint_at_terminal(files, "JSON lines" if jsonl else "text")
    if quality:
        if model:
            raise fail("--quality picks the model for the schema: drop --model (or drop --quality)", 2)
        if two_stage:
            raise fail("--quality reads in one pass: drop --two-stage", 2)
        model = tier_model("quality", schema)
    auto = two_stage is None
    if auto:
        two_stage = default_two_stage(schema, model, decoder)
    one_pass_only = [name for name, given in (("--icl", icl is not None), ("--prompt-style", prompt_style),
                                              ("--rationale", rationale)) if given]
    if two_stage and one_pass_only:
        why = (f"{schema} is not a schema the default model was trained on, so extract runs two stages; "
               if auto else "")
        raise fail(f"{why}{one_pass_only[0]} shapes the one-pass prompt: add --one-pass to use it", 2)
    if two_stage and (model or decoder != "fast"):
        raise fail("--two-stage runs a pair finder and an entail model: drop --model (use --pair-model / "
                   "--qa-model) and --decoder plain, or pass --one-pass", 2)
    if reader_model and ray_address:
        raise fail("--reader-model runs here only: drop --ray-address", 2)
    if (pair_model or qa_model or reader_model) and not two_stage:
        raise fail("--pair-model, --qa-model and --reader-model belong to --two-stage", 2)
    resolved = first_model(two_stage, model, pair_model)
    n_gpu_layers = gpu_layers(n_gpu_layers)
    options = model_options(resolved, style=prompt_style, icl=icl, rationale=rationale, entities=entities,
                            decoder=decoder, confidence=confidence and decoder == "fast",
                            min_confidence=min_confidence, retokenize=retokenize, stop_margin=stop_margin)
    schema_obj = load_schema(schema)
    if schema_obj.examples and schema not in builtin_names() and (two_stage or options.icl == 0):
        typer.echo(f"kgc-lite: note: the {len(schema_obj.examples)} example(s) in {schema} are not used: "
                   + ("two stages take none; " if two_stage else "") + "--one-pass --icl N puts N of them in the "
                   "prompt (the default model was trained without)", err=True)
    model_sha, model_name = resolved.sha256 or file_sha256(resolved.path), resolved.spec.name
    qa_resolved = None
    if two_stage:
        qa_resolved = resolve(qa_model or qa4re_model_for("*"))
        model_sha += "+" + (qa_resolved.sha256 or file_sha256(qa_resolved.path))
        model_name = f"two-stage:{model_name}+{qa_resolved.spec.name}"
        if reader_model:
            reader_resolved = resolve(reader_model)
            model_sha += "+" + (reader_resolved.sha256 or file_sha256(reader_resolved.path))
            model_name += f"+{reader_resolved.spec.name}"
    done = None
    if output:
        fp = out.fingerprint(model_sha256=model_sha, model_name=model_name,
                             schema=schema_obj, options=options, max_chars=max_chars, split=split, jsonl=jsonl,
                             batch=batch, gpu=n_gpu_layers != 0, sources=sources)
        done = out.prepare(output, fp, resume, note=lambda m: typer.echo(f"kgc-lite: {m}", err=True),
                           ray=bool(ray_address))
    counter = Progress("units", progress, initial=sum(done.values()) if done else 0)
    if counter.enabled and all(s != "-" for s in sources):
        # Splitting is cheap next to the model, but a big input still takes a moment: count in the background
        # and let the bar gain its total and ETA when the count is in.
        threading.Thread(target=lambda: _set_total(counter, sources, jsonl, max_chars, split), daemon=True).start()
    try:
        if ray_address:
            from kgc_lite.extract import ray as scale
            errors = scale.extract(address=ray_address, actors=actors, sources=sources, output=output, done=done,
                                   model=resolved.spec.name if two_stage else model, model_sha256=resolved.sha256,
                                   schema=schema_obj, options=options,
                                   jsonl=jsonl, max_chars=max_chars, split=split, batch=batch, threads=threads or 1,
                                   n_gpu_layers=n_gpu_layers, n_ctx=ctx, on_error=on_error, tick=counter.tick,
                                   two_stage={"qa_model": qa_resolved.spec.name, "min_yes": min_confidence}
                                   if two_stage else None)
        else:
            extractor = open_extractor(schema_obj, two_stage=two_stage, resolved=resolved, options=options,
                                       qa_model=qa_resolved.spec.name if two_stage else None, min_yes=min_confidence,
                                       n_ctx=ctx, n_threads=threads, n_gpu_layers=n_gpu_layers,
                                       reader_model=reader_model)
            errors = _run(extractor, sources, output, done, counter, jsonl=jsonl, max_chars=max_chars, batch=batch,
                          split=split, on_error=on_error)
    finally:
        counter.done()
    if errors and on_error == "skip":
        typer.echo(f"kgc-lite: {errors} record(s) skipped with errors", err=True)


def _run(extractor: Extractor, sources: list[str], output: Optional[str], done, counter: Progress, *, jsonl: bool,
         max_chars: int, batch: int, split: bool, on_error: str) -> int:
    skip = out.Skipper(done) if done else None
    sink = out.JsonlSink(output) if output else None

    def write(records) -> int:
        if sink:
            return out.write_records(records, sink, counter.tick)
        return write_jsonl(_ticking(records, counter))

    errors = 0
    try:
        for source in sources:
            try:
                errors += write(_stop_at_bad(extractor.records(read_documents([source], jsonl), max_chars, batch,
                                                               split, skip=skip), on_error))
            except KgcError as exc:
                if on_error == "stop":
                    raise
                if not (skip and skip(BadRecord(source, str(exc)))):
                    errors += write([{"id": source, "error": str(exc)}])
    finally:
        if sink:
            sink.close()
    return errors


def _ticking(records, counter: Progress):
    for record in records:
        yield record
        counter.tick()


def _set_total(counter: Progress, sources: list[str], jsonl: bool, max_chars: int, split: bool) -> None:
    total = count_units(sources, jsonl, max_chars, split)
    if total is not None:
        counter.set_total(total)


def _stop_at_bad(records, on_error: str):
    for record in records:
        if "error" in record and on_error == "stop":
            raise InputError(record["error"])
        yield record
