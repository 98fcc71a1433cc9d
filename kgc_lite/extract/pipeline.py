"""The one place that decides how a schema is read: one pass (one model reads the schema and writes the
triplets) or two stages (a pair finder, then the QA4RE entail model names each pair's relation). `kgc-lite
extract`, `kgc-lite eval`, the Ray actors and `extract_records` all come through here, so they agree.

    import kgc_lite
    for record in kgc_lite.extract_records(["Marie Curie worked at the University of Paris."]):
        print(record["triplets"])
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Iterator

from kgc_lite.errors import KgcError
from kgc_lite.extract.extractor import ExtractOptions, Extractor, stop_margin_applies
from kgc_lite.extract.two_stage import TwoStage
from kgc_lite.io.inputs import Document
from kgc_lite.models.registry import ResolvedModel, pair_finder_model, qa4re_model_for, spec_for
from kgc_lite.models.resolve import resolve
from kgc_lite.runtime.engine import resolve_gpu_layers
from kgc_lite.schema import Schema, builtin_names, load_schema

DEFAULT_SCHEMA = "conll04"
DEFAULT_BATCH = 8  # units in flight: measured with `kgc-lite bench --batch B` (docs/evaluation.md, "Speed")


def default_two_stage(schema: str, model: str | None = None, decoder: str = "fast") -> bool:
    """Two stages unless a model is named, the plain decoder is asked for, the schema is a built-in one the
    default model was trained on (models.toml `schemas`), or the registry has no pair finder."""
    if model or decoder != "fast" or (schema in builtin_names() and schema in spec_for(None).schemas):
        return False
    try:
        pair_finder_model()
    except KgcError:  # a registry without a pair finder (a user's own): one pass, as before
        return False
    return True


def first_model(two_stage: bool, model: str | None = None, pair_model: str | None = None) -> ResolvedModel:
    """The model a run loads first: the one-pass model, or the two stages' pair finder."""
    return resolve(pair_model or (pair_finder_model() if two_stage else model))


def model_options(resolved: ResolvedModel, **given) -> ExtractOptions:
    """ExtractOptions with the prompt the model was trained on (models.toml: prompt_style, icl) and its stop
    margin unless given; None values count as not given. The margin reads the natural style with the fast
    decoder only, so a model's own margin is left out under any other."""
    given = {k: v for k, v in given.items() if v is not None}
    options = ExtractOptions(**{"style": resolved.spec.prompt_style, "icl": resolved.spec.icl, **given})
    if "stop_margin" not in given and stop_margin_applies(options.style, options.decoder):
        options = replace(options, stop_margin=resolved.spec.stop_margin)
    return options


def open_extractor(schema: Schema, *, two_stage: bool, resolved: ResolvedModel, options: ExtractOptions,
                   qa_model: str | None = None, min_yes: float = 0.0, n_ctx: int | None = None,
                   n_threads: int | None = None, n_gpu_layers: int = 0, **two_stage_extra) -> Extractor | TwoStage:
    """The extractor for a run. One pass: `resolved` reads the schema under `options`. Two stages: `resolved` is
    the pair finder, `qa_model` (default: qa4re's model for any relation set) names each pair's relation, and
    pairs whose statement gets P(yes) below min_yes are dropped. two_stage_extra: TwoStage's reader_model and
    experiment switches."""
    if two_stage:
        return TwoStage(schema, pair_model=resolved.spec.name, qa_model=qa_model or qa4re_model_for("*"),
                        options=options, min_yes=min_yes, n_ctx=n_ctx, n_threads=n_threads,
                        n_gpu_layers=n_gpu_layers, **two_stage_extra)
    if qa_model or any(v is not None for v in two_stage_extra.values()):
        raise KgcError("a qa model and the reader belong to two-stage extraction")
    return Extractor(schema=schema, options=options, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                     resolved=resolved)


def extract_records(texts: Iterable[str | tuple[str, str]], *, schema: str | Schema | None = None,
                    model: str | None = None, two_stage: bool | None = None, threads: int | None = None,
                    n_gpu_layers: int | None = None, batch: int = DEFAULT_BATCH, max_chars: int = 1200,
                    split: bool = True, min_confidence: float = 0.0) -> Iterator[dict]:
    """Triplets from texts, as the records `kgc-lite extract` prints (kgc_lite/output.schema.json): one dict per
    sentence-sized unit, in input order, each yielded as soon as it is done.

    texts: strings (ids "0", "1", ...) or (id, text) pairs. schema: a built-in name (default conll04), a
    .toml/.json schema file, or a Schema. model: a models.toml name or .gguf path (one pass). two_stage: None
    chooses as `kgc-lite extract` does. n_gpu_layers: None offloads every layer when llama.cpp has a GPU backend.
    """
    schema = schema or DEFAULT_SCHEMA
    schema_obj = schema if isinstance(schema, Schema) else load_schema(schema)
    if two_stage is None:
        two_stage = default_two_stage(schema if isinstance(schema, str) else schema.name, model)
    if two_stage and model:
        raise KgcError("two stages run the registry's pair finder and entail model: drop model, or two_stage=False")
    resolved = first_model(two_stage, model)
    extractor = open_extractor(schema_obj, two_stage=two_stage, resolved=resolved,
                               options=model_options(resolved, min_confidence=min_confidence), min_yes=min_confidence,
                               n_threads=threads, n_gpu_layers=resolve_gpu_layers(n_gpu_layers))
    documents = (Document(*item) if isinstance(item, tuple) else Document(str(i), item)
                 for i, item in enumerate(texts))
    yield from extractor.records(documents, max_chars, batch, split)
