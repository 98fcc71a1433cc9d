"""The training data of `kgc-lite train` (kgc_lite/train/loop.py runs the training): which data sets a run reads,
the samples built from them, and the seeded plan that says which samples each step takes.

- Sources: triplet sets (ADE, CoNLL04, SciERC or JSONL files with a schema), multi-schema data (FewRel, Wiki-ZSL
  and the triplet sets under per-example schemas, kgc_lite/train/schema_mix.py) and QA4RE questions
  (kgc_lite/train/qa4re_samples.py). Triplet files are checked against their schema (`check_data`) before any model
  loads.
- Samples: the exact prompt `extract` (or `qa4re`) sends, tokenized in the engine's three parts, with labels on
  the answer only (IGNORE elsewhere). Multi-schema samples are tokenized when a step first asks for them.
- The plan: `order` draws each step's samples from one data set, chosen by `mix` (size, equal or weights),
  seeded, so a run and its resume see the same samples in the same steps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from kgc_lite.data.benchmarks import TRIPLET_SETS, load_gold, split_path
from kgc_lite.data.detok import detokenize_examples
from kgc_lite.errors import KgcError
from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig, draw_examples, end_of_answer
from kgc_lite.schema import Schema, load_schema
from kgc_lite.types import Example

if TYPE_CHECKING:
    from kgc_lite.train.options import TrainOptions

TASKS = ("triplets", "qa4re", "both")
IGNORE = -100       # the label of a token the loss skips (the prompt)
QA_PREFIX = "qa:"   # --task both: a QA4RE data set's name in --mix, the samples and the run card


@dataclass
class Sample:
    dataset: str
    index: int
    input_ids: list[int]
    labels: list[int]
    prefix_len: int = 0       # leading tokens shared by every sample of its data set (0: none shared)


@dataclass
class DataSource:
    name: str                 # data set name or file stem
    path: Path
    schema: Schema
    examples: list[Example] = field(default_factory=list)
    questions: int = 0        # qa4re: training questions built from it
    qa: bool = False          # a QA4RE source (task qa4re, or the qa: part of task both)
    multi: object = None      # the schema_data.MultiSchemaData it belongs to (multi-schema data), else None


def load_sources(opts: TrainOptions) -> list[DataSource]:
    if opts.task not in TASKS:
        raise KgcError(f"--task must be one of {', '.join(TASKS)} (got {opts.task!r})")
    if not opts.data:
        raise KgcError("no training data given: name data sets (ade, conll04, scierc) or JSONL files")
    if opts.task == "qa4re":
        return _qa_sources(opts, opts.data)
    if opts.task == "both":
        if not opts.qa_data:
            raise KgcError("--task both needs QA4RE data: --qa-data semeval,fewrel,...")
        qa = _qa_sources(opts, opts.qa_data)
        for src in qa:
            src.name = QA_PREFIX + src.name
        return _triplet_sources(opts) + qa
    return _triplet_sources(opts)


def _triplet_sources(opts: TrainOptions) -> list[DataSource]:
    from kgc_lite.train.schema_mix import is_multi_schema
    if is_multi_schema(opts.data):
        return _multi_sources(opts)
    sources = []
    for item in opts.data:
        if item in TRIPLET_SETS:
            path = split_path(item, "train", opts.data_dir)
            schema = load_schema(item)  # a benchmark set always uses its own schema
            name = item
        else:
            path = Path(item)
            if not path.is_file():
                raise KgcError(f"training data {item!r} is neither a data set name ({', '.join(TRIPLET_SETS)}) "
                               "nor an existing JSONL file")
            if not opts.schema:
                raise KgcError(f"training data {item} needs --schema (the relations its triplets use)")
            schema = load_schema(opts.schema)
            name = path.stem
        examples = load_gold(path)
        check_data(examples, schema, str(path))
        # the benchmark sets are pre-tokenized and get ordinary-punctuation copies; a user's file is taken as written
        if opts.detok_copies and item in TRIPLET_SETS:
            if opts.icl:
                raise KgcError("--detok-copies trains zero-shot prompts on ade/conll04/scierc: pass --icl 0 (a "
                               "sentence's in-context examples could include its own other copy)")
            examples = examples + detokenize_examples(examples, trim=True)[0]
        sources.append(DataSource(name, path, schema, examples))
    return sources


def augment_options(opts: TrainOptions):
    from kgc_lite.train.schema_mix import AugmentOptions
    return AugmentOptions(shuffle=opts.shuffle_relations, distractors=opts.distractors, names=opts.rename_relations,
                          empty=opts.empty_answers, detok=opts.detok_copies is not False, pairs=opts.pairs,
                          min_relations=opts.min_relations, max_relations=opts.max_relations,
                          p_empty=opts.p_empty, p_join=opts.p_join)


def _multi_sources(opts: TrainOptions) -> list[DataSource]:
    """Multi-schema sources (schema_data.MultiSchemaData), one DataSource each; each holds the schema of the
    relations its prompts draw from."""
    from kgc_lite.schema import Relation
    from kgc_lite.train.schema_mix import MultiSchemaData
    if opts.schema:
        raise KgcError("--schema does not apply to multi-schema data (every sample has its own)")
    if opts.icl:
        raise KgcError("multi-schema data trains zero-shot prompts (each has its own schema): pass --icl 0")
    multi = MultiSchemaData(opts.data, opts.seed, augment_options(opts), opts.held_out or None, opts.data_dir)
    out = []
    for src in multi.sources:
        pool = multi.pools[src.family].values()
        schema = Schema(f"{src.name} ({src.family} pool)", tuple(Relation(r.name, r.description, r.head, r.tail)
                                                                 for r in pool))
        out.append(DataSource(src.name, src.paths[0], schema, src.examples, multi=multi))
    return out


def _qa_sources(opts: TrainOptions, items: tuple[str, ...]) -> list[DataSource]:
    """QA4RE training reads the benchmark sets' train splits (semeval, conll04, ade, scierc) and FewRel's
    sentences of the relations --held-out leaves in (fewrel)."""
    from kgc_lite.data.benchmarks import data_dir, semeval_path
    from kgc_lite.data.zero_rte import load_relations, wikidata_relations
    from kgc_lite.train.qa4re_samples import QA_SOURCES, is_mined
    sources = []
    for item in items:
        if is_mined(item):  # wrong pairs from experiments/reader-judge/mine_judge_negatives.py: none-of-the-above questions
            path = Path(item)
            if not path.is_file():
                raise KgcError(f"QA4RE training (--task qa4re's --data, --task both's --qa-data) reads "
                               f"{', '.join(QA_SOURCES)} or a .jsonl of mined wrong pairs; {item!r} is not a file")
        elif item not in QA_SOURCES:
            raise KgcError(f"QA4RE training (--task qa4re's --data, --task both's --qa-data) reads "
                           f"{', '.join(QA_SOURCES)} (their train splits); got {item!r}")
        elif item == "fewrel":
            path = data_dir(opts.data_dir) / "fewrel" / "all.json"
        elif item == "semeval":
            path = semeval_path("train", opts.data_dir)
        else:
            path = split_path(item, "train", opts.data_dir)
        if not path.is_file():
            raise KgcError(f"training data {item!r} not found at {path}")
        schema = (Schema("fewrel", wikidata_relations(load_relations("fewrel", opts.data_dir)))
                  if item == "fewrel" or is_mined(item) else load_schema(item))
        sources.append(DataSource(item, path, schema, qa=True))
    return sources


def check_data(examples: list[Example], schema: Schema, where: str) -> None:
    """Refuse data that cannot teach anything, or that names relations the schema lacks."""
    if not examples:
        raise KgcError(f"training data {where} holds no sentences")
    if not any(ex.triplets for ex in examples):
        raise KgcError(f"training data {where} holds no triplets (expected {{\"text\", \"triplets\": "
                       "[[head, relation, tail], ...]}} records)")
    names = set(schema.relation_names)
    unknown: dict[str, int] = {}
    for ex in examples:
        for t in ex.triplets:
            if t.relation not in names:
                unknown[t.relation] = unknown.get(t.relation, 0) + 1
    if unknown:
        listed = ", ".join(f"{r} ({n}x)" for r, n in sorted(unknown.items(), key=lambda x: -x[1])[:5])
        raise KgcError(f"training data {where} uses relations that schema {schema.name!r} lacks: {listed}; "
                       f"the schema has {', '.join(sorted(names))}")


class Tokens:
    """Tokenization that matches the llama.cpp engine's (see extract.Extractor.prompt_tokens)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer

    def encode(self, text: str, bos: bool = False) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False)
        bos_id = self.tok.bos_token_id
        if bos and bos_id is not None and getattr(self.tok, "add_bos_token", False) and ids[:1] != [bos_id]:
            ids = [bos_id] + ids
        return ids


def build_sample(builder: PromptBuilder, ex: Example, tokens: Tokens, prefix_cache: dict) -> tuple[list[int], list[int]]:
    """(prompt tokens, target tokens) for one example under one builder."""
    prefix = builder.prefix()
    pre = prefix_cache.get(prefix)
    if pre is None:
        pre = prefix_cache[prefix] = tokens.encode(prefix, bos=True)
    user, rest = builder.suffix_parts(ex.text)
    prompt = pre + tokens.encode(user) + tokens.encode(rest)
    target = tokens.encode(builder.answer(ex.triplets) + end_of_answer(builder.config.format))
    return prompt, target


def make_samples(sources: list[DataSource], opts: TrainOptions, tokens: Tokens, fmt: str,
                 log: Callable[[str], None]) -> list[Sample]:
    """Every training sentence as a tokenized sample, with per-sample seeded in-context examples."""
    config = PromptConfig(style=opts.style, icl=opts.icl, rationale=opts.rationale, format=fmt)
    if sources and sources[0].multi is not None:
        return SchemaSamples(sources[0].multi, config, tokens, opts.max_length)
    samples: list[Sample] = []
    skipped = 0
    cache: dict[str, list[int]] = {}
    for src in sources:
        for i, ex in enumerate(src.examples):
            shots = draw_examples(src.examples, opts.icl, seed=_sample_seed(opts.seed, src.name, i),
                                  exclude_text=ex.text) if opts.icl else []
            builder = PromptBuilder(src.schema, config, shots)
            prompt, target = build_sample(builder, ex, tokens, cache if not opts.icl else {})
            if len(prompt) + len(target) > opts.max_length:
                skipped += 1
                continue
            shared = len(cache[builder.prefix()]) if not opts.icl else 0
            samples.append(Sample(src.name, i, prompt + target, [IGNORE] * len(prompt) + target, shared))
    if not samples:
        raise KgcError(f"every training sample is longer than --max-length {opts.max_length} tokens; raise it")
    if skipped:
        log(f"skipped {skipped} of {skipped + len(samples)} samples longer than --max-length {opts.max_length}")
    return samples


class SchemaSamples:
    """Multi-schema samples by index, built and tokenized on demand (schema_data.MultiSchemaData.item): the
    same index gives the same sample in every run with the same seed. `datasets[i]` names sample i's source
    without building it. A sample longer than max_length is rebuilt without distractors, and if still too long
    replaced by the next index that fits (counted in `replaced`)."""

    def __init__(self, data, config: PromptConfig, tokens: Tokens, max_length: int):
        self.data = data
        self.config = config
        self.tokens = tokens
        self.max_length = max_length
        self.datasets = data.datasets
        self.replaced = 0

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> Sample:
        for shift in range(min(len(self.data), 1000)):  # past that, max_length is the problem, not the sample
            j = (i + shift) % len(self.data)
            for distractors in (None, False):
                schema, ex = self.data.item(j, distractors)
                prompt, target = build_sample(PromptBuilder(schema, self.config), ex, self.tokens, {})
                if len(prompt) + len(target) <= self.max_length:
                    self.replaced += shift > 0
                    return Sample(self.datasets[i], i, prompt + target, [IGNORE] * len(prompt) + target)
        raise KgcError(f"no multi-schema training sample fits in --max-length {self.max_length} tokens; raise it")


def make_qa_samples(sources: list[DataSource], opts: TrainOptions, tokens: Tokens, fmt: str,
                    log: Callable[[str], None]) -> list[Sample]:
    """Every QA4RE training question as samples: the prompt inference sends, tokenized in the same parts
    (instruction prefix with BOS, sentence and options as user text, closing with control tokens), and the one
    target token inference reads: the gold option's letter, or with qa_answer "entail" one sample per statement
    of qa4re_data.entail_statements, answered yes or no."""
    from kgc_lite.qa4re.questions import EntailPrompt, QAPrompt
    from kgc_lite.train.qa4re_samples import entail_statements, training_questions
    entail = opts.qa_answer == "entail"
    prompt = EntailPrompt(fmt) if entail else QAPrompt(fmt)
    prefix = tokens.encode(prompt.prefix(), bos=True)
    closing = tokens.encode(prompt.closing())
    answers: dict[str, list[int]] = {}
    samples: list[Sample] = []
    skipped = 0
    counts: dict[str, int] = {}
    questions: dict[str, int] = {}
    named = {s.name.removeprefix(QA_PREFIX): s.name for s in sources}  # --task both: qa:semeval, ...
    for source, pair, options, target in training_questions(list(named), "train", opts.seed,
                                                            opts.shuffle_options, opts.negatives, opts.data_dir,
                                                            opts.held_out or None, opts.gloss):
        sentence = prefix + tokens.encode(prompt.sentence(pair.text))
        asked = ([([o], word) for o, word in entail_statements(pair, options, target, opts.seed)] if entail
                 else [(options, target.letter)])
        fits = False
        for shown, word in asked:
            ids = sentence + tokens.encode(prompt.options(shown)) + closing
            answer = answers.setdefault(word, tokens.encode(word))
            if len(ids) + len(answer) > opts.max_length:
                continue
            fits = True
            counts[source] = counts.get(source, 0) + 1
            samples.append(Sample(named[source], counts[source] - 1, ids + answer, [IGNORE] * len(ids) + answer,
                                  len(prefix)))
        questions[source] = questions.get(source, 0) + fits
        skipped += not fits
    if not samples:
        raise KgcError(f"no QA4RE training question fits in --max-length {opts.max_length} tokens; raise it")
    if skipped:
        log(f"skipped {skipped} of {skipped + sum(questions.values())} questions longer than --max-length "
            f"{opts.max_length}")
    for src in sources:
        src.questions = questions.get(src.name.removeprefix(QA_PREFIX), 0)
    return samples


class Concat:
    """Two sample collections as one (--task both): the triplet samples (a list, or SchemaSamples built on
    demand) then the QA4RE samples; `datasets` names every sample's data set without building it."""

    def __init__(self, first, second: list[Sample]):
        self.first, self.second = first, second
        names = getattr(first, "datasets", None)
        self.datasets = list(names if names is not None else (s.dataset for s in first)) + [s.dataset for s in second]

    @property
    def replaced(self) -> int:
        return getattr(self.first, "replaced", 0)

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, i: int) -> Sample:
        return self.first[i] if i < len(self.first) else self.second[i - len(self.first)]


def make_both_samples(sources: list[DataSource], opts: TrainOptions, tokens: Tokens, fmt: str,
                      log: Callable[[str], None]):
    """--task both: the triplet sources' samples and the QA4RE sources' questions in one collection."""
    triplets = make_samples([s for s in sources if not s.qa], opts, tokens, fmt, log)
    return Concat(triplets, make_qa_samples([s for s in sources if s.qa], opts, tokens, fmt, log))


def _sample_seed(seed: int, name: str, index: int) -> int:
    return (seed * 1_000_003 + sum(ord(c) * 31 ** k for k, c in enumerate(name)) * 7919 + index) % (2 ** 31)


MIXES = ("size", "equal")


def mix_weights(mix: str, sizes: dict[str, int] | None = None) -> dict[str, float]:
    """The weight each data set gets when a step picks one: "size" (its sample count: the union's mix), "equal"
    (1 each), or explicit "name=w,name=w" weights (every data set named, w >= 0, some w > 0). With sizes None
    only the form is checked."""
    err = f"--mix must be size, equal or weights like ade=1,scierc=2 (got {mix!r})"
    if mix in MIXES:
        return {n: (float(k) if mix == "size" else 1.0) for n, k in (sizes or {}).items()}
    weights: dict[str, float] = {}
    for part in mix.split(","):
        name, eq, w = (x.strip() for x in part.partition("="))
        try:
            weights[name] = float(w)
        except ValueError:
            raise KgcError(err) from None
        if not eq or not name or not weights[name] >= 0:
            raise KgcError(err)
    if not any(weights.values()):
        raise KgcError(f"--mix {mix!r}: at least one weight must be > 0")
    if sizes is not None and set(weights) != set(sizes):
        raise KgcError(f"--mix {mix!r} must give a weight to each data set of the run, exactly: "
                       f"{', '.join(sorted(sizes))}")
    return weights


def order(samples: list[Sample], steps: int, batch: int, seed: int, mix: str = "size") -> list[list[int]]:
    """Sample indices per step. Each step's samples come from one data set, picked with probability given by
    mix_weights (size: in proportion to its size, so a run's mix is the union's; equal: uniformly, so small
    data sets are seen in more epochs; name=w: as weighted), each data set being walked through in seeded
    shuffles (epochs). One data set per step lets the step share its prompt prefix (see _step_loss)."""
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    datasets = getattr(samples, "datasets", None)  # SchemaSamples: names without building every sample
    for i, name in enumerate(datasets if datasets is not None else (s.dataset for s in samples)):
        groups.setdefault(name, []).append(i)
    names = sorted(groups)
    by_name = mix_weights(mix, {n: len(groups[n]) for n in names})
    weights = [by_name[n] for n in names]
    pools: dict[str, list[int]] = {n: [] for n in names}
    out = []
    for _ in range(steps):
        name = rng.choices(names, weights)[0]
        step = []
        while len(step) < batch:
            if not pools[name]:
                pools[name] = list(groups[name])
                rng.shuffle(pools[name])
            step.append(pools[name].pop())
        out.append(step)
    return out
