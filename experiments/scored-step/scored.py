"""Scored extraction: each relation of the schema fills its own pair, and the fillings are ranked by how likely
the model finds them, instead of a yes/no judge reading each pair (two_stage.py).

The idea is template infilling as ZETT does it (Kim et al. 2023): for every relation of the user's schema the
extractor is asked, with that relation alone in its schema and the empty answer forbidden by the grammar, which
head and tail fill it (`fills` triplets at most; 1 by default, ZETT's one filling per relation). Every relation
therefore yields a candidate triplet, and the candidates compete:

- a candidate's score is the log-likelihood of the tokens the model chose inside its triplet (its head and tail
  spans; tokens the grammar forced, the relation's name among them, are left out), summed or per token (`mean`);
- the candidates of a text are ranked across relations; the best is kept, and so is every other whose score is
  within `margin` of the best (0: the best alone; None: every candidate);
- a kept candidate's confidence is its share of the softmax over the text's candidates' scores.

A judge that says yes to most wrong pairs cannot rank them; a ranking needs no threshold to refuse the weaker
fillings. The rule (sum or mean, margin) is chosen on the development relations: scored_dev.py (here) dumps
every candidate with its token probabilities once, and scores any rule from that dump without the model.
A schema of n relations costs n passes per text, batched over the texts and sharing one llama.cpp engine.

An experiment (issue 36; README.md here): it did not beat one pass on the development relations, so it is not
part of kgc-lite. tests/test_scored.py loads it from here, so it keeps working against the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import islice
from typing import Iterator

from kgc_lite.extract.extractor import ExtractOptions, _units, unit_record
from kgc_lite.extract.per_relation import RelationReader
from kgc_lite.io.inputs import BadRecord, Document
from kgc_lite.schema import Schema, load_schema
from kgc_lite.types import Triplet


@dataclass(frozen=True)
class Candidate:
    triplet: Triplet
    probs: tuple[float, ...]   # the probabilities of the tokens the model chose inside the triplet

    @property
    def logprob(self) -> float:
        return sum(math.log(max(p, 1e-12)) for p in self.probs)

    def score(self, mean: bool) -> float:
        return self.logprob / max(1, len(self.probs)) if mean else self.logprob


@dataclass(frozen=True)
class Rule:
    """How candidates are ranked and kept (see the module docstring)."""
    mean: bool = False
    margin: float | None = 0.0

    def choose(self, candidates: list[Candidate]) -> list[Triplet]:
        if not candidates:
            return []
        scores = [c.score(self.mean) for c in candidates]
        best = max(scores)
        total = sum(math.exp(s - best) for s in scores)
        kept: dict[tuple, Triplet] = {}
        for c, s in sorted(zip(candidates, scores), key=lambda cs: -cs[1]):
            if self.margin is not None and s < best - self.margin:
                break
            t = c.triplet._replace(confidence=math.exp(s - best) / total)
            kept.setdefault(t.key, t)
        return list(kept.values())


class ScoredExtractor:
    """A RelationReader (one reader per relation of `schema`, all on one engine) and a Rule that ranks their
    fillings; `extract_many` / `records` as Extractor's."""

    def __init__(self, schema: Schema | str, model: str | None = None, rule: Rule = Rule(),
                 options: ExtractOptions = ExtractOptions(icl=0), fills: int = 1, n_ctx: int | None = None,
                 n_threads: int | None = None, n_gpu_layers: int = 0):
        self.schema = load_schema(schema) if isinstance(schema, str) else schema
        if fills < 1:
            raise ValueError("fills must be >= 1")
        self.rule = rule
        opts = replace(options, confidence=True, decoder="fast", max_triplets=fills)
        reader = RelationReader(self.schema, model, opts, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        self.readers, self.engine, self.model = reader.readers, reader.engine, reader.model
        self.prompts = self.readers[0].prompts
        self.min_confidence = options.min_confidence

    def candidates_many(self, texts: list[str], batch: int = 8) -> list[list[Candidate]]:
        """Per text, every relation's filling with its chosen tokens' probabilities (schema order)."""
        out: list[list[Candidate]] = [[] for _ in texts]
        for reader in self.readers:
            for found, scored in zip(out, reader.extract_scored(texts, batch)):
                found.extend(Candidate(t, tuple(probs)) for t, probs in scored)
        return out

    def extract(self, text: str) -> list[Triplet]:
        return self.extract_many([text], 1)[0]

    def extract_many(self, texts: list[str], batch: int = 8) -> list[list[Triplet]]:
        return [[t for t in self.rule.choose(c) if t.confidence >= self.min_confidence]
                for c in self.candidates_many(texts, batch)]

    def records(self, documents: Iterator[Document | BadRecord], max_chars: int = 1200, batch: int = 8,
                sentences: bool = True, skip=None) -> Iterator[dict]:
        """As Extractor.records: one record per unit, in input order; `batch` units at a time go through every
        relation's pass before their records are written."""
        units = _units(documents, max_chars, sentences, skip)
        while chunk := list(islice(units, max(1, batch))):
            good = [u for u in chunk if not isinstance(u, BadRecord)]
            found = iter(self.extract_many([u.text for u in good], batch))
            for item in chunk:
                if isinstance(item, BadRecord):
                    yield {"id": item.id, "error": item.error}
                else:
                    yield unit_record(item, next(found))

    def close(self) -> None:
        self.engine.close()
