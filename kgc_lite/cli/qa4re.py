"""`kgc-lite qa4re` (also `kgc-lite --qa4re`, which `cli.main` routes here with all its options): entity pairs
in, one chosen relation per pair out (JSONL)."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import Progress, fail, hint_at_terminal, write_jsonl
from kgc_lite.cli.options import gpu_layers, gpu_layers_option
from kgc_lite.errors import InputError, KgcError
from kgc_lite.io.inputs import check_sources
from kgc_lite.qa4re.classifier import QA4RE
from kgc_lite.qa4re.pairs import read_extract_output, read_pairs
from kgc_lite.qa4re.questions import ANSWER_MODES, ENTAIL_EXAMPLES, ENTAIL_LAYOUTS

ON_ERROR = ("stop", "skip")


@app.command("qa4re")
def qa4re_command(
    files: Annotated[Optional[List[str]], typer.Argument(
        help='JSONL files of {"id"?, "text", "head", "tail", "head_type"?, "tail_type"?, "schema"?} records, or '
             "lines with <e1>…</e1> <e2>…</e2> markup (SemEval's own jsonl and `ID<TAB>\"sentence\"` lines work "
             "too); none or '-' reads stdin.")] = None,
    schema: Annotated[str, typer.Option(
        "--schema", "-s", help="Relation set: semeval, conll04, ade, scierc, or a .toml/.json schema file (same "
                               "format as extract; templates are the option statements).")] = "semeval",
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Model name from models.toml, or a .gguf path. Default: the model models.toml's "
                               "qa4re_sets give the relation set (smollm2-135m-qa4re-semeval for semeval, "
                               "smollm2-135m-qa4re-entail for any other set, yours included).")] = None,
    answer: Annotated[Optional[str], typer.Option(
        "--answer", help="logits: read the offered letters' logits after one forward pass (fast, gives a "
                         "confidence); grammar: generate the letter under the GBNF letter grammar; entail: ask "
                         "each option statement alone, answered yes or no, and take the likeliest yes (free of "
                         "option order; for models trained so). Default: the model's own (models.toml "
                         "qa4re_answer), else logits.")] = None,
    all_options: Annotated[bool, typer.Option(
        "--all-options/--no-all-options", help="Also write every offered option with its probability.")] = False,
    shuffle: Annotated[bool, typer.Option(
        "--shuffle/--no-shuffle", help="Shuffle the option order per pair, seeded (position-bias tests). "
                                       "Default: the schema's order, none of the above last.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --shuffle.")] = 0,
    permutations: Annotated[int, typer.Option(
        "--permutations", "-k", min=1, max=26, help="Ask each question in K option orders (the order above and "
        "its cyclic shifts) and average each option's probability: less position bias, K times the option "
        "tokens to evaluate (the sentence is evaluated once).")] = 1,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Input is `kgc-lite extract` output: re-label each extracted triplet's pair and report "
                         "whether QA4RE agrees (use the schema extract used).")] = False,
    on_error: Annotated[str, typer.Option(
        "--on-error", help="stop: first bad record ends the run (exit 1) after the lines already written, and a "
                           "file that cannot be opened ends it before the model loads; skip: write an error line "
                           "for it and go on.")] = "stop",
    n_gpu_layers: Optional[int] = gpu_layers_option(),
    threads: Annotated[Optional[int], typer.Option(
        "--threads", "-t", min=1, help="CPU threads (default: cores, max 8).")] = None,
    ctx: Annotated[Optional[int], typer.Option(
        "--ctx", min=256, help="Context window in tokens (default: 2048, or less if the model has less).")] = None,
    progress: Annotated[Optional[bool], typer.Option(
        "--progress/--no-progress", help="Show a counter on stderr (default: when stderr is a terminal).")] = None,
    prior_from: Annotated[Optional[str], typer.Option(
        "--prior-from", help="Entail answers: first estimate how readily the model says yes to each option "
                             "statement, over these unlabeled pairs (a JSONL file like the input; any labels are "
                             "ignored; a few hundred of your own pairs), then answer relative to it. Helps an "
                             "untuned model that says yes to nearly everything "
                             "(experiments/zero-shot-judge/README.md).")] = None,
    prior: Annotated[Optional[str], typer.Option(
        "--prior", help="Entail answers: a prior saved with --save-prior (same model, same relation set).")] = None,
    entail_examples: Annotated[Optional[int], typer.Option(
        "--entail-examples", min=0, max=len(ENTAIL_EXAMPLES),
        help="Entail answers: put N (0-4) written yes/no demonstrations before each question (kgc-lite's own, "
             "evaluated once). For untuned chat models; default: the model's (models.toml entail_examples, 0 for "
             "fine-tuned judges).")] = None,
    entail_layout: Annotated[Optional[str], typer.Option(
        "--entail-layout", hidden=True, metavar="LAYOUT",
        help="Entail answers: statement-first asks the question after each statement (how the fine-tuned judges "
             "were trained); question-first asks it once after the sentence: about half the tokens a statement, "
             "but 3.6 micro-F1 lower for the untuned 1.5B judge on SemEval (docs/history.md, stop 26). "
             "Default: the model's (models.toml entail_layout).")] = None,
    entail_batch: Annotated[bool, typer.Option(
        "--entail-batch/--no-entail-batch", hidden=True,
        help="Entail answers: evaluate a pair's option statements together in one llama.cpp batch instead of one "
             "call each. 1.24x the pairs/s for the untuned 1.5B judge on 2 CPU threads, 0.97x for the 135M judge, "
             "the same options chosen (log-odds differ by about 0.05; docs/history.md, stop 28).")] = False,
    save_prior: Annotated[Optional[str], typer.Option(
        "--save-prior", help="Write the prior estimated by --prior-from to this JSON file. With no input files, "
                             "only estimate and save it (pass - to also answer stdin).")] = None,
) -> None:
    """Choose the relation between two marked entities of a sentence by multiple-choice QA (QA4RE).

    An untuned chat model as the judge (--answer entail -m qwen2.5-coder-1.5b-instruct) says yes to nearly every
    statement; estimate its prior once on your own unlabeled pairs and reuse it:

    \b
        kgc-lite qa4re -s mine.toml -m M --answer entail --prior-from sample.jsonl --save-prior prior.json
        kgc-lite qa4re -s mine.toml -m M --answer entail --prior prior.json pairs.jsonl
    """
    n_gpu_layers = gpu_layers(n_gpu_layers)
    for value, allowed, name in ((answer, ANSWER_MODES, "--answer"), (on_error, ON_ERROR, "--on-error"),
                                 (entail_layout, ENTAIL_LAYOUTS, "--entail-layout")):
        if value is not None and value not in allowed:
            raise fail(f"{name} must be one of: {', '.join(allowed)} (got {value!r})", 2)
    if prior and prior_from:
        raise fail("give --prior (a saved prior) or --prior-from (pairs to estimate one from), not both", 2)
    if save_prior and not prior_from:
        raise fail("--save-prior saves the prior that --prior-from estimates; give --prior-from PAIRS", 2)
    check_sources(([prior_from] if prior_from else []) + ((files or []) if on_error == "stop" else []))
    if not (save_prior and not files):  # --save-prior alone reads no pairs
        hint_at_terminal(files, "extract's JSON lines" if verify else "pairs (JSON lines, or sentences with <e1> <e2>)")
    from kgc_lite.qa4re import prior as qa4re_prior
    loaded = qa4re_prior.load(prior) if prior else None
    qa = QA4RE(model, schema, answer=answer, shuffle=shuffle, seed=seed, n_ctx=ctx, n_threads=threads,
               n_gpu_layers=n_gpu_layers, permutations=permutations, prior=loaded, entail_examples=entail_examples,
               entail_layout=entail_layout, entail_batch=entail_batch)
    if prior_from:
        if qa.answer_mode != "entail":
            raise fail("--prior-from estimates a prior for entail answers: add --answer entail", 2)
        counter = Progress("prior pairs", progress)
        estimated = qa4re_prior.estimate(qa, read_pairs([prior_from]), counter.tick)
        counter.done()
        qa.use_prior(estimated)
        if save_prior:
            qa4re_prior.save(estimated, save_prior)
        typer.echo(f"kgc-lite: prior estimated over {estimated['pairs']} pairs in {estimated['seconds']:.0f} s"
                   + (f", saved to {save_prior}" if save_prior else ""), err=True)
        if save_prior and not files:
            return
    if verify and len(qa.schema.relations) == 1:
        typer.echo(f"kgc-lite: warning: --verify with the one-relation schema {qa.schema.name!r} can only keep a "
                   "pair or call it unrelated, and tends to drop right ones (on ADE it dropped 393 of 398, F1 65.2 "
                   "-> 2.2; experiments/verify/README.md)", err=True)
    reader = read_extract_output if verify else read_pairs
    counter = Progress("pairs", progress)
    errors = 0
    for source in files or ["-"]:
        try:
            errors += write_jsonl(_stop_at_bad(qa.records(reader([source]), all_options), on_error), counter)
        except InputError as exc:
            if on_error == "stop":
                raise
            errors += write_jsonl([{"id": source, "error": str(exc)}])
        except KgcError as exc:
            if on_error == "stop" or not _per_source(exc):
                raise
            errors += write_jsonl([{"id": source, "error": str(exc)}])
    if errors and on_error == "skip":
        typer.echo(f"kgc-lite: {errors} record(s) skipped with errors", err=True)


def _per_source(exc: KgcError) -> bool:
    """Missing or unreadable files are per-source problems; others (model, schema) end the run."""
    text = str(exc)
    return text.endswith(("no such file", "is a directory")) or "cannot read" in text


def _stop_at_bad(records, on_error: str):
    for record in records:
        if "error" in record and on_error == "stop":
            raise InputError(record["error"])
        yield record
