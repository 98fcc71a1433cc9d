"""`kgc-lite bench`: throughput of the extractor against the naive loop, measured in the same run."""

from __future__ import annotations

from typing import Optional

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import check_choice, say
from kgc_lite.cli.eval import gold_and_data, model_defaults
from kgc_lite.cli.options import (
    ctx_option,
    gpu_layers,
    gpu_layers_option,
    model_option,
    threads_option,
)
from kgc_lite.data.benchmarks import SPLITS, TRIPLET_SETS, load_split
from kgc_lite.evaluation import results
from kgc_lite.prompting.prompts import STYLES
from kgc_lite.runtime.engine import default_threads


@app.command("bench")
def bench_command(
    dataset: str = typer.Option("conll04", "--dataset", "-d", help=f"Benchmark set: {', '.join(TRIPLET_SETS)}."),
    split: str = typer.Option("test", "--split", help=f"Split: {', '.join(SPLITS)}."),
    data: Optional[str] = typer.Option(None, "--data-dir", envvar="KGC_LITE_DATA", help="Folder holding kgc/ "
                                       "(default: $KGC_LITE_DATA, else ../shared/data)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N sentences of the split."),
    model: Optional[str] = model_option(),
    prompt_style: Optional[str] = typer.Option(None, "--prompt-style", help=f"Extractor's answer style: "
                                               f"{' or '.join(STYLES)} (default: the model's; the baseline always "
                                               "answers in JSON, i.e. natural)."),
    icl: Optional[int] = typer.Option(None, "--icl", min=0, help="In-context examples (drawn from train with "
                                      "--seed; default: the model's)."),
    batch: int = typer.Option(1, "--batch", "-b", min=1, max=64, help="Extractor side: sentences decoded together "
                              "(as `extract --batch`); the baseline goes one by one."),
    seed: int = typer.Option(0, "--seed", help="Seed of the in-context example draw."),
    warmup: int = typer.Option(2, "--warmup", min=1, help="Untimed sentences before the timed passes (the first "
                               "one gives the cold time to first output)."),
    repeat: int = typer.Option(3, "--repeat", min=1, help="Timed passes over the sentences; median and spread."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also run the naive baseline "
                                  "(create_chat_completion + JSON-schema response_format) and print the ratio."),
    threads: Optional[int] = threads_option(),
    n_gpu_layers: Optional[int] = gpu_layers_option(),
    ctx: Optional[int] = ctx_option(),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Write the JSON results file here (default: "
                                      "stdout, with the table on stderr)."),
) -> None:
    """Throughput (sentences/s, tokens/s, time to first output) and peak RSS of extract vs the naive baseline."""
    n_gpu_layers = gpu_layers(n_gpu_layers)
    check_choice(dataset, TRIPLET_SETS, "--dataset")
    check_choice(split, SPLITS, "--split")
    if prompt_style is not None:
        check_choice(prompt_style, STYLES, "--prompt-style")
    # the extractor side follows the model on --retokenize (bench has no such flag): only style and icl are read
    prompt_style, icl, _, _ = model_defaults(model, prompt_style, icl, retokenize=False, stop_margin=0.0)
    from kgc_lite.evaluation import bench as bench_mod
    source = results.source_sha256()
    examples, desc, _ = gold_and_data(dataset, split, None, data, limit)
    pool = load_split(dataset, "train", data)
    metrics = bench_mod.bench(examples, schema=dataset, style=prompt_style, icl=icl, pool=pool, seed=seed,
                              model=model, n_threads=threads, n_gpu_layers=n_gpu_layers, n_ctx=ctx, warmup=warmup,
                              repeat=repeat, baseline=baseline, batch=batch, log=say)
    side = metrics["extract"]
    import pathlib

    from kgc_lite.models.registry import ModelSpec, ResolvedModel
    resolved = ResolvedModel(ModelSpec(name=side["model"]["name"]), pathlib.Path(side["model"]["path"]),
                             side["model"]["sha256"])
    model_desc = results.model_info(resolved)
    model_desc["quantization"] = results.quantization(side["metadata"], side["model"]["path"])
    for s in bench_mod.SIDES:
        if s in metrics:
            metrics[s].pop("metadata", None)
            metrics[s].pop("predictions", None)  # keyed by sentence; the F1s above summarise them
    config = {"task": "bench", "schema": dataset, "prompt_style": prompt_style, "baseline_prompt_style": "natural",
              "icl": icl, "icl_pool": "train", "seed": seed, "warmup": warmup, "repeat": repeat, "batch": batch,
              "baseline": baseline, "threads": threads or default_threads(), "n_gpu_layers": n_gpu_layers,
              "load_average_after": list(__import__("os").getloadavg())}
    doc = results.results_document("bench", model=model_desc, config=config, data=desc, metrics=metrics,
                                   threads=threads or default_threads(), n_gpu_layers=n_gpu_layers,
                                   extra={"source_sha256": source})
    results.write_results(doc, out)
    table = bench_mod.bench_table(metrics)
    title = (f"bench {dataset} {split} ({len(examples)} sentences) · {model_desc['name']} · {prompt_style}, {icl} ICL"
             f" · {threads or default_threads()} thread(s)" + (f" · batch {batch}" if batch > 1 else ""))
    if out and out != "-":
        typer.echo(title + "\n" + table + f"\nresults: {out}")
    else:
        say(title + "\n" + table)
