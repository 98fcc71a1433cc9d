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

from kgc_lite.prompting.prompts import PromptConfig, entity_type, quote
from kgc_lite.schema import Schema

# text: spans of the input with clean edges (no trailing sentence period or comma, balanced brackets); in
#   pre-tokenized text a period still clinging to a word is part of that token (the tokenizer split off the
#   sentence periods);
# words: any run of whole words of the input, as the tokenized benchmark sets' gold is cut ("Texas." included);
# free: any string.
ENTITY_MODES = ("text", "words", "free")
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

    def __init__(self, schema: Schema, config: PromptConfig, entities: str = "text", max_triplets: int = 24,
                 at_least_one: bool = False):
        """at_least_one: the answer may not be empty (a reader asked to fill its one relation)."""
        if entities not in ENTITY_MODES:
            raise ValueError(f"entities must be one of {ENTITY_MODES}")
        self.entities = entities
        self.max_triplets = max_triplets
        self.at_least_one = at_least_one
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
        n_more = max(0, self.max_triplets - 1)
        unit = "triplet" if config.style == "natural" else "triple"
        more = f'( ", " {unit} ){{0,{n_more}}}' if n_more else ""  # llguidance refuses a {0,0} repeat
        if config.style == "natural":
            body = template("triplets_natural.gbnf").substitute(
                rationale=rationale, more=more, entity="$entity", optional="" if self.at_least_one else "?",
                relation=_alternatives([literal(quote(n)) for n in schema.relation_names]))
        else:
            triples = []
            for r in schema.relations:
                ht = entity_type(schema, r.name, "head") or "Entity"
                tt = entity_type(schema, r.name, "tail") or "Entity"
                triples.append(f'{literal(f"Triple({ht}(")} entity {literal(f"), Rel({quote(r.name)}), {tt}(")} '
                               f'entity {literal("))")}')
            body = template("triplets_code.gbnf").substitute(
                rationale=rationale, more=more, entity="$entity", optional="" if self.at_least_one else "?",
                triple=_alternatives(triples))
        return body.replace("$entity", extra + "$entity")

    def for_text(self, text: str) -> str:
        """The complete GBNF for one input."""
        if self._free is not None:
            return self._body.replace("$entity", self._free)
        rules = word_span_rules(text) if self.entities == "words" else entity_span_rules(text)
        return self._body.replace("$entity", rules)


# Span boundaries. A head or tail may not end on sentence punctuation or a dangling joiner ("California." and
# "Acme," are not entities; "Apple Inc.", "U.S." and "St. Louis" are), nor begin on what only closes or follows.
_NO_END = set(",;:!?-–—/&…")
_NO_START = set(",;:!?…")
_OPENERS = {"(": ")", "[": "]", "{": "}", "“": "”", "«": "»"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


class SpanPieces:
    """One text's word pieces and where an entity span may start and end.

    Brackets and quotes inside a span are balanced: it holds both of a pair or neither ("Microsoft (MSFT)", a
    quoted title, never "1994)" or "(by 3%"); straight double quotes pair up in order, and an opener or closer
    with no partner may not end a span. A period may end a span only where it closes an initial or an
    abbreviation (inputs.abbreviation_period), not a sentence; in pre-tokenized text also a period the tokenizer
    split off an abbreviation ("Mich .") and one still clinging to its word ("Texas.").
    """

    def __init__(self, text: str):
        from kgc_lite.io.inputs import abbreviation_ends_at, abbreviation_period

        self.text = text
        self.words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        n = len(self.words)
        pieces = [text[a:b] for a, b in self.words]
        # link[i]: piece i may follow piece i-1 in one span (no line break, a short gap)
        self.link = [False] + [("\n" not in (g := text[self.words[i - 1][1]:self.words[i][0]]) and "\r" not in g
                                and len(g) <= 3) for i in range(1, n)]
        self.pairs: list[tuple[int, int]] = []         # (opener piece, closer piece), properly nested
        self.parent: list[int | None] = []             # the pair enclosing each pair
        self.enclosure: list[int | None] = [None] * n  # innermost pair p with opener < piece <= closer
        opener_of: dict[int, int] = {}
        closer_of: dict[int, int] = {}
        stack: list[tuple[int, str]] = []              # (piece, its character) of open brackets / quotes
        for i, piece in enumerate(pieces):
            top = stack[-1] if stack else None
            closes = top is not None and ((piece == '"' and top[1] == '"') or _CLOSERS.get(piece) == top[1])
            if closes:
                o = stack.pop()[0]
                p = len(self.pairs)
                self.pairs.append((o, i))
                opener_of[o], closer_of[i] = p, p
            elif piece in _OPENERS or piece == '"':
                stack.append((i, piece))
        # parents and enclosures, now that every pair is known
        by_open = {o: p for p, (o, _) in enumerate(self.pairs)}
        self.parent = [None] * len(self.pairs)
        open_pairs: list[int] = []
        for i in range(n):
            if i in closer_of:
                p = closer_of[i]
                self.enclosure[i] = p
                if open_pairs and open_pairs[-1] == p:
                    open_pairs.pop()
                continue
            self.enclosure[i] = open_pairs[-1] if open_pairs else None
            if i in by_open:
                p = by_open[i]
                self.parent[p] = open_pairs[-1] if open_pairs else None
                open_pairs.append(p)
        tokenized = pretokenized(text)
        self.can_start = [False] * n
        self.can_end = [False] * n
        for i, piece in enumerate(pieces):
            word = piece[0].isalnum() or piece[0] == "_"
            if word:
                self.can_start[i] = self.can_end[i] = True
                continue
            matched_closer = i in closer_of
            matched_opener = i in opener_of
            bracket = piece in _OPENERS or piece in _CLOSERS or piece == '"'
            if piece == ".":
                # In pre-tokenized text the tokenizer has split off every sentence period, so one still clinging
                # to a word is part of that token ("Texas." as CoNLL04 has it).
                clings = i > 0 and self.words[i - 1][1] == self.words[i][0] and tokenized
                # ...and it split an abbreviation's period off its word when the abbreviation ended the sentence
                # ("Lansing , Mich ." for "Lansing, Mich."): that period is still the abbreviation's.
                split_off = (tokenized and i > 0 and text[self.words[i - 1][1]:self.words[i][0]] == " "
                             and abbreviation_ends_at(text, self.words[i - 1][1]))
                self.can_end[i] = clings or split_off or abbreviation_period(text, self.words[i][0])
                # ".NET" starts with its period; a sentence's period starts nothing
                self.can_start[i] = ((i == 0 or self.words[i - 1][1] < self.words[i][0]) and i + 1 < n
                                     and self.words[i + 1][0] == self.words[i][1] and pieces[i + 1][0].isalnum())
            elif bracket:
                self.can_end[i] = matched_closer
                self.can_start[i] = matched_opener or (piece in _OPENERS)
            else:
                self.can_end[i] = piece not in _NO_END
                self.can_start[i] = piece not in _NO_START

    def allowed(self, start: int, end: int) -> bool:
        """Whether text[start:end] is a span the grammar accepts."""
        firsts = [i for i, (a, _) in enumerate(self.words) if a == start]
        lasts = [i for i, (_, b) in enumerate(self.words) if b == end]
        if not firsts or not lasts or lasts[0] < firsts[0]:
            return False
        s, e = firsts[0], lasts[0]
        if not (self.can_start[s] and self.can_end[e]) or not all(self.link[s + 1:e + 1]):
            return False
        return all((s <= o <= e) == (s <= c <= e) for o, c in self.pairs)

    def enclosure_after(self, k: int) -> int | None:
        """The innermost pair still open just after piece k."""
        p = self.enclosure[k]
        return self.parent[p] if p is not None and self.pairs[p][1] == k else p


def entity_span_rules(text: str) -> str:
    """Rules `entity` / `span` accepting exactly the quoted, JSON-escaped spans of whole words of text that
    SpanPieces allows (no trailing sentence punctuation, balanced brackets and quotes).

    Word i may be continued by word i+1 (with the exact characters between them) unless a line break lies
    between. Continuations are shared by every start, so the grammar grows linearly with the input: one chain
    for spans that start outside any brackets, and one more over each bracketed stretch for spans that start
    inside it (they stop before its closing bracket). A chain may end only where every bracket it entered is
    closed again. Identical starts are merged, which keeps repeated words cheap.
    """
    sp = SpanPieces(text)
    words = sp.words
    if not words:
        return template("entity_free.gbnf").template  # nothing to copy from: fall back to free strings

    def piece(i: int) -> str:
        return literal(quote(text[words[i][0]:words[i][1]])[1:-1])

    def name(variant: int | None, k: int) -> str:
        return f"c{k}" if variant is None else f"c{k}q{variant}"

    n = len(words)
    cont: dict[tuple[int | None, int], str] = {}  # (chain, i) -> rule for "separator + word i + maybe more"
    rules: list[str] = []
    for k in range(n - 1, 0, -1):
        if not sp.link[k]:
            continue
        gap = text[words[k - 1][1]:words[k][0]]
        sep = literal(quote(gap)[1:-1]) + " " if gap else ""
        chains: list[int | None] = [None]
        p = sp.enclosure[k]
        while p is not None:
            chains.append(p)
            p = sp.parent[p]
        for v in chains:
            if v is not None and sp.pairs[v][1] == k:
                continue  # a span that starts inside a bracket pair stays inside it
            nxt = cont.get((v, k + 1)) if k + 1 < n else None
            if sp.can_end[k] and sp.enclosure_after(k) == v:
                body = f"{sep}{piece(k)}" + (f" {nxt}?" if nxt else "")
            elif nxt:
                body = f"{sep}{piece(k)} {nxt}"
            else:
                continue
            cont[(v, k)] = name(v, k)
            rules.append(f"{name(v, k)} ::= {body}")
    starts = []
    for s in range(n):
        if not sp.can_start[s]:
            continue
        nxt = cont.get((sp.enclosure[s], s + 1)) if s + 1 < n else None
        if sp.can_end[s]:
            starts.append(piece(s) + (f" {nxt}?" if nxt else ""))
        elif nxt:
            starts.append(f"{piece(s)} {nxt}")
    if not starts:  # punctuation only ("..."): single pieces, so that heads and tails stay spans of the text
        starts = [piece(i) for i in range(n)]
    starts = list(dict.fromkeys(starts))
    return template("entity_spans.gbnf").substitute(
        starts=" | ".join(starts), continuations="\n".join(reversed(rules)))


_ATTACHED = re.compile(r"\w[,;:!?](?:\s|$)")
_STANDALONE = re.compile(r"(?:^|\s)[,.;:!?](?:\s|$)")


def pretokenized(text: str) -> bool:
    """Whether text looks pre-tokenized ("Redmond , Washington ."): some punctuation stands alone between spaces
    and no comma, colon or the like clings to a word. A period may still cling there ("Inc.", or a token the
    tokenizer kept whole), so periods are not counted as clinging.

    >>> pretokenized("Satya Nadella , the chief of Microsoft , spoke ."), pretokenized("Redmond, Washington.")
    (True, False)
    """
    return bool(_STANDALONE.search(text)) and not _ATTACHED.search(text)


def word_span_rules(text: str) -> str:
    """Rules `entity` / `span` accepting every quoted, JSON-escaped run of whole words of text, whatever it
    starts or ends on (--entities words): the looser rule the tokenized benchmark sets' gold follows.

    Word i may be continued by word i+1 (with the exact characters between them) unless a line break lies
    between. Identical starts are merged, which keeps repeated words cheap.
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
    starts = list(dict.fromkeys(piece(i) + (f" {cont[i + 1]}?" if cont[i + 1] else "") for i in range(n)))
    return template("entity_spans.gbnf").substitute(
        starts=" | ".join(starts), continuations="\n".join(reversed(rules)))


def letter_grammar(letters: list[str]) -> str:
    return template("qa4re_letter.gbnf").substitute(letters=_alternatives([literal(x) for x in letters]))
