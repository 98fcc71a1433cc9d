"""QA4RE training questions (`kgc-lite train --task qa4re`): the questions inference asks (kgc_lite/qa4re/classifier.py),
built from labelled data, with the gold option's letter as the answer.

Sources: SemEval-2010 Task 8 train; the triplet sets' gold pairs (other pairs of their gold entities as none of
the above); FewRel sentences, each asked over its own set of relations so that the option statements, not
their letters or a fixed relation set, carry the meaning. `--shuffle-options` puts every question's options in
a seeded random order.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator

from kgc_lite.data.benchmarks import load_semeval, load_split
from kgc_lite.data.zero_rte import load_relations, wikidata_relations, wikidata_template
from kgc_lite.errors import InputError, KgcError
from kgc_lite.prompting.prompts import end_of_answer
from kgc_lite.qa4re.questions import OTHER, Option, Pair, QAPrompt, build_options, find_option, undirected
from kgc_lite.schema import Schema, load_schema
from kgc_lite.types import Triplet

QA_SOURCES = ("semeval", "conll04", "ade", "scierc", "fewrel")


def _fewrel_questions(seed: int, held_out: str | None, data_root, gloss: float = 0.0
                      ) -> Iterator[tuple[Schema, Pair, str | None]]:
    """FewRel sentences as QA4RE questions over many relation sets: each sentence's options are its relation
    plus 2 to 17 other seen relations, drawn per sentence (seeded, kgc_lite/train/schema_mix.py); about 15% list
    other relations only, so the answer is none of the above. The held-out split's relations (test and dev)
    appear in no sentence and no option. A `gloss` share of the sentences (drawn per sentence, seeded) have
    every statement followed by its relation's description (schema.Relation.glossed). Yields (schema, pair,
    gold relation or None)."""
    from kgc_lite.train.schema_mix import AugmentOptions, MultiSchemaData
    aug = AugmentOptions(names=False, detok=False, p_empty=0.15, min_relations=3, max_relations=18)
    data = MultiSchemaData(("fewrel",), seed, aug, held_out or None, data_root)
    by_identifier = {r.identifier: r for r in load_relations("fewrel", data_root)}
    for i in range(len(data)):
        schema, ex = data.item(i)
        relations = tuple(replace(r, template=wikidata_template(by_identifier[r.name].name)) for r in schema.relations)
        if gloss and random.Random(f"{seed}|gloss|{i}").random() < gloss:
            relations = tuple(r.glossed(by_identifier[r.name].name) for r in relations)
        schema = replace(schema, relations=relations)
        _, j, _ = data.index[i]
        t = data.sources[0].examples[j].triplets[0]  # FewRel: one triplet a sentence
        listed = ex.triplets[0].relation if ex.triplets else None
        yield schema, Pair(f"fewrel:{j}", ex.text, t.head, t.tail), listed


def is_mined(source: str) -> bool:
    """A QA4RE training source that is a file of wrong pairs (experiments/reader-judge/mine_judge_negatives.py), not a data set."""
    return source.endswith(".jsonl")


def mined_questions(path: str, seed: int, held_out: str | None, data_root) -> Iterator[tuple[Schema, Pair, None]]:
    """Wrong pairs that stage 1 proposed on FewRel training sentences, as none-of-the-above questions. The options
    are the sentence's own relation (the statement the judge should now refuse for this pair) and one other seen
    relation drawn per pair (seeded); held-out relations are never drawn."""
    import orjson

    from kgc_lite.train.schema_mix import held_out_ids
    known = {r.id: r for r in load_relations("fewrel", data_root)}
    excluded = held_out_ids(held_out, data_root)
    seen = sorted(k for k in known if k not in excluded)
    try:
        rows = [orjson.loads(line) for line in open(path, "rb") if line.strip()]
    except (OSError, orjson.JSONDecodeError) as exc:
        raise KgcError(f"mined pairs {path}: {exc}") from None
    for n, row in enumerate(rows):
        own = row["relation"]
        if own not in known or own in excluded:
            continue
        rng = random.Random(f"{seed}|{path}|{n}")
        other = rng.choice([k for k in seen if k != own])
        chosen = [known[own], known[other]]
        rng.shuffle(chosen)
        yield (Schema(f"mined-{n}", wikidata_relations(chosen)),
               Pair(row.get("id", f"mined:{n}"), row["text"], row["head"], row["tail"]), None)


def training_questions(sources: Iterable[str] = ("semeval",), split: str = "train", seed: int = 0,
                       shuffle: bool = False, negatives_per_positive: float = 1.0,
                       data_root: str | Path | None = None, held_out: str | None = "fewrel/unseen_10_seed_0",
                       gloss: float = 0.0) -> Iterator[tuple[str, Pair, list[Option], Option]]:
    """(source, pair, options, gold option) for every training question, built with the options inference offers.

    sources: "semeval" (every labelled pair; Other -> none of the above) and/or triplet sets "conll04", "ade",
    "scierc" (every gold (head, tail) pair is a positive for its relation; other ordered pairs of the same
    sentence's gold entities are none-of-the-above negatives, at most `negatives_per_positive` per positive
    per sentence, drawn with `seed`). Entity types are given when the data has them and they admit the gold
    relation, so options are pruned as at inference with types. "fewrel": every FewRel sentence whose relation
    is not held out (`held_out`, a zero-shot split), each with its own relation set (_fewrel_questions; `gloss`:
    the share of them whose statements carry their descriptions).
    """
    rng = random.Random(seed)

    def make(schema: Schema, pair: Pair, relation: str | None, reversed_: bool):
        try:
            options = build_options(schema, pair, shuffle, seed)
        except InputError:
            options = []
        target = find_option(options, relation, reversed_)
        if target is None and (pair.head_type or pair.tail_type):  # types that exclude the gold: drop them
            return make(schema, replace(pair, head_type=None, tail_type=None), relation, reversed_)
        if target is None:
            return None
        return pair, options, target

    for source in sources:
        if is_mined(source):
            for schema, pair, relation in mined_questions(source, seed, held_out, data_root):
                made = make(schema, pair, relation, False)
                if made:
                    yield (source, *made)
            continue
        if source not in QA_SOURCES:
            raise KgcError(f"unknown QA4RE training source {source!r}; use {', '.join(QA_SOURCES)}")
        if source == "fewrel":
            if split != "train":
                raise KgcError("FewRel QA4RE questions come from its training relations only")
            for schema, pair, relation in _fewrel_questions(seed, held_out, data_root, gloss):
                made = make(schema, pair, relation, False)
                if made:
                    yield (source, *made)
            continue
        if source == "semeval":
            schema = load_schema("semeval")
            for ex in load_semeval(split, data_root):
                if ex.label == OTHER:
                    rel, rev = None, False
                else:
                    rel, rev = undirected(ex.label), ex.label.endswith("(e2,e1)")
                made = make(schema, Pair(ex.id, ex.text, ex.head, ex.tail), rel, rev)
                if made:
                    yield (source, *made)
            continue
        schema = load_schema(source)
        for ex in load_split(source, split, data_root):
            gold: dict[tuple[str, str], Triplet] = {}
            types: dict[str, str] = {}
            for t in ex.triplets:
                gold.setdefault((t.head, t.tail), t)
                for mention, typ in ((t.head, t.head_type), (t.tail, t.tail_type)):
                    if typ in schema.entity_types:
                        types.setdefault(mention, typ)
            for (h, t), trip in gold.items():
                made = make(schema, Pair(ex.id or "", ex.text, h, t, types.get(h), types.get(t)),
                            trip.relation, False)
                if made:
                    yield (source, *made)
            entities = list(dict.fromkeys(m for ht in gold for m in ht))
            others = [(a, b) for a in entities for b in entities if a != b and (a, b) not in gold]
            rng.shuffle(others)
            for a, b in others[: int(math.ceil(negatives_per_positive * len(gold)))]:
                made = make(schema, Pair(ex.id or "", ex.text, a, b, types.get(a), types.get(b)), None, False)
                if made:
                    yield (source, *made)


def training_pairs(sources: Iterable[str] = ("semeval",), split: str = "train", fmt: str = "chatml",
                   seed: int = 0, shuffle: bool = False, negatives_per_positive: float = 1.0,
                   end: bool = False, data_root: str | Path | None = None) -> Iterator[tuple[str, str]]:
    """(prompt_text, answer_text) for every question of training_questions, with the inference QAPrompt.

    answer_text is the letter, followed by the end-of-answer marker when end=True. The prompt text starts
    without BOS (a tokenizer adds it).
    """
    prompt = QAPrompt(fmt)
    stop = end_of_answer(fmt) if end else ""
    for _, pair, options, target in training_questions(sources, split, seed, shuffle, negatives_per_positive,
                                                       data_root):
        yield prompt.text(pair.text, options), target.letter + stop


def entail_statements(pair: Pair, options: list[Option], target: Option, seed: int = 0,
                      negatives: int = 2) -> list[tuple[Option, str]]:
    """What a model trained for the "entail" answer mode learns from one question: the gold option's statement
    answered yes; the gold relation's other direction, when it is offered, answered no (direction is the
    easiest thing to get wrong); and `negatives` other options drawn at random (seeded by the pair), answered no."""
    from kgc_lite.qa4re.questions import NO, YES
    rng = random.Random(f"{seed}|{pair.id}|{pair.head}|{pair.tail}|entail")
    out = [(target, YES)]
    others = [o for o in options if o is not target]
    if target.relation is not None:
        flipped = [o for o in others if o.relation == target.relation]
        out += [(o, NO) for o in flipped]
        others = [o for o in others if o.relation != target.relation]
    out += [(o, NO) for o in rng.sample(others, min(negatives, len(others)))]
    return out
