"""Prompt building: instruction + schema + in-context examples (the cached prefix), then the input text.

One builder serves extraction, evaluation and training, so train and inference prompts cannot drift apart.
Two answer styles, after Gajo & Barrón-Cedeño (2025):

    natural: [["Ann Lee", "Work_for", "Acme"]]
    code:    Extract([Triple(Person("Ann Lee"), Rel("Work_for"), Organization("Acme"))])

An optional rationale (relations, then entities, then the triplets) may precede the answer; it is off by
default because it hurt fine-tuned models in the paper. Strings are written with JSON escapes in both styles
(valid Python literals too), so one escaping rule serves prompts, grammars and parsing.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import orjson

from kgc_lite.schema import Schema
from kgc_lite.types import Example, Triplet

STYLES = ("natural", "code")
FORMATS = ("chatml", "plain")


def quote(s: str) -> str:
    """A JSON string literal without ASCII escaping of non-ASCII text."""
    return orjson.dumps(s).decode()


@dataclass(frozen=True)
class PromptConfig:
    style: str = "natural"
    icl: int = 3
    rationale: bool = False
    format: str = "chatml"

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"prompt style must be one of {STYLES}")
        if self.format not in FORMATS:
            raise ValueError(f"prompt format must be one of {FORMATS}")
        if self.icl < 0:
            raise ValueError("icl must be >= 0")


def _turn(fmt: str, role: str, text: str) -> str:
    if fmt == "chatml":
        return f"<|im_start|>{role}\n{text}<|im_end|>\n"
    return {"system": f"{text}\n\n", "user": f"### Input\n{text}\n", "assistant": f"### Output\n{text}\n\n"}[role]


def _assistant_open(fmt: str) -> str:
    return "<|im_start|>assistant\n" if fmt == "chatml" else "### Output\n"


def end_of_answer(fmt: str) -> str:
    """What follows an answer in a training target (the model learns to stop there)."""
    return "<|im_end|>" if fmt == "chatml" else "\n\n"


def entity_type(schema: Schema, relation: str, role: str) -> str | None:
    try:
        rel = schema.relation(relation)
    except KeyError:
        return None
    return rel.head if role == "head" else rel.tail


class PromptBuilder:
    """Builds prompts and answers for one schema, one configuration and one set of in-context examples."""

    def __init__(self, schema: Schema, config: PromptConfig, examples: list[Example] | tuple[Example, ...] = ()):
        self.schema = schema
        self.config = config
        self.examples = tuple(examples)[: config.icl]

    # -- prompt ---------------------------------------------------------------------------------------
    def prefix(self) -> str:
        """Everything before the input text: identical for every input, so its KV cache is reused."""
        fmt = self.config.format
        parts = [_turn(fmt, "system", self.instruction())]
        for ex in self.examples:
            parts.append(_turn(fmt, "user", self.user_message(ex.text)))
            parts.append(_turn(fmt, "assistant", self.answer(ex.triplets)))
        return "".join(parts) + self._user_open()

    def suffix(self, text: str) -> str:
        """The input text and what follows it up to the start of the answer."""
        return "".join(self.suffix_parts(text))

    def suffix_parts(self, text: str) -> tuple[str, str]:
        """(the user message holding the input, the template text after it): tokenized apart, so that
        control-token look-alikes inside a document stay plain text."""
        fmt = self.config.format
        user = self.user_message(text)
        closing = _turn(fmt, "user", user)[len(self._user_open()) + len(user):]
        return user, closing + _assistant_open(fmt)

    def prompt(self, text: str) -> str:
        return self.prefix() + self.suffix(text)

    def _user_open(self) -> str:
        return "<|im_start|>user\n" if self.config.format == "chatml" else "### Input\n"

    def user_message(self, text: str) -> str:
        return f"Text: {text}" if self.config.style == "natural" else f"text = {quote(text)}"

    def instruction(self) -> str:
        s = self.schema
        if self.config.style == "natural":
            lines = ["Extract knowledge-graph triplets from the text." + (f" {s.description}" if s.description else ""),
                     "Relations:"]
            for r in s.relations:
                types = f" ({r.head} -> {r.tail})" if r.head and r.tail else ""
                lines.append(f"- {r.name}{types}: {r.description}")
            lines.append('Copy each head and tail exactly as written in the text. Answer with a JSON list of '
                         '["head", "relation", "tail"] triplets, or [] if the text states none of these relations.')
            if self.config.rationale:
                lines.append("First list the relations and the entities you see, then the triplets.")
            return "\n".join(lines)
        lines = [f"# Knowledge-graph extraction. {s.description}".rstrip(), "class Entity(str): ..."]
        lines += [f"class {t}(Entity): ..." for t in self._types()]
        lines.append("class Rel(str): ...")
        for r in s.relations:
            lines.append(f"class {r.name}(Rel):")
            lines.append(f'    """{r.description}"""')
            if r.head and r.tail:
                lines.append(f"    head: {r.head}")
                lines.append(f"    tail: {r.tail}")
        lines.append("# For each text, write Extract([...]) with one Triple(head, Rel(name), tail) per relation "
                     "the text states; heads and tails are copied exactly from the text.")
        if self.config.rationale:
            lines.append("# First comment on the relations and entities you see.")
        return "\n".join(lines)

    def _types(self) -> list[str]:
        seen: list[str] = []
        for r in self.schema.relations:
            for t in (r.head, r.tail):
                if t and t not in seen:
                    seen.append(t)
        return seen

    # -- answer ---------------------------------------------------------------------------------------
    def answer(self, triplets: tuple[Triplet, ...] | list[Triplet]) -> str:
        """The exact answer text the model should produce for these triplets (training target, ICL shot)."""
        trips = list(dict.fromkeys(t.key for t in triplets))
        if self.config.style == "natural":
            body = "[" + ", ".join(f"[{quote(h)}, {quote(r)}, {quote(t)}]" for h, r, t in trips) + "]"
        else:
            body = "Extract([" + ", ".join(self._code_triple(h, r, t) for h, r, t in trips) + "])"
        return self._rationale(trips) + body if self.config.rationale else body

    def _code_triple(self, h: str, r: str, t: str) -> str:
        ht = entity_type(self.schema, r, "head") or "Entity"
        tt = entity_type(self.schema, r, "tail") or "Entity"
        return f"Triple({ht}({quote(h)}), Rel({quote(r)}), {tt}({quote(t)}))"

    def _rationale(self, trips: list[tuple[str, str, str]]) -> str:
        rels = list(dict.fromkeys(r for _, r, _ in trips))
        ents = list(dict.fromkeys(e for h, _, t in trips for e in (h, t)))
        rel_text = ", ".join(rels) or "none"
        ent_text = ", ".join(quote(e) for e in ents) or "none"
        if self.config.style == "natural":
            return f"Relations: {rel_text}\nEntities: {ent_text}\nTriplets: "
        return f"# relations: {rel_text}\n# entities: {ent_text}\n"

    def parse_all(self, answer: str) -> list[tuple[str, str, str]]:
        """Every complete (head, relation, tail) in an answer, in order, duplicates kept."""
        return _parse_natural(answer) if self.config.style == "natural" else _parse_code(answer)

    def confidences(self, answer: str, tokens: list[int], probs: list[float | None],
                    piece) -> dict[tuple[str, str, str], float]:
        """Each triplet's confidence, by key: the lowest probability among the tokens the model chose that
        overlap the triplet's text in the answer (grammar-forced tokens, whose probability is None, are left
        out; 1.0 if all were forced). A repeated triplet keeps its first occurrence's score. `piece(token)` gives
        a token's bytes (Engine.piece)."""
        return {key: min(chosen) if chosen else 1.0
                for key, chosen in self.chosen_probs(answer, tokens, probs, piece).items()}

    def chosen_probs(self, answer: str, tokens: list[int], probs: list[float | None],
                     piece) -> dict[tuple[str, str, str], list[float]]:
        """Each triplet's chosen tokens' probabilities, by key: those of the tokens that overlap the triplet's
        text in the answer, grammar-forced ones left out (a repeated triplet keeps its first occurrence's)."""
        spans, pos = [], 0
        for token in tokens:
            n = len(piece(token))
            spans.append((pos, pos + n))
            pos += n
        pattern = _NATURAL_TRIPLE if self.config.style == "natural" else _CODE_TRIPLE
        base = max(answer.rfind("Triplets:"), 0) if self.config.style == "natural" else 0
        out: dict[tuple[str, str, str], list[float]] = {}
        for m in pattern.finditer(answer, base):
            try:
                key = tuple(orjson.loads(g) for g in m.groups())
            except orjson.JSONDecodeError:
                continue
            b0, b1 = len(answer[:m.start()].encode()), len(answer[:m.end()].encode())
            out.setdefault(key, [p for (s, e), p in zip(spans, probs) if p is not None and s < b1 and e > b0])
        return out

    def parse(self, answer: str) -> list[Triplet]:
        """Triplets from an answer; tolerant of unconstrained output (unknown relations are dropped)."""
        names = set(self.schema.relation_names)
        found: list[Triplet] = []
        for h, r, t in self.parse_all(answer):
            if r in names and h and t:
                found.append(Triplet(h, r, t, entity_type(self.schema, r, "head"),
                                     entity_type(self.schema, r, "tail")))
        return list(dict.fromkeys(found))


_STR = r'"(?:[^"\\]|\\.)*"'
_NATURAL_TRIPLE = re.compile(rf"\[\s*({_STR})\s*,\s*({_STR})\s*,\s*({_STR})\s*\]")


def _parse_natural(answer: str) -> list[tuple[str, str, str]]:
    # Triplet by triplet rather than one json.loads, so that a truncated answer still yields its complete ones.
    start = answer.rfind("Triplets:")
    return _literals(_NATURAL_TRIPLE, answer[max(start, 0):])


def _literals(pattern: re.Pattern, answer: str) -> list[tuple[str, str, str]]:
    out = []
    for m in pattern.finditer(answer):
        try:
            out.append(tuple(orjson.loads(g) for g in m.groups()))
        except orjson.JSONDecodeError:
            continue
    return out
_CODE_TRIPLE = re.compile(rf"Triple\(\s*\w+\(\s*({_STR})\s*\)\s*,\s*Rel\(\s*({_STR})\s*\)\s*,\s*\w+\(\s*({_STR})\s*\)\s*\)")


def _parse_code(answer: str) -> list[tuple[str, str, str]]:
    return _literals(_CODE_TRIPLE, answer)


def draw_examples(pool: list[Example], n: int, seed: int, exclude_text: str | None = None) -> list[Example]:
    """n examples drawn from pool with a seeded generator (the paper draws 3 random train sentences)."""
    rng = random.Random(seed)
    candidates = [e for e in pool if e.text != exclude_text] if exclude_text else pool
    return rng.sample(candidates, min(n, len(candidates)))
