"""From `kgc-lite extract` records to a knowledge graph: one node per entity, one edge per triplet occurrence.

Records are read one JSONL line at a time (files or stdin), so extraction can stream into the graph; the graph
itself is held in memory, because a node's canonical name and aliases are known only once every mention is in.

Entity merging. Two mentions become one node when their *type* is the same string (an untyped mention is its own
type: it never merges with a typed one) and their names have the same key under `normalize_name`:

    1. Unicode NFKC ("ｍｉｃｒｏｓｏｆｔ" = "microsoft", "ﬁ" = "fi", no-break space = space);
    2. whitespace runs collapse to one space, ends trimmed ("New  York" = "New York");
    3. quotes or brackets around the whole name are dropped, when they pair with each other
       ('"Microsoft"' = "( Microsoft )" = "``Microsoft''" = "Microsoft"; "(a) and (b)" keeps its brackets);
    4. tokenizer spacing around punctuation is undone: no space before , . ; : ! ? % ) ] } or a clitic
       ('s 're 've 'll 'd 'm n't), none after ( [ { ("U.S ." = "U.S.", "Redmond , Washington" =
       "Redmond, Washington", "Ford 's Theatre" = "Ford's Theatre");
    5. casefold, then NFKC again ("MICROSOFT" = "Microsoft", "Straße" = "STRASSE").

Nothing else merges, on purpose, because a wrong merge is worse than a missed one: no fuzzy or edit-distance
matching, no dropped words or suffixes ("Microsoft" != "Microsoft Corp." != "Microsoft Corp"), no stemming,
no accent stripping ("Zoë" != "Zoe"), no change to hyphens or dashes ("Jean-Paul" != "Jean - Paul"), no
spacing change after a comma ("A,B" != "A, B"), no abbreviation expansion ("US" != "U.S." != "United States"),
and never across types ("Washington"/Person != "Washington"/Location).

Each node keeps its canonical name (the surface form with the most distinct mentions, the first seen on a
tie), every surface form as an alias, and every distinct mention (doc id, chunk, character offsets; a name in
three triplets of one sentence is one mention). Each triplet occurrence is its own edge, with provenance (doc
id, chunk, unit and mention offsets, the sentence, confidence when given): an edge list, not a set, so counts
stay faithful to the extraction and nothing is lost; the RDF writers assert each distinct (head, relation,
tail) once and attach the occurrences to it as statement nodes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Iterator

import orjson

from kgc_lite.errors import InputError
from kgc_lite.io.inputs import open_source

# Opening -> closing marks that may wrap a whole name. Symmetric quotes need the extra check in _unwrap.
_PAIRS = {"``": "''", '"': '"', "'": "'", "“": "”", "‘": "’", "„": "“", "«": "»", "‹": "›", "「": "」",
          "『": "』", "(": ")", "[": "]", "{": "}", "<": ">"}
_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_WS = re.compile(r"\s+")
_SPACE_BEFORE = re.compile(r" (?=[,.;:!?%)\]}]|(?:'(?:s|re|ve|ll|d|m)|n't)(?![^\W\d_]))", re.IGNORECASE)
_SPACE_AFTER = re.compile(r"(?<=[(\[{]) ")


def _unwrap(name: str) -> str:
    """Drop one pair of marks around the whole name, if they pair with each other; else return it unchanged."""
    for opener, closer in _PAIRS.items():
        if len(name) <= len(opener) + len(closer) or not (name.startswith(opener) and name.endswith(closer)):
            continue
        inner = name[len(opener):len(name) - len(closer)]
        if opener in _BRACKETS:
            depth = 0
            for ch in inner:  # "(a) and (b)": the first ")" closes the first "(", so they do not wrap the name
                depth += (ch == opener) - (ch == closer)
                if depth < 0:
                    break
            if depth != 0:
                continue
        elif opener == closer:
            if re.search(rf"(?:^|\s){re.escape(opener)}|{re.escape(opener)}(?:\s|$)", inner):
                continue  # "'a' and 'b'": quotes at word edges inside; an apostrophe ("'Ford's'") is fine
        elif opener in inner or closer in inner:
            continue
        return inner.strip()
    return name


@lru_cache(maxsize=1 << 16)
def normalize_name(name: str) -> str:
    """The merge key of an entity name (see the module docstring for exactly what it equates).

    >>> normalize_name('  "Redmond , Washington" ')
    'redmond, washington'
    """
    text = _WS.sub(" ", unicodedata.normalize("NFKC", name)).strip()
    while True:
        inner = _unwrap(text)
        if inner == text or not inner:
            break
        text = inner
    text = _SPACE_AFTER.sub("", _SPACE_BEFORE.sub("", text))
    return unicodedata.normalize("NFKC", text.casefold())


@dataclass(frozen=True)
class Mention:
    doc: str
    chunk: int | None
    start: int | None
    end: int | None
    text: str


@dataclass
class Node:
    id: str
    key: str
    type: str | None
    forms: dict[str, int] = field(default_factory=dict)  # surface form -> distinct mentions, first-seen order
    mentions: dict[Mention, None] = field(default_factory=dict)  # an ordered set

    @property
    def name(self) -> str:
        best = max(self.forms.values())
        return next(form for form, count in self.forms.items() if count == best)

    @property
    def aliases(self) -> list[str]:
        return list(self.forms)


@dataclass(frozen=True)
class Edge:
    id: str
    head: str  # node ids
    tail: str
    relation: str
    doc: str
    chunk: int | None
    unit_start: int | None
    unit_end: int | None
    sentence: str | None
    head_text: str
    tail_text: str
    head_span: tuple[int, int] | None
    tail_span: tuple[int, int] | None
    confidence: float | None


@dataclass
class Stats:
    records: int = 0
    error_records: int = 0
    triplets: int = 0
    below_confidence: int = 0


class KnowledgeGraph:
    """Nodes keyed by (normalized name, type) and an edge per triplet occurrence; fed one record at a time."""

    def __init__(self, min_confidence: float | None = None):
        self.min_confidence = min_confidence
        self.nodes: dict[tuple[str, str | None], Node] = {}
        self.edges: list[Edge] = []
        self.stats = Stats()
        self._ids: dict[str, Node] = {}

    @property
    def mentions(self) -> int:
        return sum(len(node.mentions) for node in self.nodes.values())

    def node(self, node_id: str) -> Node:
        return self._ids[node_id]

    def add_records(self, records: Iterable[tuple[str, dict]]) -> "KnowledgeGraph":
        for where, record in records:
            self.add_record(record, where)
        return self

    def add_record(self, record: dict, where: str = "record") -> None:
        """Add one extract output record; `where` ("file:line") prefixes the error if the record is malformed."""
        if not isinstance(record, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if "error" in record and "triplets" not in record:
            self.stats.error_records += 1
            return
        if "triplets" not in record:
            raise InputError(f'{where}: expected "triplets" (a list) or "error": not `kgc-lite extract` output')
        doc = record.get("id")
        if not isinstance(doc, (str, int)) or isinstance(doc, bool):
            raise InputError(f'{where}: "id" must be a string or a number')
        doc = str(doc)
        chunk, start, end = (_opt_int(record, key, where) for key in ("chunk", "start", "end"))
        sentence = record.get("text")
        if sentence is not None and not isinstance(sentence, str):
            raise InputError(f'{where}: "text" must be a string')
        triplets = record.get("triplets")
        if not isinstance(triplets, list):
            raise InputError(f'{where}: expected "triplets" (a list) or "error"')
        self.stats.records += 1
        for i, t in enumerate(triplets):
            self._add_triplet(t, f"{where}: triplet {i + 1}", doc, chunk, start, end, sentence)

    def _add_triplet(self, t, where, doc, chunk, start, end, sentence) -> None:
        if not isinstance(t, dict):
            raise InputError(f"{where}: expected an object")
        for key in ("head", "relation", "tail"):
            if not isinstance(t.get(key), str) or not t[key].strip():
                raise InputError(f'{where}: "{key}" must be a non-blank string')
        for key in ("head_type", "tail_type"):
            if t.get(key) is not None and not isinstance(t[key], str):
                raise InputError(f'{where}: "{key}" must be a string')
        spans = {key: _opt_span(t, key, where) for key in ("head_span", "tail_span")}
        confidence = t.get("confidence")
        if confidence is not None:
            if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
                raise InputError(f'{where}: "confidence" must be a number')
            confidence = float(confidence)
        self.stats.triplets += 1
        if confidence is not None and self.min_confidence is not None and confidence < self.min_confidence:
            self.stats.below_confidence += 1
            return
        head = self._mention(t["head"], t.get("head_type") or None, doc, chunk, spans["head_span"])
        tail = self._mention(t["tail"], t.get("tail_type") or None, doc, chunk, spans["tail_span"])
        self.edges.append(Edge(f"r{len(self.edges) + 1}", head.id, tail.id, t["relation"], doc, chunk, start, end,
                               sentence, t["head"], t["tail"], spans["head_span"], spans["tail_span"], confidence))

    def _mention(self, text: str, etype: str | None, doc: str, chunk: int | None, span) -> Node:
        key = normalize_name(text)
        node = self.nodes.get((key, etype))
        if node is None:
            node = self.nodes[(key, etype)] = Node(f"e{len(self.nodes) + 1}", key, etype)
            self._ids[node.id] = node
        mention = Mention(doc, chunk, *(span or (None, None)), text)
        if mention not in node.mentions:  # a name in three triplets of one sentence is one mention, one vote
            node.mentions[mention] = None
            node.forms[text] = node.forms.get(text, 0) + 1
        return node

    def summary(self) -> str:
        s = self.stats
        mentions = self.mentions
        parts = [f"{len(self.nodes)} nodes from {mentions} mentions ({mentions - len(self.nodes)} merged into an "
                 f"existing node)", f"{len(self.edges)} edges from {s.records} records"]
        if s.below_confidence:
            parts.append(f"{s.below_confidence} triplets below --min-confidence dropped")
        if s.error_records:
            parts.append(f"{s.error_records} error records skipped")
        return ", ".join(parts)


def _opt_int(record: dict, key: str, where: str) -> int | None:
    value = record.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InputError(f'{where}: "{key}" must be an integer')
    return value


def _opt_span(t: dict, key: str, where: str) -> tuple[int, int] | None:
    value = t.get(key)
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise InputError(f'{where}: "{key}" must be [start, end] integers')
    return value[0], value[1]


def read_records(sources: list[str] | None) -> Iterator[tuple[str, dict]]:
    """("file:line", record) for each non-blank JSONL line of each source ('-' or none: stdin), lazily. A source
    with no record at all is an error: it is more often a wrong file or a failed run than an empty corpus."""
    for source in sources or ["-"]:
        with open_source(source) as (stream, name):
            empty = True
            for lineno, raw in enumerate(stream, 1):
                if not raw.strip():
                    continue
                where = f"{name}:{lineno}"
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise InputError(f"{where}: not valid JSON ({exc}); expected `kgc-lite extract` JSONL, "
                                     "one record per line") from None
                empty = False
                yield where, record
            if empty:
                raise InputError(f"{name}: no records (an empty input; expected `kgc-lite extract` JSONL)")


def build_graph(sources: list[str] | None, min_confidence: float | None = None) -> KnowledgeGraph:
    """Read extract JSONL from files or stdin and build the graph."""
    return KnowledgeGraph(min_confidence).add_records(read_records(sources))
