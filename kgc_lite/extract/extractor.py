"""Triplet extraction: prompt → grammar-constrained generation → parsed, checked triplets.

`Extractor` is the library's main entry point; the CLI's `extract` command only wires options to it.
Every returned triplet names a relation of the schema; with entities="text" (the default) every head and tail
is a span of the input, guaranteed by the grammar. Exact duplicates are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from kgc_lite.errors import KgcError
from kgc_lite.io.inputs import BadRecord, Document, Unit, split_units
from kgc_lite.models.registry import ResolvedModel
from kgc_lite.models.resolve import resolve
from kgc_lite.prompting.grammar import TripletGrammar
from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig, draw_examples
from kgc_lite.prompting.retokenize import View, view
from kgc_lite.runtime.decoding import Answer, Decoder, Request
from kgc_lite.runtime.engine import Engine
from kgc_lite.schema import Schema, load_schema
from kgc_lite.types import Example, Triplet


def stop_margin_applies(style: str, decoder: str = "fast") -> bool:
    """The stop margin reads the natural style's list syntax, in the fast decoder (runtime/decoding.py)."""
    return style == "natural" and decoder == "fast"


@dataclass(frozen=True)
class ExtractOptions:
    style: str = "natural"
    icl: int = 3
    rationale: bool = False
    entities: str = "text"
    max_triplets: int = 24
    max_tokens: int = 768
    decoder: str = "fast"       # "fast" (kgc_lite/runtime/decoding.py) or "plain" (one token per call; the reference)
    drafts: bool = True         # copy drafts inside entity strings (fast decoder only)
    confidence: bool = True     # per-triplet confidence (fast decoder only)
    min_confidence: float = 0.0  # triplets below this confidence are dropped
    at_least_one: bool = False  # the grammar forbids the empty answer (per-relation filling)
    # Close the triplet list only where closing beats going on by more than this many nats (fast decoder, natural
    # style; runtime/decoding.py). 0: plain greedy.
    stop_margin: float = 0.0
    # Show ordinary text pre-tokenized and map spans back (kgc_lite/prompting/retokenize.py); None: as the model's
    # models.toml entry says (tokenized_text, for a model trained on pre-tokenized text).
    retokenize: bool | None = None


class Extractor:
    """A model, a schema and a prompt configuration, ready to extract triplets from texts."""

    def __init__(self, model: str | None = None, schema: Schema | str = "conll04",
                 options: ExtractOptions = ExtractOptions(), examples: list[Example] | None = None,
                 seed: int = 0, n_ctx: int | None = None, n_threads: int | None = None, n_gpu_layers: int = 0,
                 engine: Engine | None = None, resolved: ResolvedModel | None = None):
        self.schema = load_schema(schema) if isinstance(schema, str) else schema
        if options.stop_margin and not stop_margin_applies(options.style, options.decoder):
            raise KgcError("--stop-margin needs the fast decoder and the natural prompt style")
        self.model = resolved or resolve(model)
        self.options = options
        config = PromptConfig(style=options.style, icl=options.icl, rationale=options.rationale,
                              format=self.model.spec.prompt_format)
        pool = list(examples) if examples is not None else list(self.schema.examples)
        shots = draw_examples(pool, options.icl, seed) if examples is not None else pool[: options.icl]
        self.prompts = PromptBuilder(self.schema, config, shots)
        self.grammar = TripletGrammar(self.schema, config, options.entities, options.max_triplets,
                                      options.at_least_one)
        self.engine = engine or Engine(self.model.path, n_ctx=n_ctx or self.model.spec.context,
                                       n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        self._prefix = self.engine.tokenize(self.prompts.prefix(), bos=True)
        if len(self._prefix) + self.options.max_tokens >= self.engine.n_ctx:
            raise KgcError(f"the prompt for schema {self.schema.name} takes {len(self._prefix)} tokens before any "
                           f"text, and with room for an answer ({self.options.max_tokens}) that exceeds the context "
                           f"of {self.engine.n_ctx}: raise --ctx, or shorten the schema's descriptions and examples")
        self.retokenize = self.model.spec.tokenized_text if options.retokenize is None else options.retokenize

    def prompt_tokens(self, text: str) -> list[int]:
        return self._prefix + self.suffix_tokens(text)

    def suffix_tokens(self, text: str) -> list[int]:
        """The prompt's tokens after the shared prefix: the text (as plain text) and the turn's closing."""
        user, rest = self.prompts.suffix_parts(text)
        return self.engine.tokenize(user, special=False) + self.engine.tokenize(rest)

    def answer(self, text: str) -> str:
        """The model's raw (grammar-constrained) answer for one text."""
        if self.options.decoder == "plain":
            out, _ = self.engine.generate(self.prompt_tokens(text), self.grammar.for_text(text),
                                          self.options.max_tokens, stop=_RepeatGuard(self.prompts))
            return out
        return next(self._decoder(1).run([self._request(text)])).text

    def extract(self, text: str) -> list[Triplet]:
        return self.extract_many([text], 1)[0]

    def shown(self, text: str) -> View | None:
        """The pre-tokenized view the model is shown (retokenize), or None when it sees the text as it is."""
        if not self.retokenize:
            return None
        v = view(text)
        return v if v.origin else None

    def _shown_text(self, text: str) -> tuple[str, View | None]:
        """(what the model reads, the view that maps its spans back, or None)."""
        v = self.shown(text)
        return (v.shown if v else text), v

    def extract_many(self, texts: list[str], batch: int = 8) -> list[list[Triplet]]:
        """Triplets for several texts, decoded up to `batch` at a time (more throughput than one by one).
        Batched matrix products round differently, so a near-tie in greedy decoding can occasionally go the
        other way."""
        if self.options.decoder == "plain":
            return [self._plain(t) for t in texts]
        answers = self._decoder(batch).run(self._request(t) for t in texts)
        return [self._found(a) for a in answers]

    def extract_scored(self, texts: list[str], batch: int = 8) -> list[list[tuple[Triplet, list[float]]]]:
        """Per text, each triplet with the probabilities of the tokens the model chose inside it (grammar-forced
        tokens left out): what a ranking of answers across prompts scores (experiments/scored-step). Needs the fast
        decoder with confidence on."""
        if self.options.decoder != "fast" or not self.options.confidence:
            raise KgcError("scored answers need the fast decoder with confidence on")
        out = []
        for answer in self._decoder(batch).run(self._request(t) for t in texts):
            v = answer.request.payload[1]
            chosen = self.prompts.chosen_probs(answer.text, answer.tokens, answer.probs, self.engine.piece)
            found = []
            for t in self._triplets(answer.request.source, answer.text):
                for restored in _restore([t], v):
                    found.append((restored, chosen.get(t.key, [])))
            out.append(found)
        return out

    def _plain(self, text: str) -> list[Triplet]:
        shown, v = self._shown_text(text)
        return _restore(self._triplets(shown, self.answer(shown)), v)

    def _decoder(self, batch: int) -> Decoder:
        return Decoder(self.engine, self._prefix, n_seq=batch, drafts=self.options.drafts,
                       probs=self.options.confidence, stop_margin=self.options.stop_margin)

    def _request(self, text: str, payload=None) -> Request:
        """payload travels as (payload, view): the view maps the answer's spans back to text."""
        shown, v = self._shown_text(text)
        return Request(self.suffix_tokens(shown), self.grammar.for_text(shown), shown,
                       _RepeatGuard(self.prompts), self.options.max_tokens, (payload, v))

    def _found(self, answer: Answer) -> list[Triplet]:
        v = answer.request.payload[1]
        triplets = self._triplets(answer.request.source, answer.text)
        if self.options.confidence:
            scores = self.prompts.confidences(answer.text, answer.tokens, answer.probs, self.engine.piece)
            scored = [Triplet(*t[:5], scores.get(t.key, 1.0)) for t in triplets]
            triplets = [t for t in scored if t.confidence >= self.options.min_confidence]
        return _restore(triplets, v)

    def _triplets(self, text: str, answer: str) -> list[Triplet]:
        # A relation between a mention and itself is a degenerate answer, never a fact worth keeping.
        triplets = [t for t in self.prompts.parse(answer) if t.head != t.tail]
        if self.options.entities != "free":
            # The grammar already guarantees this; the check keeps the promise explicit and cheap.
            triplets = [t for t in triplets if t.head in text and t.tail in text]
        return triplets

    def records(self, documents: Iterator[Document | BadRecord], max_chars: int = 1200,
                batch: int = 1, sentences: bool = True, skip=None) -> Iterator[dict]:
        """One output record per unit of each document (see kgc_lite/output.schema.json), in input order.

        Up to `batch` units decode at once; each record is yielded as soon as it and all before it are done.
        `skip(item)`, if given, drops units (and bad records) before the model sees them: --resume's done ones.
        """
        if self.options.decoder == "plain":
            for item in _units(documents, max_chars, sentences, skip):
                yield _record(item, lambda: self._plain(item.text))
            return

        def requests():
            for item in _units(documents, max_chars, sentences, skip):
                if isinstance(item, BadRecord):
                    yield Request(payload=item, passthrough=True)
                else:
                    yield self._request(item.text, item)

        for answer in self._decoder(batch).run(requests()):
            item = answer.request.payload
            yield _record(item if answer.request.passthrough else item[0], lambda: self._found(answer))


def _restore(triplets: list[Triplet], v: View | None) -> list[Triplet]:
    """Triplets of a pre-tokenized view with their heads and tails as the input's own characters; exact
    duplicates that the mapping makes (none in practice) are dropped."""
    if v is None:
        return triplets
    out: dict[tuple, Triplet] = {}
    for t in triplets:
        head, tail = v.to_original(t.head), v.to_original(t.tail)
        if head and tail:
            t = t._replace(head=head, tail=tail)
            out.setdefault(t.key, t)
    return list(out.values())


def _record(item: Unit | BadRecord, triplets) -> dict:
    """The output line for a unit (its triplets, from `triplets()`) or for a bad record (its error, in place)."""
    return {"id": item.id, "error": item.error} if isinstance(item, BadRecord) else unit_record(item, triplets())


def _units(documents: Iterator[Document | BadRecord], max_chars: int,
           sentences: bool, skip=None) -> Iterator[Unit | BadRecord]:
    for doc in documents:
        for item in [doc] if isinstance(doc, BadRecord) else split_units(doc, max_chars, sentences):
            if skip is None or not skip(item):
                yield item


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
        if t.confidence is not None:
            item["confidence"] = round(t.confidence, 4)
        for role, mention in (("head", t.head), ("tail", t.tail)):
            pos = unit.text.find(mention)
            if pos >= 0:
                item[f"{role}_span"] = [unit.start + pos, unit.start + pos + len(mention)]
        out.append(item)
    return {"id": unit.doc_id, "chunk": unit.chunk, "start": unit.start, "end": unit.end, "text": unit.text,
            "triplets": out}
