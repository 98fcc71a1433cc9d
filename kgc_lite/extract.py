"""Triplet extraction: prompt → grammar-constrained generation → parsed, checked triplets.

`Extractor` is the library's main entry point; the CLI's `extract` command only wires options to it.
Every returned triplet names a relation of the schema; with entities="text" (the default) every head and tail
is a span of the input, guaranteed by the grammar. Exact duplicates are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .data import Example, Triplet
from .engine import Engine
from .grammar import TripletGrammar
from .inputs import BadRecord, Document, Unit, split_units
from .models import ResolvedModel, resolve
from .prompts import PromptBuilder, PromptConfig, draw_examples
from .schema import Schema, load_schema


@dataclass(frozen=True)
class ExtractOptions:
    style: str = "natural"
    icl: int = 3
    rationale: bool = False
    entities: str = "text"
    max_triplets: int = 24
    max_tokens: int = 768


class Extractor:
    """A model, a schema and a prompt configuration, ready to extract triplets from texts."""

    def __init__(self, model: str | None = None, schema: Schema | str = "conll04",
                 options: ExtractOptions = ExtractOptions(), examples: list[Example] | None = None,
                 seed: int = 0, n_ctx: int | None = None, n_threads: int | None = None, n_gpu_layers: int = 0,
                 engine: Engine | None = None, resolved: ResolvedModel | None = None):
        self.schema = load_schema(schema) if isinstance(schema, str) else schema
        self.model = resolved or resolve(model)
        self.options = options
        config = PromptConfig(style=options.style, icl=options.icl, rationale=options.rationale,
                              format=self.model.spec.prompt_format)
        pool = list(examples) if examples is not None else list(self.schema.examples)
        shots = draw_examples(pool, options.icl, seed) if examples is not None else pool[: options.icl]
        self.prompts = PromptBuilder(self.schema, config, shots)
        self.grammar = TripletGrammar(self.schema, config, options.entities, options.max_triplets)
        self.engine = engine or Engine(self.model.path, n_ctx=n_ctx or self.model.spec.context,
                                       n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        self._prefix = self.engine.tokenize(self.prompts.prefix(), bos=True)

    def prompt_tokens(self, text: str) -> list[int]:
        user, rest = self.prompts.suffix_parts(text)
        return self._prefix + self.engine.tokenize(user, special=False) + self.engine.tokenize(rest)

    def answer(self, text: str) -> str:
        """The model's raw (grammar-constrained) answer for one text."""
        out, _ = self.engine.generate(self.prompt_tokens(text), self.grammar.for_text(text), self.options.max_tokens,
                                      stop=_RepeatGuard(self.prompts))
        return out

    def extract(self, text: str) -> list[Triplet]:
        return self._triplets(text, self.answer(text))

    def extract_many(self, texts: list[str], batch: int = 8) -> list[list[Triplet]]:
        """Triplets for several texts, decoded `batch` at a time in one llama.cpp batch (more throughput
        than one by one). Batched matrix products round differently, so a near-tie in greedy decoding can
        occasionally go the other way."""
        if batch <= 1 or len(texts) == 1:
            return [self.extract(t) for t in texts]
        suffixes = [self.prompt_tokens(t)[len(self._prefix):] for t in texts]
        answers = self.engine.generate_batch(self._prefix, suffixes, [self.grammar.for_text(t) for t in texts],
                                             self.options.max_tokens, [_RepeatGuard(self.prompts) for _ in texts],
                                             n_seq=batch)
        return [self._triplets(t, a) for t, (a, _) in zip(texts, answers)]

    def _triplets(self, text: str, answer: str) -> list[Triplet]:
        # A relation between a mention and itself is a degenerate answer, never a fact worth keeping.
        triplets = [t for t in self.prompts.parse(answer) if t.head != t.tail]
        if self.options.entities == "text":
            # The grammar already guarantees this; the check keeps the promise explicit and cheap.
            triplets = [t for t in triplets if t.head in text and t.tail in text]
        return triplets

    def records(self, documents: Iterator[Document | BadRecord], max_chars: int = 1200,
                batch: int = 1, sentences: bool = True) -> Iterator[dict]:
        """One output record per unit of each document (see kgc_lite/output.schema.json), in input order.

        With batch > 1, up to `batch` units are decoded together; a record is written when its group is done.
        """
        group: list[Unit | BadRecord] = []
        for item in _units(documents, max_chars, sentences):
            group.append(item)
            if len(group) >= batch:
                yield from self._group_records(group, batch)
                group = []
        yield from self._group_records(group, batch)

    def _group_records(self, group: list, batch: int) -> Iterator[dict]:
        units = [u for u in group if isinstance(u, Unit)]
        found = iter(self.extract_many([u.text for u in units], batch) if units else [])
        for item in group:
            yield {"id": item.id, "error": item.error} if isinstance(item, BadRecord) else unit_record(item, next(found))


def _units(documents: Iterator[Document | BadRecord], max_chars: int,
           sentences: bool) -> Iterator[Unit | BadRecord]:
    for doc in documents:
        if isinstance(doc, BadRecord):
            yield doc
        else:
            yield from split_units(doc, max_chars, sentences)


class _RepeatGuard:
    """Stops generation at the first repeated triplet: greedy decoding that repeats itself has entered a loop
    (common in untuned small models) and would only fill the answer up to its limit with copies."""

    def __init__(self, prompts: PromptBuilder):
        self.prompts = prompts
        self.buffer = bytearray()
        self.closer = b"]" if prompts.config.style == "natural" else b")"

    def __call__(self, piece: bytes) -> bool:
        self.buffer += piece
        if self.closer not in piece:
            return False
        found = self.prompts.parse_all(self.buffer.decode("utf-8", errors="ignore"))
        return len(found) != len(set(found))


def unit_record(unit: Unit, triplets: list[Triplet]) -> dict:
    out = []
    for t in triplets:
        item = {"head": t.head, "relation": t.relation, "tail": t.tail}
        if t.head_type:
            item["head_type"] = t.head_type
        if t.tail_type:
            item["tail_type"] = t.tail_type
        for role, mention in (("head", t.head), ("tail", t.tail)):
            pos = unit.text.find(mention)
            if pos >= 0:
                item[f"{role}_span"] = [unit.start + pos, unit.start + pos + len(mention)]
        out.append(item)
    return {"id": unit.doc_id, "chunk": unit.chunk, "start": unit.start, "end": unit.end, "text": unit.text,
            "triplets": out}
