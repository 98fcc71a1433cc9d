"""Two-stage extraction for relations the extractor was never trained on (`kgc-lite extract --two-stage`).

A one-pass extractor must read the user's schema and find the pairs at once; a 135M model fine-tuned on three
schemas mostly recalls those. Here the two jobs are split:

1. **Pairs.** A pair finder (a model trained with `kgc-lite train --pairs`, every relation renamed to the
   built-in `pairs` schema's one relation) extracts the (head, tail) spans that some fact of the sentence links,
   whatever the relation. It runs through `Extractor`, so spans, grammar, batching and confidence are as in
   one-pass extraction.
2. **Relations.** Each pair becomes a QA4RE question over the user's relations in both directions, answered
   statement by statement by the order-free entail model (kgc_lite/qa4re/classifier.py): "Statement: Clovis I has religion
   Christianity. Can the statement be inferred from the sentence?" The likeliest yes wins; when it is the
   none-of-the-above statement, or below `min_yes`, the pair is dropped.

A triplet's relation is then always one of the user's, its head and tail spans of the text, its direction the
statement's, and its `confidence` the model's P(yes) for that statement. Relations in the schema without a
`template` are stated from their names ("Operated_by": "{head} operated by {tail}"), the rule the entail model
was trained with (schema.Relation.statement).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import islice
from typing import Iterator

from kgc_lite.extract.extractor import ExtractOptions, Extractor, unit_record
from kgc_lite.io.inputs import BadRecord, Document, Unit
from kgc_lite.models.registry import pair_finder_model, qa4re_model_for
from kgc_lite.models.resolve import resolve
from kgc_lite.qa4re.classifier import QA4RE
from kgc_lite.qa4re.questions import Pair
from kgc_lite.schema import Schema, load_schema
from kgc_lite.types import Triplet


class TwoStage:
    """A pair finder, an entail model and the user's schema, ready to extract; `extract`/`records` as
    Extractor's."""

    def __init__(self, schema: Schema | str, pair_model: str | None = None, qa_model: str | None = None,
                 options: ExtractOptions = ExtractOptions(icl=0), min_yes: float = 0.0, n_ctx: int | None = None,
                 n_threads: int | None = None, n_gpu_layers: int = 0, reader_model: str | None = None,
                 gloss: bool = False, entail_examples: int | None = None,
                 entail_layout: str | None = None, entail_batch: bool = False):
        """pair_model / qa_model default to the registry's pair finder and its model for any relation set.
        reader_model: also take the pair a one-relation reader fills for each relation of the schema
        (per_relation.RelationReader) as a candidate. gloss: each statement followed by its relation's description
        (schema.Relation.glossed; for a judge trained with `train --gloss`). entail_examples: the judge's written
        yes/no demonstrations (None: the model's own, models.toml entail_examples); entail_layout: where its question
        goes (None: the model's own); entail_batch: a pair's statements evaluated in one batch (QA4RE)."""
        self.schema = load_schema(schema) if isinstance(schema, str) else schema
        # stage 1 keeps every pair: --min-confidence applies to stage 2's P(yes) (min_yes)
        self.finder = Extractor(schema=load_schema("pairs"), options=replace(options, icl=0, min_confidence=0.0),
                                n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                                resolved=resolve(pair_model or pair_finder_model()))
        stated = self.schema.glossed() if gloss else self.schema
        self.qa = QA4RE(qa_model or qa4re_model_for("*"), replace(stated, directions="both"), answer="entail",
                        n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers, entail_examples=entail_examples,
                        entail_layout=entail_layout, entail_batch=entail_batch)
        self.reader = None
        if reader_model:
            from kgc_lite.extract.per_relation import RelationReader
            self.reader = RelationReader(self.schema, reader_model, options, n_ctx=n_ctx, n_threads=n_threads,
                                         n_gpu_layers=n_gpu_layers)
        self.min_yes = min_yes
        self.types = {r.name: (r.head, r.tail) for r in self.schema.relations}
        # what eval reads off an extractor
        self.engine = self.finder.engine
        self.prompts = self.finder.prompts
        self.model = self.finder.model

    def name(self, text: str, pairs: list[Triplet]) -> list[Triplet]:
        """Stage 2: the user's relation (and direction) for each found pair; pairs judged unrelated drop out."""
        out: dict[tuple[str, str, str], Triplet] = {}
        for p in pairs:
            ans = self.qa.ask(Pair("", text, p.head, p.tail))
            c = ans.chosen
            yes = ans.yes[ans.options.index(c)]
            if c.relation is None or yes < self.min_yes:
                continue
            head, tail = (p.tail, p.head) if c.reversed else (p.head, p.tail)
            head_type, tail_type = self.types[c.relation]
            t = Triplet(head, c.relation, tail, head_type, tail_type, yes)
            if t.key not in out or out[t.key].confidence < yes:
                out[t.key] = t
        return list(out.values())

    def candidates(self, texts: list[str], found: list[list[Triplet]], batch: int = 8) -> list[list[Triplet]]:
        """Stage 1's pairs: the finder's, then (with a reader) each relation's filled pair not yet among them."""
        if self.reader is None:
            return found
        out = []
        for pairs, filled in zip(found, self.reader.fill_many(texts, batch)):
            merged = {(p.head, p.tail): p for p in pairs}
            for p in filled:
                merged.setdefault((p.head, p.tail), p)
            out.append(list(merged.values()))
        return out

    def extract(self, text: str) -> list[Triplet]:
        return self.extract_many([text], 1)[0]

    def extract_many(self, texts: list[str], batch: int = 8) -> list[list[Triplet]]:
        found = self.candidates(texts, self.finder.extract_many(texts, batch), batch)
        return [self.name(t, pairs) for t, pairs in zip(texts, found)]

    def records(self, documents: Iterator[Document | BadRecord], max_chars: int = 1200, batch: int = 1,
                sentences: bool = True, skip=None) -> Iterator[dict]:
        """As Extractor.records: one record per unit, in input order, with stage 2's triplets. With a reader,
        `batch` finder records at a time wait for the reader's passes, which run batched over them."""
        found = self.finder.records(documents, max_chars, batch, sentences, skip)
        size = batch if self.reader else 1
        while chunk := list(islice(found, size)):
            units = [r for r in chunk if "error" not in r]
            pairs = iter(self.candidates([r["text"] for r in units],
                                         [[Triplet(t["head"], t["relation"], t["tail"]) for t in r["triplets"]]
                                          for r in units], batch))
            for record in chunk:
                if "error" in record:
                    yield record
                    continue
                unit = Unit(record["id"], record["chunk"], record["start"], record["end"], record["text"])
                yield unit_record(unit, self.name(record["text"], next(pairs)))

    def close(self) -> None:
        self.qa.close()
