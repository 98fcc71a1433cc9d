"""Stage-1 candidates read one relation at a time (`extract --two-stage --reader-model M`).

The pair finder (two_stage.py) proposes the pairs some fact links, whatever the relation, and misses most gold
pairs of a new schema (about three in four on FewRel's held-out development relations). A one-relation reader
is asked instead what fills each relation of the user's schema, as template-infilling zero-shot extraction does
(ZETT, Kim et al. 2023): the schema it sees holds that relation alone, with its description, and the grammar
forbids the empty answer, so every relation gets the pair the model finds likeliest for it. The entail model
then judges those pairs with the finder's.

A reader is trained with `kgc-lite train --data fewrel,kgc --min-relations 1 --max-relations 1 --p-empty 0.5`
(each prompt names one relation: the sentence's, or another one answered []). A schema of n relations costs n
passes, batched over the texts and sharing one llama.cpp engine.
"""

from __future__ import annotations

from dataclasses import replace

from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.models.resolve import resolve
from kgc_lite.schema import Schema
from kgc_lite.types import Triplet


class RelationReader:
    """One Extractor per relation of `schema`, each with that relation alone, all on one engine."""

    def __init__(self, schema: Schema, model: str, options: ExtractOptions = ExtractOptions(icl=0),
                 n_ctx: int | None = None, n_threads: int | None = None, n_gpu_layers: int = 0):
        if not schema.relations:
            raise ValueError("a relation reader needs a schema with at least one relation")
        resolved = resolve(model)
        opts = replace(options, icl=0, min_confidence=0.0, at_least_one=True)
        self.readers: list[Extractor] = []
        engine = None
        for r in schema.relations:
            one = replace(schema, name=f"{schema.name}:{r.name}", relations=(r,), examples=())
            reader = Extractor(schema=one, options=opts, n_ctx=n_ctx, n_threads=n_threads,
                               n_gpu_layers=n_gpu_layers, resolved=resolved, engine=engine)
            engine = reader.engine
            self.readers.append(reader)
        self.engine = engine
        self.model = self.readers[0].model

    def fill_many(self, texts: list[str], batch: int = 8) -> list[list[Triplet]]:
        """Per text, what each relation's pass filled (a relation's triplets, in schema order)."""
        out: list[list[Triplet]] = [[] for _ in texts]
        for reader in self.readers:
            for found, triplets in zip(out, reader.extract_many(texts, batch)):
                found.extend(triplets)
        return out
