"""`kgc-lite eval`: every quality claim from one rerunnable command (speed: cli/bench.py; tables: cli/report.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import Progress, check_choice, fail, say
from kgc_lite.cli.options import (
    RETOKENIZE_OPTION,
    ctx_option,
    gpu_layers,
    gpu_layers_option,
    model_option,
    progress_option,
    threads_option,
)
from kgc_lite.data.benchmarks import SPLITS, TRIPLET_SETS, data_dir, load_gold, load_split, seeded_sample, split_path
from kgc_lite.data.detok import detokenize_examples
from kgc_lite.data.zero_rte import ZERO_RTE_SETS, load_zero_rte, zero_rte_splits
from kgc_lite.errors import KgcError
from kgc_lite.evaluation import results
from kgc_lite.evaluation import scoring as ev
from kgc_lite.evaluation.runs import evaluate_extraction, two_stage_description
from kgc_lite.io.files import file_sha256
from kgc_lite.prompting.grammar import ENTITY_MODES
from kgc_lite.prompting.prompts import STYLES
from kgc_lite.qa4re.questions import ENTAIL_EXAMPLES, ENTAIL_LAYOUTS
from kgc_lite.runtime.engine import default_threads

DATASETS = (*TRIPLET_SETS, *ZERO_RTE_SETS, "semeval")


def gold_and_data(dataset: Optional[str], split: str, gold: Optional[str], data: Optional[str],
                   limit: Optional[int], sample: Optional[int] = None, sample_seed: int = 0, detok: bool = False,
                   detok_trim: bool = True):
    """(gold examples, data description, default schema: a built-in name, a Schema, or None).

    --limit keeps the first N sentences, --sample a seeded random N of them (in file order), and --detok turns
    the pre-tokenized text and its heads and tails into ordinary punctuation (data.detokenize)."""
    default_schema = dataset if dataset in TRIPLET_SETS else None
    if gold:
        path = Path(gold)
        examples = load_gold(path)
        desc = {"dataset": dataset or path.stem, "split": None, "path": str(path)}
    elif dataset in ZERO_RTE_SETS:
        from kgc_lite.data.zero_rte import wikidata_schema
        examples, relations, path = load_zero_rte(dataset, split, data)
        default_schema = wikidata_schema(relations, f"{dataset}-{split}")
        desc = {"dataset": dataset, "split": split, "path": str(path.relative_to(data_dir(data))),
                "seeds": [int(split.rsplit("_", 1)[-1])] if split.rsplit("_", 1)[-1].isdigit() else None,
                "schema_relations": [{"id": r.id, "name": r.name, "as": r.identifier} for r in relations]}
    else:
        if not dataset:
            raise fail("give --dataset (" + ", ".join(DATASETS) + ") or --gold FILE", 2)
        path = split_path(dataset, split, data)
        examples = load_split(dataset, split, data)
        desc = {"dataset": dataset, "split": split, "path": str(path.relative_to(data_dir(data)))
                if path.is_relative_to(data_dir(data)) else str(path)}
    if not examples:
        raise KgcError(f"gold file {path} holds no sentences")
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise KgcError(f"gold file {path}: sentence ids are not unique")
    if limit is not None:
        examples = examples[:limit]
    if sample is not None and sample < len(examples):
        examples = seeded_sample(examples, sample, sample_seed)
        desc.update({"sample": sample, "sample_seed": sample_seed})
    if detok:
        examples, stats = detokenize_examples(examples, trim=detok_trim)
        desc.update({"detok": True, "detok_trim": detok_trim, **{f"detok_{k}": v for k, v in stats.items()}})
        if stats["dropped_triplets"]:
            say(f"kgc-lite: note: {stats['dropped_triplets']} gold triplet(s) could not be kept in ordinary "
                 "punctuation (a head or tail not found in the detokenized sentence); they are left out")
    desc.update({"sha256": file_sha256(path), "sentences": len(examples), "limit": limit,
                 "gold_triplets": sum(len({t.key for t in e.triplets}) for e in examples)})
    return examples, desc, default_schema


@app.command("eval")
def eval_command(
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help=f"Benchmark set: {', '.join(DATASETS)} "
                                          "(read from --data-dir)."),
    split: str = typer.Option("test", "--split", help=f"Split of --dataset: {', '.join(SPLITS)}."),
    gold: Optional[str] = typer.Option(None, "--gold", help='Gold file instead of --dataset: a CodeKGC JSON list or '
                                       'JSONL of {"text", "triplets": [[head, relation, tail], ...][, "id"]}.'),
    predictions: Optional[str] = typer.Option(None, "--predictions", "-p", help="Score this predictions JSONL "
                                              "(`kgc-lite extract` output, ids = gold ids) instead of running a "
                                              "model."),
    data: Optional[str] = typer.Option(None, "--data-dir", envvar="KGC_LITE_DATA", help="Folder holding kgc/ and "
                                       "semeval2010/ (default: $KGC_LITE_DATA, else ../shared/data)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Write the JSON results file here (default: "
                                      "stdout, with the table on stderr)."),
    model: Optional[str] = model_option(),
    schema: Optional[str] = typer.Option(None, "--schema", "-s", help="Relation schema (default: the data set's own)."),
    prompt_style: Optional[str] = typer.Option(None, "--prompt-style", help=f"Answer style: {' or '.join(STYLES)} "
                                               "(default: the model's, from models.toml)."),
    icl: Optional[int] = typer.Option(None, "--icl", min=0, help="In-context examples per prompt (default: the "
                                      "model's, from models.toml)."),
    icl_pool: Optional[str] = typer.Option(None, "--icl-pool", help="Where in-context examples come from: 'train' "
                                           "(drawn from the data set's train split, as the paper does; the default "
                                           "with --dataset) or 'schema' (the schema's own; the default with "
                                           "--gold)."),
    rationale: bool = typer.Option(False, "--rationale/--no-rationale", help="Relations and entities before the "
                                   "triplets."),
    entities: str = typer.Option("text", "--entities", help="'text': heads and tails are spans of the input "
                                 "with clean edges (no trailing sentence period; in pre-tokenized text a period "
                                 "clinging to a word stays with it); 'words': any run of whole words; 'free': any "
                                 "string."),
    retokenize: Optional[bool] = RETOKENIZE_OPTION,
    runs: int = typer.Option(1, "--runs", min=1, help="Runs with seeds --seed, --seed+1, ... for the in-context "
                             "example draw; reports the mean and spread."),
    seed: int = typer.Option(0, "--seed", help="First seed."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Score only the first N gold sentences."),
    sample: Optional[int] = typer.Option(None, "--sample", min=1, help="Score a random N of the gold sentences "
                                         "(seeded by --seed, kept in file order): for sets sorted by relation, "
                                         "such as FewRel's zero-shot tests, where the first N are one relation."),
    detok: bool = typer.Option(False, "--detok/--no-detok", help="Score on a copy in ordinary punctuation "
                               "('Redmond, Washington.' for 'Redmond , Washington .'); heads and tails follow "
                               "(kgc_lite/data/detok.py)."),
    detok_trim: bool = typer.Option(True, "--detok-trim/--no-detok-trim", help="With --detok: gold entity edges "
                                    "as ordinary text has them: cut a sentence period that a head or tail "
                                    "swallowed ('Texas.' -> 'Texas'; 'U.S.' keeps its period), and give a "
                                    "sentence-final abbreviation back the period its tokenizer split off "
                                    "('Concord , Mass .' with gold 'Concord , Mass' -> 'Concord, Mass.')."),
    only_predicted: bool = typer.Option(False, "--only-predicted", help="With --predictions: score only gold "
                                        "sentences that have a prediction record (default: a missing one "
                                        "predicts nothing)."),
    save_predictions: Optional[str] = typer.Option(None, "--save-predictions", help="Also write each run's "
                                                   "predictions as JSONL (a .seedN suffix when --runs > 1)."),
    resume: bool = typer.Option(False, "--resume", help="QA4RE (--dataset semeval, --qa4re): keep the answers "
                                "already in the --save-predictions file and ask only the other pairs; the scores "
                                "cover all of them. Lines are written as pairs are answered, so a killed run "
                                "continues where it stopped. The file's fingerprint (FILE.meta.json) must match "
                                "this run's model, relation set, answer options and data file; entail answers "
                                "read back are chosen anew under this run's prior."),
    threads: Optional[int] = threads_option(),
    n_gpu_layers: Optional[int] = gpu_layers_option(),
    ctx: Optional[int] = ctx_option(),
    progress: Optional[bool] = progress_option(),
    qa4re: bool = typer.Option(False, "--qa4re", help="With a FewRel or Wiki-ZSL zero-shot split: relation "
                               "classification instead of extraction. Each test pair is asked as QA4RE multiple "
                               "choice over the split's held-out relations plus none of the above; accuracy and "
                               "macro-F1. (--dataset semeval is always QA4RE.)"),
    shuffle: Optional[bool] = typer.Option(None, "--shuffle/--no-shuffle", help="QA4RE: option order shuffled "
                                           "per pair, seeded by --seed (default: on for zero-shot splits, off for "
                                           "semeval, whose schema order is the trained one)."),
    permutations: int = typer.Option(1, "--permutations", "-k", min=1, max=26, help="QA4RE: average each "
                                     "option's probability over K option orders (cyclic shifts)."),
    answer: Optional[str] = typer.Option(None, "--answer", help="QA4RE: logits, grammar or entail (default: the "
                                         "model's own, models.toml qa4re_answer; for a .gguf path, logits)."),
    two_stage: Optional[bool] = typer.Option(None, "--two-stage/--one-pass", help="Score what `extract` runs: "
                                             "two-stage (pair finder, then the entail model naming each pair's "
                                             "relation; on zero-shot splits with the statements `eval --qa4re` "
                                             "asks) or one-pass. Default as extract's: one-pass on conll04, ade "
                                             "and scierc or with --model, two-stage on other schemas."),
    pair_model: Optional[str] = typer.Option(None, "--pair-model", help="--two-stage: the pair finder."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", min=0.0, max=1.0, help="Drop predicted "
                                         "triplets below this confidence, as `extract --min-confidence` does "
                                         "(with --two-stage: P(yes) of the chosen statement)."),
    qa_model: Optional[str] = typer.Option(None, "--qa-model", help="--two-stage: the entail model."),
    stop_margin: Optional[float] = typer.Option(None, "--stop-margin", min=0.0, help="As `extract "
                                                "--stop-margin`: close the triplet list only where closing beats "
                                                "going on by more than this many nats. Default: the model's "
                                                "(models.toml stop_margin), else 0."),
    reader_model: Optional[str] = typer.Option(None, "--reader-model", hidden=True, help="--two-stage: also take each "
                                               "relation's pair as this one-relation reader fills it as a "
                                               "stage-1 candidate."),
    gloss: bool = typer.Option(False, "--gloss/--no-gloss", hidden=True,
                               help="--two-stage and --qa4re: follow each option "
                               "statement with its relation's description, for an entail model trained with "
                               "`train --gloss`."),
    prior_pairs: Optional[int] = typer.Option(None, "--prior-pairs", min=1, help="QA4RE with entail answers: "
                                              "first estimate the model's prior for each option statement over a "
                                              "seeded random N pairs, their labels unread (--dataset semeval: of "
                                              "the train split; --qa4re: of the scored data itself, drawn with "
                                              "seed --seed + 1), answer relative to it, and also score the "
                                              "answers without it (kgc_lite/qa4re/prior.py)."),
    prior: Optional[str] = typer.Option(None, "--prior", help="QA4RE with entail answers (--dataset semeval or "
                                        "--qa4re): answer relative to this saved prior (`kgc-lite qa4re "
                                        "--save-prior`; same model, relation set and entail options) instead of "
                                        "estimating one."),
    entail_examples: Optional[int] = typer.Option(None, "--entail-examples", min=0,
                                                  max=len(ENTAIL_EXAMPLES), help="QA4RE with entail "
                                                  "answers and the --two-stage judge: N (0-4) written yes/no "
                                                  "demonstrations before each question (default: the model's, "
                                                  "models.toml entail_examples)."),
    entail_layout: Optional[str] = typer.Option(None, "--entail-layout", hidden=True,
                                                metavar="LAYOUT", help="QA4RE with "
                                                "entail answers and the --two-stage judge: statement-first or "
                                                "question-first (kgc-lite qa4re --help; default: the model's, "
                                                "models.toml entail_layout)."),
    entail_batch: bool = typer.Option(False, "--entail-batch/--no-entail-batch", hidden=True,
                                      help="QA4RE with entail answers "
                                      "and the --two-stage judge: evaluate a pair's statements in one llama.cpp "
                                      "batch (kgc-lite qa4re --help)."),
) -> None:
    """Score triplet extraction with the papers' strict micro P/R/F1, per relation and by error kind.

    Runs a model over a benchmark split (or --gold file), or scores an existing --predictions file. FewRel and
    Wiki-ZSL splits (e.g. --dataset fewrel --split unseen_5_seed_0) are zero-shot: the schema holds only the
    held-out test relations, and single-triplet accuracy and multi-triplet F1 are reported too.

    QA4RE relation classification: --dataset semeval (official macro-F1), or a zero-shot split with --qa4re.
    """
    n_gpu_layers = gpu_layers(n_gpu_layers)
    if prompt_style is not None:
        check_choice(prompt_style, STYLES, "--prompt-style")
    check_choice(entities, ENTITY_MODES, "--entities")
    zero_shot = dataset in ZERO_RTE_SETS
    icl_pool = icl_pool or ("schema" if gold or zero_shot else "train")
    check_choice(icl_pool, ("train", "schema"), "--icl-pool")
    if dataset is not None:
        check_choice(dataset, DATASETS, "--dataset")
    if zero_shot and not gold:
        check_choice(split, zero_rte_splits(dataset, data), "--split")
    else:
        check_choice(split, SPLITS, "--split")
    if gloss and not (qa4re or two_stage):
        raise fail("--gloss states the options of --qa4re or --two-stage", 2)
    if prior is not None and not (dataset == "semeval" or qa4re):
        raise fail("--prior is for QA4RE: --dataset semeval or --qa4re", 2)
    if prior is not None and prior_pairs:
        raise fail("give --prior FILE instead of --prior-pairs, not both", 2)
    if prior_pairs is not None and not (dataset == "semeval" or qa4re):
        raise fail("--prior-pairs is for QA4RE: --dataset semeval or --qa4re", 2)
    if entail_layout is not None:
        check_choice(entail_layout, ENTAIL_LAYOUTS, "--entail-layout")
    entail = {"entail_examples": entail_examples, "entail_layout": entail_layout, "entail_batch": entail_batch}
    entail_flag = ("--entail-examples" if entail_examples is not None else "--entail-layout" if entail_layout else
                   "--entail-batch" if entail_batch else None)
    # a zero-shot split or --gold file may run two stages by default (decided below, then checked again)
    maybe_two_stage = two_stage or (two_stage is None and (zero_shot or gold is not None))
    if entail_flag and not (dataset == "semeval" or qa4re or maybe_two_stage):
        raise fail(f"{entail_flag} is for entail answers: --dataset semeval, --qa4re or --two-stage", 2)
    if resume and not (dataset == "semeval" or qa4re):
        raise fail("--resume continues a QA4RE eval (--dataset semeval or --qa4re); for extraction use "
                   "`kgc-lite extract -o FILE --resume`", 2)
    if resume and (not save_predictions or runs > 1):
        raise fail("--resume continues the --save-predictions file of one run: give --save-predictions FILE "
                   "(and no --runs)", 2)
    if dataset == "semeval":
        return _eval_semeval(model, split, sample or limit, threads, seed, runs, out, data, bool(shuffle),
                             permutations, save_predictions, answer, prior_pairs, entail, prior, resume, progress)
    if qa4re:
        if not (zero_shot and not gold) and not (gold and schema):
            raise fail("--qa4re scores a FewRel or Wiki-ZSL zero-shot split (--dataset fewrel --split "
                       "unseen_5_seed_0) or a --gold file with its --schema; SemEval is --dataset semeval", 2)
        return _eval_choice(model, dataset, split, gold, schema, sample, threads, seed, runs, out, data,
                            shuffle is not False, permutations, save_predictions, progress, answer, gloss,
                            prior_pairs, entail, resume, prior)
    if permutations > 1 or shuffle is not None or answer:
        raise fail("--shuffle, --permutations and --answer are QA4RE options: use them with --dataset semeval or "
                   "--qa4re", 2)
    source = results.source_sha256()  # the code as it was when the run started
    examples, desc, default_schema = gold_and_data(dataset, split, gold, data, limit, sample, seed, detok, detok_trim)
    schema_name = schema or default_schema
    if predictions:
        _eval_predictions(predictions, examples, desc, only_predicted, out, min_confidence,
                          schema_name if isinstance(schema_name, str) or schema_name is None else schema_name.name,
                          zero_shot and not gold)
        return
    if not schema_name:
        raise fail("--schema is needed with --gold (conll04, ade, scierc or a schema file)", 2)
    from kgc_lite.extract.extractor import ExtractOptions
    from kgc_lite.schema import load_schema
    schema_obj = load_schema(schema_name) if isinstance(schema_name, str) else schema_name
    pool = None
    if icl_pool == "train":
        if dataset not in TRIPLET_SETS:
            raise fail("--icl-pool train needs --dataset (ade, conll04 or scierc); use --icl-pool schema", 2)
        pool = load_split(dataset, "train", data)
        if detok:  # in-context examples in the same punctuation as the test sentences
            pool = detokenize_examples(pool, trim=detok_trim)[0]
    if pool is None and runs > 1:
        say("kgc-lite: note: with --icl-pool schema every run uses the same examples, so the runs agree")
    extractor, stage_desc = None, {}
    if two_stage is None:
        from kgc_lite.extract.pipeline import default_two_stage
        two_stage = default_two_stage(schema_name if isinstance(schema_name, str) else schema_name.name, model,
                                      "fast") and runs == 1
    if entail_flag and not two_stage:
        raise fail(f"{entail_flag} is for entail answers, and this run is one-stage extraction: add --two-stage", 2)
    if reader_model and not two_stage:
        raise fail("--reader-model adds candidates to --two-stage", 2)
    if two_stage:
        if model or runs > 1:
            raise fail("--two-stage runs its own models once: drop --model (use --pair-model / --qa-model) and "
                       "--runs", 2)
        from kgc_lite.models.registry import pair_finder_model
        pair_model = pair_model or pair_finder_model()
        prompt_style, icl, retokenize, stop_margin = model_defaults(pair_model, prompt_style, 0, retokenize,
                                                                    stop_margin)
    else:
        prompt_style, icl, retokenize, stop_margin = model_defaults(model, prompt_style, icl, retokenize, stop_margin)
    options = ExtractOptions(style=prompt_style, icl=icl, rationale=rationale, entities=entities,
                             min_confidence=0.0 if two_stage else min_confidence, retokenize=retokenize,
                             stop_margin=stop_margin)
    if two_stage:
        from kgc_lite.extract.pipeline import open_extractor
        from kgc_lite.models.resolve import resolve
        extractor = open_extractor(schema_obj, two_stage=True, resolved=resolve(pair_model), options=options,
                                   qa_model=qa_model, min_yes=min_confidence, n_ctx=ctx, n_threads=threads,
                                   n_gpu_layers=n_gpu_layers, reader_model=reader_model, gloss=gloss, **entail)
        statements = ("templates from relation names (qa4re_data.wikidata_template)" if zero_shot and not gold
                      and not schema else "the schema's templates, else from the relation names (schema.name_template)")
        stage_desc = two_stage_description(extractor, statements, gloss)
    doc = evaluate_extraction(examples, desc, schema=schema_obj, options=options, seeds=list(range(seed, seed + runs)),
                              icl_pool=icl_pool, min_confidence=min_confidence, model=model, pool=pool,
                              extractor=extractor, stage=stage_desc, n_threads=threads, n_gpu_layers=n_gpu_layers,
                              n_ctx=ctx, save_predictions=save_predictions, zero_shot=zero_shot,
                              progress=Progress("sentences", progress), log=say, extra={"source_sha256": source})
    model_desc = doc["model"]
    _finish(doc, out, f"{desc['dataset']} {desc['split'] or ''} · {model_desc['name']} "
                      f"({model_desc['quantization']}) · {prompt_style}, {icl} ICL"
                      + (", rationale" if rationale else ""))


def model_defaults(model: Optional[str], style: Optional[str], icl: Optional[int], retokenize: Optional[bool],
                   stop_margin: Optional[float] = None) -> tuple[str, int, bool, float]:
    """--prompt-style / --icl / --retokenize / --stop-margin default to the model's entry in models.toml, as
    `extract` does (the margin only under the natural style); the model is resolved (and its file verified)
    only when one of them is missing."""
    if style is not None and icl is not None and retokenize is not None and stop_margin is not None:
        return style, icl, retokenize, stop_margin
    from kgc_lite.extract.extractor import stop_margin_applies
    from kgc_lite.models.resolve import resolve
    spec = resolve(model).spec
    style = style or spec.prompt_style
    if stop_margin is None:
        stop_margin = spec.stop_margin if stop_margin_applies(style) else 0.0
    return (style, spec.icl if icl is None else icl, spec.tokenized_text if retokenize is None else retokenize,
            stop_margin)


def _finish(doc: dict, out: Optional[str], title: str) -> None:
    results.write_results(doc, out)
    table = ev.summary_table(doc["metrics"], title)
    if out and out != "-":
        typer.echo(table)
        typer.echo(f"results: {out}")
    else:
        say(table)


def _eval_predictions(predictions: str, examples, desc: dict, only_predicted: bool, out: Optional[str],
                      min_confidence: float, schema_name: Optional[str], zero_shot: bool = False) -> None:
    preds = ev.read_predictions(predictions, [e.id for e in examples] if desc.get("limit") is None else None,
                                min_confidence)
    known = {e.id for e in examples}
    if desc.get("limit") is not None:  # ids beyond the limit are not errors, just not scored
        preds.triplets = {k: v for k, v in preds.triplets.items() if k in known}
    missing = [e.id for e in examples if e.id not in preds.triplets]
    if only_predicted:
        examples = [e for e in examples if e.id in preds.triplets]
        desc.update({"sentences": len(examples), "only_predicted": True,
                     "gold_triplets": sum(len({t.key for t in e.triplets}) for e in examples)})
        if not examples:
            raise KgcError(f"{predictions}: no record matches a gold sentence")
    elif missing:
        say(f"kgc-lite: {len(missing)} of {len(examples)} gold sentences have no prediction record in "
             f"{predictions}; they count as predicting nothing (--only-predicted scores only those present)")
    if preds.errors:
        say(f"kgc-lite: {len(preds.errors)} prediction record(s) are errors; they count as predicting nothing")
    metrics = ev.score(examples, preds.triplets).as_dict()
    metrics["extraction_errors"] = len(preds.errors)
    if zero_shot:
        metrics.update(ev.zero_rte_metrics(examples, {k: list(v) for k, v in preds.triplets.items()}))
    metrics["f1_spread"] = ev.spread([metrics["f1"]])
    config = {"task": "triplets", "schema": schema_name, "predictions": str(predictions),
              "predictions_sha256": file_sha256(predictions), "min_confidence": min_confidence}
    doc = results.results_document("eval", model=None, config=config, data=desc, metrics=metrics)
    _finish(doc, out, f"{desc['dataset']} {desc['split'] or ''} · predictions {predictions}")


def _eval_semeval(model, split, limit, threads, seed, runs, out, data, shuffle, permutations, save_predictions,
                  answer=None, prior_pairs=None, entail=None, prior_file=None, resume=False, progress=None):
    from kgc_lite.data.benchmarks import load_semeval, semeval_path
    from kgc_lite.evaluation.qa4re import evaluate_semeval
    from kgc_lite.models.resolve import resolve
    from kgc_lite.qa4re.classifier import QA4RE
    source = results.source_sha256()
    resolved = resolve(model) if model else None
    run_list = []
    qa = QA4RE(model, "semeval", answer=answer, shuffle=shuffle, seed=seed, n_threads=threads,
               permutations=permutations, resolved=resolved, **(entail or {}))
    if (prior_pairs or prior_file) and qa.answer_mode != "entail":
        raise fail(f"{'--prior' if prior_file else '--prior-pairs'} needs entail answers (--answer entail)", 2)
    if prior_file:
        from kgc_lite.qa4re.prior import load
        qa.use_prior(load(prior_file))
    total = len(load_semeval(split, data))
    for s in range(seed, seed + runs):
        qa.seed = s
        counter = Progress("pairs", progress, total=min(limit, total) if limit else total)
        metrics = evaluate_semeval(split=split, limit=limit, seed=s, data_root=data, qa=qa,
                                   predictions=_seeded(save_predictions, s, runs), prior_pairs=prior_pairs,
                                   resume=resume, progress=counter.tick)
        counter.done()
        if (metrics.get("prior") or {}).get("read_back"):
            say(f"kgc-lite: prior read back from {save_predictions}.prior.json, not estimated again")
        if metrics["resumed"]:
            say(f"kgc-lite: {metrics['resumed']} of {metrics['n']} pairs read back from {save_predictions}, "
                 f"{metrics['asked']} asked")
        run_list.append({"seed": s, "metrics": metrics})
        say(f"run seed {s}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                           if isinstance(v, float)))
    path = semeval_path(split, data)
    desc = {"dataset": "semeval", "split": split, "path": f"semeval2010/{split}.jsonl",
            "sha256": file_sha256(path) if path.exists() else None, "limit": limit}
    _finish_qa4re(run_list, qa, desc, {"task": "qa4re", "answer": qa.answer_mode,
                                       "option_order": run_list[0]["metrics"]["option_order"],
                                       "permutations": permutations, "prior_pairs": prior_pairs,
                                       **({"prior_file": prior_file} if prior_file else {}),
                                       **_entail_config(qa)}, threads, out, source)


def _eval_choice(model, dataset, split, gold, schema, sample, threads, seed, runs, out, data, shuffle, permutations,
                 save_predictions, progress, answer=None, gloss=False, prior_pairs=None,
                 entail=None, resume=False, prior_file=None) -> None:
    from kgc_lite.data.zero_rte import zero_rte_path
    from kgc_lite.evaluation.qa4re import evaluate_choice, gold_pairs, zero_rte_schema
    from kgc_lite.qa4re.classifier import QA4RE
    from kgc_lite.qa4re.prior import for_run
    from kgc_lite.qa4re.prior import load as load_prior
    from kgc_lite.schema import load_schema
    source = results.source_sha256()
    if gold:
        examples, schema_obj = load_gold(gold), load_schema(schema)
        desc = {"gold": gold, "sha256": file_sha256(gold), "schema": schema_obj.name}
    else:
        examples, schema_obj = zero_rte_schema(dataset, split, data)
        desc = {"dataset": dataset, "split": split, "sha256": file_sha256(zero_rte_path(dataset, split, data))}
    if gloss:
        schema_obj = schema_obj.glossed()
        desc["glossed"] = True
    qa = QA4RE(model, schema_obj, answer=answer, shuffle=shuffle, n_threads=threads, permutations=permutations,
               **(entail or {}))
    if (prior_pairs or prior_file) and qa.answer_mode != "entail":
        raise fail(f"{'--prior' if prior_file else '--prior-pairs'} needs entail answers (--answer entail)", 2)
    if prior_file:
        qa.use_prior(load_prior(prior_file))
        desc["prior"] = {"given": True, **qa.prior}
    elif prior_pairs:
        drawn = {"from": "the scored data", "sha256": desc["sha256"], "seed": seed + 1, "n": prior_pairs}
        counter = Progress("prior pairs", progress, total=min(prior_pairs, gold_pairs(examples)[1]))
        read_back = for_run(qa, lambda: [pair for pair, _ in gold_pairs(examples, prior_pairs, seed + 1)[0]],
                            drawn, save_predictions if runs == 1 else None, resume, counter.tick)  # labels unread
        counter.done()
        if read_back:
            say(f"kgc-lite: prior read back from {save_predictions}.prior.json, not estimated again")
        desc["prior"] = {"drawn_from": "the scored data", "seed": seed + 1, "labels_read": False,
                         "read_back": read_back, **qa.prior}
    run_list = []
    for s in range(seed, seed + runs):
        qa.seed = s
        pairs, total = gold_pairs(examples, sample, s)
        counter = Progress("pairs", progress, total=len(pairs))
        metrics = evaluate_choice(qa, pairs, total, _seeded(save_predictions, s, runs), counter.tick, resume,
                                  desc.get("sha256"))
        counter.done()
        run_list.append({"seed": s, "metrics": metrics})
        say(f"run seed {s}: accuracy {metrics['accuracy']:.2f}, macro-F1 {metrics['macro_f1']:.2f}, "
             f"none of the above {metrics['predicted_none']} of {metrics['n']}, {metrics['pairs_per_s']} pairs/s")
    desc.update(pairs=run_list[0]["metrics"]["of"], sample=sample, relations=run_list[0]["metrics"]["relations"])
    _finish_qa4re(run_list, qa, desc, {"task": "qa4re multiple choice", "answer": qa.answer_mode, "option_order":
                                       run_list[0]["metrics"]["option_order"], "permutations": permutations,
                                       "prior_pairs": prior_pairs,
                                       **({"prior_file": prior_file} if prior_file else {}), **_entail_config(qa)},
                  threads, out, source)


def _entail_config(qa) -> dict:
    return {"entail_examples": qa.entail_examples,
            **({"entail_layout": qa.entail_layout, "evaluation": qa.evaluation} if qa.answer_mode == "entail"
               else {})}


def _seeded(path: Optional[str], seed: int, runs: int) -> Optional[str]:
    return f"{path}.seed{seed}" if path and runs > 1 else path


def _finish_qa4re(run_list, qa, desc, config, threads, out, source) -> None:
    numeric = sorted({k for r in run_list for k, v in r["metrics"].items() if isinstance(v, (int, float))})
    summary = {k: ev.spread([r["metrics"][k] for r in run_list if isinstance(r["metrics"].get(k), (int, float))])
               for k in numeric}
    metrics = {k: v["mean"] for k, v in summary.items()}
    metrics["spread"] = summary
    config = {**config, "seeds": [r["seed"] for r in run_list]}
    doc = results.results_document("eval", model=results.model_info(qa.model), config=config, data=desc,
                                   metrics=metrics, runs=run_list, threads=threads or default_threads(),
                                   extra={"source_sha256": source})
    qa.close()
    results.write_results(doc, out)
    text = "\n".join(f"{k:28} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    (typer.echo if out and out != "-" else say)(text)
