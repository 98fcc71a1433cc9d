"""GBNF grammars for the answers, generated from the templates in grammars/ and the schema.

The triplet grammar guarantees that every answer parses and that every relation is one of the schema's.
With entities="text" it also guarantees that every head and tail is a span of whole words of the input:
the grammar is rebuilt per input from that input's words (a few hundred bytes for a sentence).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from string import Template

from .prompts import PromptConfig, entity_type, quote
from .schema import Schema

ENTITY_MODES = ("text", "free")
# Word pieces an entity span is made of: runs of letters/digits, or single other characters.
_WORD = re.compile(r"\w+|[^\w\s]")


@lru_cache(maxsize=None)
def template(name: str) -> Template:
    """A grammar template with its comment lines removed (they document the $-fields, which must not be filled)."""
    text = resources.files("kgc_lite.grammars").joinpath(name).read_text("utf-8")
    return Template("".join(line for line in text.splitlines(keepends=True) if not line.startswith("#")))


def literal(s: str) -> str:
    """A GBNF string literal for s."""
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{out}"'


def _alternatives(items: list[str]) -> str:
    return " | ".join(items)


class TripletGrammar:
    """The answer grammar for one schema and prompt configuration; `for_text` adds one input's entity spans."""

    def __init__(self, schema: Schema, config: PromptConfig, entities: str = "text", max_triplets: int = 24):
        if entities not in ENTITY_MODES:
            raise ValueError(f"entities must be one of {ENTITY_MODES}")
        self.entities = entities
        self.max_triplets = max_triplets
        self._body = self._build_body(schema, config)
        self._free = template("entity_free.gbnf").template if entities == "free" else None

    def _build_body(self, schema: Schema, config: PromptConfig) -> str:
        rationale = ""
        extra = ""
        if config.rationale:
            rationale = "rationale"
            markers = (("Relations: ", "\\nEntities: ", "\\nTriplets: ") if config.style == "natural"
                       else ("# relations: ", "\\n# entities: ", "\\n"))
            extra = template("rationale.gbnf").substitute(
                open_rel=f'"{markers[0]}"', open_ent=f'"{markers[1]}"', close=f'"{markers[2]}"',
                name=_alternatives([literal(n) for n in schema.relation_names]))
        more = str(max(0, self.max_triplets - 1))
        if config.style == "natural":
            body = template("triplets_natural.gbnf").substitute(
                rationale=rationale, more=more, entity="$entity",
                relation=_alternatives([literal(quote(n)) for n in schema.relation_names]))
        else:
            triples = []
            for r in schema.relations:
                ht = entity_type(schema, r.name, "head") or "Entity"
                tt = entity_type(schema, r.name, "tail") or "Entity"
                triples.append(f'{literal(f"Triple({ht}(")} entity {literal(f"), Rel({quote(r.name)}), {tt}(")} '
                               f'entity {literal("))")}')
            body = template("triplets_code.gbnf").substitute(
                rationale=rationale, more=more, entity="$entity",
                triple=_alternatives(triples))
        return body.replace("$entity", extra + "$entity")

    def for_text(self, text: str) -> str:
        """The complete GBNF for one input."""
        return self._body.replace("$entity", self._free if self._free is not None else entity_span_rules(text))


def entity_span_rules(text: str) -> str:
    """Rules `entity` / `span` accepting exactly the quoted, JSON-escaped spans of whole words of text.

    Word i may be continued by word i+1 (with the exact characters between them) unless a line break lies
    between. Identical continuations are merged, which keeps repeated words cheap.
    """
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not words:
        return template("entity_free.gbnf").template  # nothing to copy from: fall back to free strings
    def piece(i: int) -> str:
        return literal(quote(text[words[i][0]:words[i][1]])[1:-1])

    n = len(words)
    cont: list[str | None] = [None] * (n + 1)  # cont[i]: rule for "separator + word i + maybe more"
    rules: list[str] = []
    for i in range(n - 1, 0, -1):
        gap = text[words[i - 1][1]:words[i][0]]
        if "\n" in gap or "\r" in gap or len(gap) > 3:
            continue
        sep = literal(quote(gap)[1:-1]) + " " if gap else ""
        rules.append(f"c{i} ::= {sep}{piece(i)}" + (f" {cont[i + 1]}?" if cont[i + 1] else ""))
        cont[i] = f"c{i}"
    starts = [piece(i) + (f" {cont[i + 1]}?" if cont[i + 1] else "") for i in range(n)]
    starts = list(dict.fromkeys(starts))
    return template("entity_spans.gbnf").substitute(
        starts=" | ".join(starts), continuations="\n".join(reversed(rules)))


def letter_grammar(letters: list[str]) -> str:
    return template("qa4re_letter.gbnf").substitute(letters=_alternatives([literal(x) for x in letters]))
