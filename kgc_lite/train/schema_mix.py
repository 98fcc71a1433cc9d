"""Schemas built from data, and training prompts over many schemas (`kgc-lite train --data fewrel`, `kgc,fewrel`).

A model that should follow any schema must see many: each training sentence here gets its own schema, drawn
with a generator seeded by (run seed, source, sentence, copy), so a run is reproducible sample by sample:

- the sentence's relations, plus a random number of distractor relations (so that a prompt lists about
  `min_relations` to `max_relations`), in random order;
- with some probability, names replaced by another wording of the same name or by neutral labels (R1, R2, ...),
  so that the description, which is always there, has to carry the meaning;
- with some probability none of the sentence's relations is listed, and the answer is [];
- each sentence also as a copy in ordinary punctuation (data.detokenize), not only the data's tokenized text;
- with probability `p_join` (off by default), a Wikidata sentence followed by 1 to `join_max` others of its
  source, as one text with all their triplets: FewRel and Wiki-ZSL label one fact a sentence, and a model
  trained on them alone learns to stop after the first triplet, where a user's text states several.

With `pairs` (`kgc-lite train --pairs`) none of that applies: every sentence is asked under the one-relation
`pairs` schema and answers each labelled (head, tail) as `related_to`. That trains the pair finder, stage 1 of
two-stage extraction (kgc_lite/extract/two_stage.py).

Every augmentation has an off switch (AugmentOptions), for ablations. Sources: `fewrel` and `wikizsl` (Wikidata
relations, all.json) and `kgc` (ADE + CoNLL04 + SciERC train, their own relations; `ade`, `conll04`, `scierc`
name one of them). The relations of the zero-shot split named by `held_out` (its test AND dev labels) are
removed by Wikidata id from both Wikidata sources, sentence and distractor alike: a sentence with any held-out
triplet is dropped whole, as the RelationPrompt protocol trains on the sentences of the other relations only.

Gold heads and tails that swallowed the sentence's period ("Texas." in CoNLL04) lose it (the extraction grammar
no longer produces such spans, and "Texas" is a span of the token "Texas." too).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from kgc_lite.data.benchmarks import TRIPLET_SETS, data_dir, load_split, split_path
from kgc_lite.data.detok import detokenize_example, trim_sentence_period
from kgc_lite.data.zero_rte import held_out_relations, load_relations, load_wikidata_triplets
from kgc_lite.errors import KgcError
from kgc_lite.schema import Relation, Schema, load_schema
from kgc_lite.types import Example, Triplet

WIKIDATA_SOURCES = ("fewrel", "wikizsl")


MULTI_SOURCES = ("kgc", *WIKIDATA_SOURCES, *TRIPLET_SETS)


DEFAULT_HELD_OUT = "fewrel/unseen_10_seed_0"


def is_multi_schema(items: tuple[str, ...] | list[str]) -> bool:
    """Whether training data names a multi-schema source (then every item must be one: see MULTI_SOURCES)."""
    return any(item in ("kgc", *WIKIDATA_SOURCES) for item in items)


@dataclass(frozen=True)
class AugmentOptions:
    shuffle: bool = True          # relations in random order (off: sorted by name)
    distractors: bool = True      # relations the sentence does not use, up to min..max_relations listed
    names: bool = True            # sometimes other names: another wording, or neutral labels R1, R2, ...
    empty: bool = True            # sometimes none of the sentence's relations is listed: the answer is []
    detok: bool = True            # a copy of each sentence in ordinary punctuation
    pairs: bool = False           # every relation becomes the pairs schema's one relation (a pair finder)
    min_relations: int = 2
    max_relations: int = 20
    p_empty: float = 0.1
    p_rename: float = 0.2         # another wording of each name
    p_neutral: float = 0.15       # R1, R2, ... in listed order
    p_join: float = 0.0           # a Wikidata sentence joined with 1..join_max others of its source (multi-fact text)
    join_max: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.min_relations <= self.max_relations:
            raise KgcError("relations per prompt: need 1 <= min <= max")
        if self.join_max < 1:
            raise KgcError("join_max must be at least 1")
        for p in (self.p_empty, self.p_rename, self.p_neutral, self.p_join):
            if not 0.0 <= p <= 1.0:
                raise KgcError("augmentation probabilities must lie in [0, 1]")
        if self.p_rename + self.p_neutral > 1.0:
            raise KgcError("p_rename + p_neutral must be <= 1")


@dataclass(frozen=True)
class PoolRelation:
    key: str                      # Wikidata id, or "kgc:<set>:<name>"
    name: str                     # schema identifier
    description: str
    head: str | None = None
    tail: str | None = None


@dataclass
class Source:
    name: str
    family: str                   # "wikidata" or "kgc": distractors come from the same family
    paths: list[Path]
    description: str              # the schema description prompts of this source carry
    examples: list[Example] = field(default_factory=list)
    keys: list[tuple[str, ...]] = field(default_factory=list)   # per example: each triplet's relation key
    dropped_held_out: int = 0
    dropped_not_in_text: int = 0  # sentences with a head or tail that is not in their text (Wiki-ZSL has some)


# Other wordings of the benchmark sets' relation names (written for this project). Wikidata names get
# mechanical ones (_variants): word order ("place of birth" -> "birth_place") and letter case / separators.
_KGC_RENAMES = {
    "Work_for": ["employed_by", "works_at", "EmployeeOf"], "Kill": ["killed", "murdered", "KillerOf"],
    "Organization_based_in": ["headquartered_in", "org_located_in", "BasedIn"],
    "Live_in": ["resides_in", "lives_in", "home_of_person"], "Located_in": ["situated_in", "lies_in", "PartOfPlace"],
    "Adverse_effect": ["side_effect_of", "caused_by_drug", "AdverseReaction"],
    "Used_for": ["applied_to", "serves_for", "UsedFor"], "Feature_of": ["property_of", "attribute_of"],
    "Hyponym_of": ["kind_of", "subtype_of", "IsA"], "Part_of": ["component_of", "contained_in"],
    "Evaluate_for": ["evaluates", "metric_for", "benchmark_for"], "Compare": ["compared_with", "versus"],
    "Conjunction": ["used_together_with", "listed_with", "and_also"],
}


def _variants(name: str) -> list[str]:
    """Other names for a relation: hand-written ones for the benchmark sets, else word order and style."""
    if name in _KGC_RENAMES:
        return list(_KGC_RENAMES[name])
    words = [w for w in re.split(r"[_\W]+", name) if w]
    out = ["_".join(words).lower(), "".join(w[:1].upper() + w[1:] for w in words),
           "-".join(words).lower(), "_".join(words).capitalize()]
    if "of" in words[1:-1]:  # "place of birth" -> "birth_place", "country of citizenship" -> "citizenship_country"
        i = words.index("of")
        out.append("_".join(words[i + 1:] + words[:i]).lower())
    return [v for v in dict.fromkeys(out) if v != name and re.match(r"^[A-Za-z][A-Za-z0-9_\-]*$", v)]


def held_out_ids(held_out: str | None, root=None) -> set[str]:
    """The Wikidata ids a zero-shot split (`fewrel/unseen_10_seed_0`) holds out of training, test and dev."""
    if not held_out:
        return set()
    dataset, _, split = held_out.partition("/")
    if dataset not in WIKIDATA_SOURCES or not split:
        raise KgcError(f"--held-out must be like fewrel/unseen_10_seed_0 (got {held_out!r})")
    return {r.id for r in held_out_relations(dataset, split, root)}


class MultiSchemaData:
    """Training examples over many schemas: item i is (schema, example) for one sentence of one source, in
    its tokenized form or (with detok) its copy in ordinary punctuation, built on demand and reproducibly."""

    def __init__(self, items: tuple[str, ...] | list[str], seed: int = 0, aug: AugmentOptions = AugmentOptions(),
                 held_out: str | None = DEFAULT_HELD_OUT, root: str | Path | None = None):
        unknown = [x for x in items if x not in MULTI_SOURCES]
        if unknown:
            raise KgcError(f"multi-schema training data must be among {', '.join(MULTI_SOURCES)} "
                           f"(got {', '.join(unknown)}); JSONL files train with their own --schema only")
        self.seed = seed
        self.aug = aug
        self.pairs_schema = load_schema("pairs") if aug.pairs else None
        self.held_out_ids = held_out_ids(held_out, root)
        self.held_out = held_out
        self.sources: list[Source] = []
        self.pools: dict[str, dict[str, PoolRelation]] = {"wikidata": {}, "kgc": {}}
        kgc_sets = [x for x in TRIPLET_SETS if x in items or "kgc" in items]
        for item in dict.fromkeys(items):
            if item in WIKIDATA_SOURCES:
                self.sources.append(self._wikidata_source(item, root))
        if kgc_sets:
            if "kgc" in items:
                self.sources.append(self._kgc_source("kgc", kgc_sets, root))
            else:
                for name in kgc_sets:
                    self.sources.append(self._kgc_source(name, [name], root))
        self.copies = 2 if aug.detok else 1
        self.index: list[tuple[int, int, int]] = [(s, i, c) for s, src in enumerate(self.sources)
                                                  for i in range(len(src.examples)) for c in range(self.copies)]
        self.datasets = [self.sources[s].name for s, _, _ in self.index]
        if not self.index:
            raise KgcError("multi-schema training data holds no sentences")

    # -- loading ------------------------------------------------------------------------------------------
    def _wikidata_source(self, name: str, root) -> Source:
        folder = data_dir(root) / name
        for r in load_relations(name, root):
            if r.id not in self.held_out_ids:
                self.pools["wikidata"].setdefault(r.id, PoolRelation(r.id, r.identifier,
                                                                     _one_line(r.description) or r.name))
        src = Source(name, "wikidata", [folder / "all.json"], "")
        for ex, ids in load_wikidata_triplets(folder / "all.json"):
            if any(i in self.held_out_ids for i in ids):
                src.dropped_held_out += 1
                continue
            if not ex.triplets or any(i not in self.pools["wikidata"] for i in ids):
                continue  # a relation without an entry in relations.json cannot be described
            if any(t.head not in ex.text or t.tail not in ex.text for t in ex.triplets):
                src.dropped_not_in_text += 1  # the grammar could never produce it: it would teach nothing
                continue
            src.examples.append(ex)
            src.keys.append(ids)
        return src

    def _kgc_source(self, name: str, sets: list[str], root) -> Source:
        src = Source(name, "kgc", [split_path(s, "train", root) for s in sets],
                     load_schema(sets[0]).description if len(sets) == 1 else "")
        for s in sets:
            schema = load_schema(s)
            for r in schema.relations:
                key = f"kgc:{s}:{r.name}"
                self.pools["kgc"][key] = PoolRelation(key, r.name, r.description, r.head, r.tail)
            for ex in load_split(s, "train", root):
                src.examples.append(Example(ex.text, ex.triplets, f"{s}:{ex.id}"))
                src.keys.append(tuple(f"kgc:{s}:{t.relation}" for t in ex.triplets))
        return src

    # -- examples -----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index)

    def rng(self, i: int) -> random.Random:
        s, j, c = self.index[i]
        name = self.sources[s].name
        return random.Random(f"{self.seed}:{name}:{j}:{c}")

    def item(self, i: int, distractors: bool | None = None) -> tuple[Schema, Example]:
        """(schema, example) number i; distractors=False builds it without distractors (for over-long ones)."""
        s, j, copy = self.index[i]
        src = self.sources[s]
        ex = src.examples[j]
        aug = self.aug
        parts = [j] + self._partners(i)
        # a relation name stands for one key within a source (one Wikidata id, or one set's relation)
        by_relation = {t.relation: k for n in parts for t, k in zip(src.examples[n].triplets, src.keys[n])}
        rng = self.rng(i)
        if copy:
            ex = detokenize_example(ex, trim=True)[0]
        if len(parts) > 1:
            others = [src.examples[n] for n in parts[1:]]
            if copy:
                others = [detokenize_example(o, trim=True)[0] for o in others]
            ex = Example(" ".join([ex.text] + [o.text for o in others]),
                         ex.triplets + tuple(t for o in others for t in o.triplets), ex.id)
        if aug.pairs:
            return self._pairs_item(ex, self.pairs_schema)
        pool = self.pools[src.family]
        gold = list(dict.fromkeys(by_relation[t.relation] for t in ex.triplets))
        empty = aug.empty and rng.random() < aug.p_empty
        listed = [] if empty else list(gold)
        if len(listed) > aug.max_relations:  # a one-relation reader sees one of the sentence's relations
            listed = rng.sample(listed, aug.max_relations)
        use_distractors = aug.distractors if distractors is None else (distractors and aug.distractors)
        target = rng.randint(aug.min_relations, aug.max_relations) if use_distractors else len(listed)
        candidates = sorted(k for k in pool if k not in gold)
        want = max(target - len(listed), 1 if not listed else 0)
        listed += rng.sample(candidates, min(want, len(candidates)))
        if not listed:
            raise KgcError(f"{src.name}: no relation to list for sentence {ex.id}")
        if aug.shuffle:
            rng.shuffle(listed)
        else:
            listed.sort(key=lambda k: pool[k].name)
        names = self._names([pool[k] for k in listed], rng)
        relations = tuple(Relation(names[k], pool[k].description, pool[k].head, pool[k].tail) for k in listed)
        schema = Schema(f"{src.name}-{j}", relations, src.description)
        triplets = []
        for t in ex.triplets:
            key = by_relation[t.relation]
            if key in names:
                head, tail = trim_sentence_period(t.head), trim_sentence_period(t.tail)
                if head and tail:
                    triplets.append(t._replace(head=head, tail=tail, relation=names[key],
                                               head_type=pool[key].head, tail_type=pool[key].tail))
        return schema, Example(ex.text, tuple(triplets), ex.id)

    def _partners(self, i: int) -> list[int]:
        """The other sentences item i's text is joined with (p_join), drawn from its own source with a generator
        of their own, so that runs without joins draw exactly what they drew before joins existed."""
        s, j, copy = self.index[i]
        src = self.sources[s]
        if not self.aug.p_join or self.aug.pairs or src.family != "wikidata":
            return []
        rng = random.Random(f"{self.seed}:{src.name}:{j}:{copy}:join")
        if rng.random() >= self.aug.p_join:
            return []
        out: list[int] = []
        names = {t.relation: k for t, k in zip(src.examples[j].triplets, src.keys[j])}
        texts = {src.examples[j].text}
        for _ in range(rng.randint(1, self.aug.join_max)):
            n = rng.randrange(len(src.examples))
            # a partner may not repeat a sentence (FewRel lists some twice, one relation each) nor use a
            # relation name that stands for another Wikidata id in the text so far
            mine = {t.relation: k for t, k in zip(src.examples[n].triplets, src.keys[n])}
            if src.examples[n].text in texts or any(names.get(r, k) != k for r, k in mine.items()):
                continue
            out.append(n)
            names.update(mine)
            texts.add(src.examples[n].text)
        return out

    @staticmethod
    def _pairs_item(ex: Example, schema: Schema) -> tuple[Schema, Example]:
        """The sentence under the pairs schema: each (head, tail) it labels, once, as `related_to`."""
        relation = schema.relations[0].name
        pairs = dict.fromkeys((trim_sentence_period(t.head), trim_sentence_period(t.tail)) for t in ex.triplets)
        triplets = tuple(Triplet(h, relation, t) for h, t in pairs if h and t)
        return schema, Example(ex.text, triplets, ex.id)

    def _names(self, relations: list[PoolRelation], rng: random.Random) -> dict[str, str]:
        """key -> the name this prompt uses for it: the usual one, another wording, or R1, R2, ..."""
        draw = rng.random()
        if self.aug.names and draw < self.aug.p_neutral:
            return {r.key: f"R{n}" for n, r in enumerate(relations, 1)}
        out: dict[str, str] = {}
        rename = self.aug.names and draw < self.aug.p_neutral + self.aug.p_rename
        for r in relations:
            options = _variants(r.name) if rename else []
            name = rng.choice(options) if options else r.name
            out[r.key] = name if name not in out.values() else r.name
        if len(set(out.values())) < len(out):  # a variant hit another relation's usual name
            out = {r.key: r.name for r in relations}
        return out

    def describe(self) -> list[dict]:
        """What the run card records about the data."""
        from kgc_lite.io.files import file_sha256
        return [{"name": s.name, "family": s.family, "paths": [str(p) for p in s.paths],
                 "sha256": [file_sha256(p) for p in s.paths], "sentences": len(s.examples),
                 "dropped_held_out_sentences": s.dropped_held_out,
                 "dropped_not_in_text_sentences": s.dropped_not_in_text, "copies": self.copies}
                for s in self.sources] + [{"held_out": self.held_out, "held_out_ids": sorted(self.held_out_ids),
                                           "augment": self.aug.__dict__}]


def _one_line(text: str) -> str:
    return " ".join(text.split())
