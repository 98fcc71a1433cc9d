"""One extraction run over gold examples: the model resolved, each sentence extracted whole,
predictions collected for scoring (used by `kgc-lite eval` and the recipes)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import orjson

from kgc_lite.errors import KgcError
from kgc_lite.evaluation.results import model_info, results_document
from kgc_lite.evaluation.scoring import aggregate, score, spread, zero_rte_metrics
from kgc_lite.runtime.engine import default_threads
from kgc_lite.types import Example, Triplet


# -- running a model over gold sentences ------------------------------------------------------------------
def run_extraction(gold: list[Example], *, schema, options, model: str | None = None,
                   pool: list[Example] | None = None, seeds: Iterable[int] = (0,), n_threads: int | None = None,
                   n_gpu_layers: int = 0, n_ctx: int | None = None, save_predictions: str | Path | None = None,
                   progress=None, log=None, extra_metrics=None, extractor=None) -> tuple[list[dict], dict]:
    """Extract from every gold sentence once per seed (the seed draws the in-context examples from `pool`;
    with no pool the schema's own examples are used and every run is the same), and score each run.

    Each gold sentence is one unit (never split), and its predictions can be saved as `kgc-lite extract`
    records with the gold id, so `kgc-lite eval --predictions` on the saved file gives the same numbers.
    `extra_metrics(gold, predictions)`, if given, adds to each run's metrics (e.g. zero_rte_metrics).
    `extractor`, if given, is used as it is for every run instead of an Extractor built here (e.g. a
    two_stage.TwoStage; it brings its own model, and seeds draw nothing from `pool`).
    Returns (per-run results, model info).
    """
    import time

    from kgc_lite.extract.extractor import Extractor, unit_record
    from kgc_lite.io.inputs import Unit
    from kgc_lite.models.resolve import resolve

    resolved = extractor.model if extractor is not None else resolve(model)
    engine = None
    runs = []
    seeds = list(seeds)
    for run_index, seed in enumerate(seeds):
        ex = extractor or Extractor(schema=schema, options=options, examples=pool, seed=seed, n_ctx=n_ctx,
                                    n_threads=n_threads, n_gpu_layers=n_gpu_layers, engine=engine, resolved=resolved)
        engine = ex.engine
        before = dict(vars(engine.stats))
        predictions: dict[str, list[Triplet]] = {}
        errors: dict[str, str] = {}
        records = []
        start = time.perf_counter()
        for item in gold:
            try:
                trips = ex.extract(item.text)
            except KgcError as exc:  # e.g. a sentence too long for the context: it predicts nothing
                errors[item.id] = str(exc)
                records.append({"id": item.id, "error": str(exc)})
                trips = []
            else:
                records.append(unit_record(Unit(item.id, 0, 0, len(item.text), item.text), trips))
            predictions[item.id] = trips
            if progress:
                progress.tick()
        seconds = time.perf_counter() - start
        if progress:
            progress.done()
        stats = {k: v - before.get(k, 0) for k, v in vars(engine.stats).items() if isinstance(v, (int, float))}
        metrics = score(gold, predictions).as_dict()
        metrics["extraction_errors"] = len(errors)
        if extra_metrics:
            metrics.update(extra_metrics(gold, predictions))
        shots = [e.id for e in ex.prompts.examples]
        runs.append({"seed": seed, "icl_example_ids": shots, "seconds": round(seconds, 3),
                     "sentences_per_second": len(gold) / seconds if seconds else None, "engine": stats,
                     "metrics": metrics})
        if save_predictions:
            target = Path(save_predictions)
            if len(seeds) > 1:
                target = target.with_name(f"{target.stem}.seed{seed}{target.suffix}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        if log:
            log(f"run {run_index + 1}/{len(seeds)} (seed {seed}): F1 {100 * metrics['f1']:.1f} "
                f"P {100 * metrics['precision']:.1f} R {100 * metrics['recall']:.1f} "
                f"in {seconds:.0f} s ({len(gold) / max(seconds, 1e-9):.2f} sentences/s)")
    return runs, model_info(resolved, engine)


# -- one eval, as `kgc-lite eval` writes it --------------------------------------------------------------------
def two_stage_description(extractor, statements: str, glossed: bool) -> dict:
    """What a results file records of a two-stage extractor: its models and how the judge was asked."""
    reader = ({"reader_model": model_info(extractor.reader.model, extractor.reader.engine)}
              if extractor.reader else {})
    return {"two_stage": {"pair_model": model_info(extractor.model, extractor.engine), **reader,
                          "qa_model": model_info(extractor.qa.model, extractor.qa.engine),
                          "statements": statements, "glossed": glossed,
                          "entail_examples": extractor.qa.entail_examples,
                          "entail_layout": extractor.qa.entail_layout, "evaluation": extractor.qa.evaluation}}


def evaluate_extraction(gold: list[Example], data: dict, *, schema, options, seeds: list[int], icl_pool: str,
                        min_confidence: float, model: str | None = None, pool: list[Example] | None = None,
                        extractor=None, stage: dict | None = None, n_threads: int | None = None,
                        n_gpu_layers: int = 0, n_ctx: int | None = None, save_predictions: str | Path | None = None,
                        zero_shot: bool = False, progress=None, log=None, extra: dict | None = None) -> dict:
    """Run the extractor over gold sentences once per seed and return the results document `kgc-lite eval`
    writes: metrics over the runs (mean and spread), the config that made them, the model(s) and the data.
    extractor/stage: a two-stage extractor and its two_stage_description (None: one pass with `model`)."""
    run_list, model_desc = run_extraction(gold, schema=schema, options=options, model=model, pool=pool,
                                          seeds=seeds, n_threads=n_threads, n_gpu_layers=n_gpu_layers, n_ctx=n_ctx,
                                          save_predictions=save_predictions, progress=progress, log=log,
                                          extra_metrics=zero_rte_metrics if zero_shot else None,
                                          extractor=extractor)
    metrics = aggregate([r["metrics"] for r in run_list])
    metrics["sentences_per_second"] = spread([r["sentences_per_second"] for r in run_list
                                              if r["sentences_per_second"]])
    config = {"task": "triplets", "schema": schema.name, "prompt_style": options.style, "icl": options.icl,
              "icl_pool": icl_pool, "rationale": options.rationale, "entities": options.entities, "seeds": seeds,
              "min_confidence": min_confidence, "retokenize": options.retokenize,
              **({"stop_margin": options.stop_margin} if options.stop_margin else {}),
              "decoding": "greedy, grammar-constrained", **(stage or {})}
    return results_document("eval", model=model_desc, config=config, data=data, metrics=metrics, runs=run_list,
                            threads=n_threads or default_threads(), n_gpu_layers=n_gpu_layers, extra=extra)
