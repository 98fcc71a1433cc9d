"""`kgc-lite train` (LoRA or full fine-tuning; the [train] extra) and `kgc-lite convert` (adapter or full run ->
GGUF)."""

from __future__ import annotations

import os
from typing import List, Optional

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import fail
from kgc_lite.prompting.prompts import FORMATS, STYLES


@app.command("train")
def train_command(
    out: str = typer.Option(..., "--out", "-o", help="Run folder: adapter, run_card.json, checkpoint/."),
    base: Optional[str] = typer.Option(None, "--base", "-b", help="Base model: a models.toml name, a .gguf file "
                                       "(dequantized by transformers), a Hugging Face folder or hub id. Default: the "
                                       "base of models.toml's default model (the embedded SmolLM2-135M-Instruct)."),
    task: str = typer.Option("triplets", "--task", help="triplets: the prompts `extract` sends, answered with "
                             "triplets; qa4re: QA4RE multiple-choice questions (`kgc-lite qa4re`), answered with one "
                             "letter (or yes/no with --answer entail); both: one adapter for the two, --data for "
                             "the triplets and --qa-data for the questions."),
    data: List[str] = typer.Option(["ade", "conll04", "scierc"], "--data", "-d", help="Training data: ade, conll04, "
                                   "scierc (their train splits; comma-separated or repeated: any mix), or JSONL "
                                   'files of {"text", "triplets"} (then --schema). Multi-schema: fewrel, wikizsl '
                                   "and kgc (= ade + conll04 + scierc), e.g. kgc,fewrel: every prompt gets its own "
                                   "schema (kgc_lite/train/schema_mix.py; --icl 0). With --task qa4re: semeval, "
                                   "conll04, ade, scierc (gold pairs as positives, other pairs of gold entities as "
                                   "none-of-the-above), fewrel (each sentence with its own set of 3-18 relations; "
                                   "--held-out's relations left out), or a .jsonl of wrong pairs from "
                                   "experiments/reader-judge/mine_judge_negatives.py "
                                   "(none-of-the-above against their own relation)."),
    qa_data: List[str] = typer.Option(["semeval,fewrel,conll04,scierc"], "--qa-data", help="--task both: the "
                                      "QA4RE training data (as --data with --task qa4re); in --mix they are named "
                                      "qa:semeval, qa:fewrel, ... (weigh the tasks there: by size the questions, "
                                      "a few per sentence, outnumber the triplet sentences)."),
    schema: Optional[str] = typer.Option(None, "--schema", "-s", help="Schema of JSONL training data (name or "
                                         ".toml/.json file); the benchmark sets use their own."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", envvar="KGC_LITE_DATA",
                                           help="Folder holding kgc/ (default: ../shared/data)."),
    prompt_style: str = typer.Option("natural", "--prompt-style", help=f"Answer style: {' or '.join(STYLES)}."),
    icl: Optional[int] = typer.Option(None, "--icl", min=0, help="In-context examples per training prompt, drawn "
                                      "per sample (seeded) from the same data set (default: 3; qa4re: 0)."),
    rationale: bool = typer.Option(False, "--rationale/--no-rationale", help="Train the model to list relations "
                                   "and entities before the triplets."),
    prompt_format: Optional[str] = typer.Option(None, "--format", help=f"Prompt format: {' or '.join(FORMATS)} "
                                                "(default: the base's registry entry, else chatml)."),
    full: bool = typer.Option(False, "--full", help="Full fine-tuning: every weight of the base trains, no LoRA "
                              "(--rank, --alpha and --dropout unused; use a lower --lr, e.g. 5e-5). Writes "
                              "model.safetensors (fp16, the whole model); `kgc-lite convert` writes it over the "
                              "base's GGUF. Memory: about 16 bytes per parameter (2.2 GB for 135M)."),
    rank: int = typer.Option(16, "--rank", "-r", min=1, help="LoRA rank."),
    alpha: float = typer.Option(16.0, "--alpha", help="LoRA alpha (the update is scaled by alpha / rank)."),
    dropout: float = typer.Option(0.05, "--dropout", min=0.0, max=0.9, help="LoRA dropout."),
    lr: float = typer.Option(2e-4, "--lr", help="Peak learning rate (linear warm-up, then linear decay)."),
    warmup: int = typer.Option(10, "--warmup", min=0, help="Warm-up steps."),
    steps: int = typer.Option(200, "--steps", min=1, help="Optimizer steps."),
    batch: int = typer.Option(8, "--batch", min=1, help="Samples per optimizer step."),
    micro_batch: int = typer.Option(4, "--micro-batch", min=1, help="Samples per forward pass (gradient "
                                    "accumulation up to --batch); lower it if memory runs out."),
    max_length: int = typer.Option(1024, "--max-length", min=16, help="Longest sample in tokens (prompt + "
                                   "answer); longer ones are skipped and counted."),
    seed: int = typer.Option(0, "--seed", help="Seed for sample order, in-context draws and LoRA init."),
    save_every: int = typer.Option(25, "--save-every", min=1, help="Checkpoint every N steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --out's checkpoint (same options): after "
                                "a crash, or Ctrl-C or SIGTERM, which stop a run after its step with a checkpoint. A run begun "
                                "with --init-adapter/--start-step goes on with them; they need not be given again."),
    mix: str = typer.Option("size", "--mix", help="How each step picks its data set when several are given: "
                            "size (in proportion to their sizes: the union's mix), equal (each equally often; "
                            "small sets get more epochs), or weights for each set, e.g. "
                            "ade=1,conll04=1,scierc=2."),
    init_adapter: Optional[str] = typer.Option(None, "--init-adapter", help="Start from this adapter folder's "
                                               "LoRA weights (same --rank and --alpha) with a fresh optimizer "
                                               "and schedule: train a shipped adapter further."),
    skip_steps: int = typer.Option(0, "--skip-steps", min=0, help="Skip the first N steps of the seeded "
                                   "sample order; with --init-adapter and the same --seed and --batch, the run "
                                   "picks up the data where the adapter's run stopped."),
    start_step: int = typer.Option(0, "--start-step", min=0, help="Go on with a run on another machine: "
                                   "with --init-adapter (its adapter at step N) and the run's own options, steps "
                                   "N+1..--steps follow the same sample plan and learning-rate schedule (only "
                                   "the optimizer's moments start afresh)."),
    held_out: str = typer.Option("fewrel/unseen_10_seed_0", "--held-out", help="Multi-schema data: the zero-shot "
                                 "split whose test and dev relations are removed (by Wikidata id) from FewRel and "
                                 "Wiki-ZSL sentences and distractors; '' for none."),
    shuffle_relations: bool = typer.Option(True, "--shuffle-relations/--no-shuffle-relations", help="Multi-schema: "
                                           "list each prompt's relations in random order (off: by name)."),
    distractors: bool = typer.Option(True, "--distractors/--no-distractors", help="Multi-schema: add relations "
                                     "the sentence does not use, so a prompt lists 2 to --max-relations."),
    min_relations: int = typer.Option(2, "--min-relations", min=1, help="Multi-schema: fewest relations a prompt "
                                      "lists with distractors. --min-relations 1 --max-relations 1 --p-empty 0.5 "
                                      "trains a one-relation reader (experiments/reader-judge): each prompt names "
                                      "one relation, the sentence's or another one (answered [])."),
    max_relations: int = typer.Option(20, "--max-relations", min=1, help="Multi-schema: most relations a prompt "
                                      "lists with distractors."),
    p_empty: float = typer.Option(0.1, "--p-empty", min=0.0, max=1.0, help="Multi-schema: share of prompts that "
                                  "list none of the sentence's relations (answer [])."),
    p_join: float = typer.Option(0.0, "--p-join", min=0.0, max=1.0, help="Multi-schema: share of FewRel and "
                                 "Wiki-ZSL sentences joined with 1 or 2 others of their source into one text with all "
                                 "their triplets, so the model learns to list several facts (these sources label one "
                                 "a sentence)."),
    rename_relations: bool = typer.Option(True, "--rename-relations/--no-rename-relations", help="Multi-schema: "
                                          "sometimes name relations otherwise (another wording, or R1, R2, ...), "
                                          "so the description carries the meaning."),
    empty_answers: bool = typer.Option(True, "--empty-answers/--no-empty-answers", help="Multi-schema: sometimes "
                                       "list none of the sentence's relations (answer [])."),
    detok_copies: Optional[bool] = typer.Option(None, "--detok-copies/--no-detok-copies", help="Also train on "
                                                "each sentence in ordinary punctuation ('Redmond, Washington.'). "
                                                "Default: on for multi-schema data, off for ade/conll04/scierc "
                                                "(on: each set twice, tokenized and ordinary); never applied to "
                                                "your own JSONL, which is taken as written."),
    pairs: bool = typer.Option(False, "--pairs", help="Multi-schema: train a pair finder (stage 1 of "
                               "`extract --two-stage`): every relation becomes the built-in `pairs` schema's "
                               "one relation, related_to, so the model learns which spans a fact links."),
    threads: Optional[int] = typer.Option(None, "--threads", "-t", min=1, help="CPU threads for torch."),
    device: Optional[str] = typer.Option(None, "--device", help="cuda or cpu (default: cuda when present; bf16 "
                                         "there, fp32 on the CPU)."),
    dtype: str = typer.Option("auto", "--dtype", help="The base's weights while training: auto (bf16 on a GPU "
                              "that has it, else float32), float32 or bfloat16. On a CPU with AMX-BF16 (recent "
                              "Xeons; `grep amx_bf16 /proc/cpuinfo`) bfloat16 multiplies about 5x faster; the "
                              "LoRA weights and the loss stay float32."),
    shuffle_options: bool = typer.Option(False, "--shuffle-options/--no-shuffle-options", help="qa4re: shuffle "
                                         "each question's options (seeded), so the model must read them rather "
                                         "than learn letter positions."),
    negatives: float = typer.Option(1.0, "--negatives", hidden=True,
                                    min=0.0, help="qa4re on triplet sets: none-of-the-above "
                                    "questions per gold pair of a sentence."),
    qa_answer: str = typer.Option("logits", "--answer", help="qa4re: logits (the answer is the gold option's "
                                  "letter) or entail (each statement asked alone and answered yes or no: the gold, "
                                  "its other direction and 2 other options per question; free of option order by "
                                  "construction). Set qa4re_answer in models.toml to match when shipping."),
    gloss: float = typer.Option(0.0, "--gloss", hidden=True,
                                min=0.0, max=1.0, help="qa4re on fewrel: share of questions "
                                "whose statements are followed by their relation's description (\"the competition "
                                "class of X is Y (competition class: official classification by ...)\"), for a "
                                "judge that reads what a relation means, not only its name (`--gloss` at inference)."),
) -> None:
    """Fine-tune a LoRA adapter (or, with --full, every weight) with the prompts `extract` (or `qa4re`, with
    --task qa4re) sends; the loss covers the answer only."""
    from kgc_lite.train.loop import train
    from kgc_lite.train.options import TrainOptions
    if prompt_style not in STYLES:
        raise fail(f"--prompt-style must be one of: {', '.join(STYLES)} (got {prompt_style!r})", 2)
    if prompt_format is not None and prompt_format not in FORMATS:
        raise fail(f"--format must be one of: {', '.join(FORMATS)} (got {prompt_format!r})", 2)
    if device not in (None, "cpu", "cuda"):
        raise fail(f"--device must be cpu or cuda (got {device!r})", 2)
    from kgc_lite.train.samples import TASKS
    if task not in TASKS:
        raise fail(f"--task must be one of: {', '.join(TASKS)} (got {task!r})", 2)
    items = tuple(x.strip() for d in data for x in d.split(",") if x.strip())
    from kgc_lite.train.schema_mix import is_multi_schema
    if icl is None:
        icl = 0 if task == "qa4re" or is_multi_schema(items) else 3
    opts = TrainOptions(base=base, task=task, data=items, schema=schema, data_dir=data_dir, style=prompt_style, icl=icl,
                        rationale=rationale, format=prompt_format, rank=rank, alpha=alpha, dropout=dropout, lr=lr,
                        warmup=warmup, steps=steps, batch=batch, micro_batch=micro_batch, max_length=max_length,
                        seed=seed, save_every=save_every, threads=threads, device=device, dtype=dtype,
                        shuffle_options=shuffle_options, negatives=negatives, init_adapter=init_adapter,
                        skip_steps=skip_steps, start_step=start_step, mix=mix, held_out=held_out, shuffle_relations=shuffle_relations,
                        distractors=distractors, min_relations=min_relations, max_relations=max_relations,
                        p_empty=p_empty, p_join=p_join, rename_relations=rename_relations,
                        empty_answers=empty_answers, detok_copies=detok_copies, qa_answer=qa_answer, gloss=gloss,
                        pairs=pairs, full=full, qa_data=tuple(x.strip() for d in qa_data for x in d.split(",") if x.strip()))
    train(opts, out, resume=resume)


@app.command("convert")
def convert_command(
    adapter: str = typer.Argument(..., help="LoRA adapter folder (adapter_config.json + "
                                  "adapter_model.safetensors), e.g. a `kgc-lite train` run folder, or a "
                                  "`train --full` run folder (model.safetensors), written over its GGUF base."),
    out: str = typer.Option(..., "--out", "-o", help="GGUF file to write."),
    base: Optional[str] = typer.Option(None, "--base", "-b", help="Base model the adapter was trained on: a "
                                       "models.toml name, a .gguf file or a Hugging Face folder (default: the "
                                       "run card's base, else the base of models.toml's default model)."),
    qtype: str = typer.Option("Q8_0", "--type", "-q", help="F32, F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, ... "
                              "(merged model; llama.cpp quantizes)."),
    lora_only: bool = typer.Option(False, "--lora-only", help="Write the adapter alone as a GGUF LoRA for "
                                   "llama.cpp (Llama(lora_path=...)), F16 unless --type F32."),
    threads: Optional[int] = typer.Option(None, "--threads", "-t", min=1, help="Threads for quantizing."),
) -> None:
    """Merge a LoRA adapter into its base and write a (quantized) GGUF, or export the adapter as a GGUF LoRA.
    A `train --full` run folder is written over its base GGUF instead (every tensor it holds replaces the base's).

    The merged GGUF records the prompt style and in-context example count the run card says the adapter was
    trained with, so `extract --model that.gguf` and `eval -m that.gguf` prompt it the same way by default."""
    from kgc_lite.models import merge
    from kgc_lite.train import convert as train_convert
    base_ref = base or _card_base(adapter)
    if lora_only and merge.is_full_run(adapter):
        raise fail(f"{adapter} is a full fine-tune: it has no adapter to export; convert it without --lora-only", 2)
    if lora_only:
        gguf_base = train_convert.base_gguf(base_ref)
        path = merge.export_lora(adapter, gguf_base, out, "F32" if qtype.upper() == "F32" else "F16")
    else:
        path = train_convert.convert(adapter, base_ref, out, qtype, threads)
    typer.echo(f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MiB)", err=True)


def _card_base(adapter: str) -> Optional[str]:
    """The base named in the adapter's run card, if it is still where the card says (a campaign snapshot's
    card names it by the --base the run was given)."""
    from kgc_lite.models.merge import read_run_card
    card = read_run_card(adapter)
    info = card.get("base")
    if not isinstance(info, dict):
        given = card.get("options", {}).get("base")
        return given if isinstance(given, str) and given else None
    ref, path = info.get("ref"), info.get("path")
    if path and os.path.exists(path):
        return path
    return ref
