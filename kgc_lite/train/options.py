"""Everything one training run is given (`kgc-lite train`'s options), recorded in its run card."""

from __future__ import annotations

from dataclasses import dataclass

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainOptions:
    """Every option of a run; the defaults are the recipe of Gajo & Barrón-Cedeño (2025)."""
    base: str | None = None                  # registry name, .gguf, HF folder or hub id; None: the default model
    task: str = "triplets"                   # triplets: extract's prompts; qa4re: QA4RE questions; both
    data: tuple[str, ...] = ("ade", "conll04", "scierc")  # data set names, or JSONL files (then `schema`)
    schema: str | None = None                # schema for JSONL data (name or file)
    data_dir: str | None = None
    style: str = "natural"
    icl: int = 3
    rationale: bool = False
    format: str | None = None                # chatml/plain; None: from the registry entry, else chatml
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.05
    lr: float = 2e-4
    warmup: int = 10
    steps: int = 200
    batch: int = 8
    micro_batch: int = 4
    max_length: int = 1024
    seed: int = 0
    save_every: int = 25
    threads: int | None = None
    device: str | None = None                # cuda / cpu; None: cuda when present
    dtype: str = "auto"                      # the base's weights: auto (bf16 on a bf16 GPU, else fp32), float32,
                                             # bfloat16 (on a CPU with AMX-BF16 about 5x fp32's matmul speed)
    shuffle_options: bool = False            # qa4re: shuffle each question's options (seeded)
    negatives: float = 1.0                   # qa4re, triplet sets: none-of-the-above pairs per gold pair
    qa_answer: str = "logits"                # qa4re: "logits" (a letter) or "entail" (yes/no per statement)
    gloss: float = 0.0                       # qa4re, fewrel: share of questions whose statements carry descriptions
    init_adapter: str | None = None          # start from this adapter's LoRA weights (fresh optimizer/schedule)
    skip_steps: int = 0                      # skip the first N steps of the seeded data plan (continue an epoch)
    start_step: int = 0                      # go on with a run at its step N on another machine (--init-adapter)
    mix: str = "size"                        # how steps pick a data set: size, equal, or weights name=w,...
    # multi-schema data (schema_data.py): held-out zero-shot split and the augmentations, each can be turned off
    held_out: str = "fewrel/unseen_10_seed_0"
    shuffle_relations: bool = True
    distractors: bool = True
    min_relations: int = 2
    max_relations: int = 20
    rename_relations: bool = True
    empty_answers: bool = True
    p_empty: float = 0.1                     # share of prompts listing none of the sentence's relations
    p_join: float = 0.0                      # share of Wikidata sentences joined with 1-2 others (multi-fact text)
    detok_copies: bool | None = None         # ordinary-punctuation copies: None = on for multi-schema data only
    pairs: bool = False                      # multi-schema: train the pair finder (the pairs schema's one relation)
    qa_data: tuple[str, ...] = ("semeval", "fewrel", "conll04", "scierc")  # task both: the QA4RE data sets
    full: bool = False                       # full fine-tuning: every weight trains, no LoRA (rank/alpha unused)
