"""Reading input: plain-text documents or JSONL records, from files or stdin, split into units for the model.

A unit is one sentence-sized piece of one document, with its character offsets in that document. Text is
split at line breaks and sentence ends, and a sentence longer than `max_chars` is cut at word boundaries
(a 10 MB line becomes many units, never one prompt that overflows the context). Bad input raises InputError
with one sentence that names the file and line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import orjson

from .errors import InputError, KgcError


@dataclass(frozen=True)
class Document:
    id: str
    text: str


@dataclass(frozen=True)
class Unit:
    doc_id: str
    chunk: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be read; reported in place, the run goes on with --on-error skip."""
    id: str
    error: str


def _decode(raw: bytes, where: str) -> str:
    if b"\x00" in raw[:65536]:
        raise InputError(f"{where}: binary data, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not valid UTF-8 (byte {exc.start})") from None


def _open(source: str) -> tuple[BinaryIO, str]:
    if source == "-":
        return sys.stdin.buffer, "<stdin>"
    path = Path(source)
    if path.is_dir():
        raise KgcError(f"{source}: is a directory")
    try:
        return open(path, "rb"), source
    except FileNotFoundError:
        raise KgcError(f"{source}: no such file") from None
    except OSError as exc:
        raise KgcError(f"{source}: cannot read ({exc.strerror})") from None


def read_documents(sources: list[str], jsonl: bool = False) -> Iterator[Document | BadRecord]:
    """Documents from each source ('-' is stdin): one per plain-text file, one per JSONL line.

    Whole-source problems (missing file, binary, bad UTF-8 in a text file, empty input) raise; a bad JSONL
    line yields a BadRecord so the caller decides whether to stop or skip.
    """
    for source in sources or ["-"]:
        stream, where = _open(source)
        try:
            if jsonl:
                yield from _jsonl_documents(stream, where)
            else:
                text = _decode(stream.read(), where)
                if not text.strip():
                    raise InputError(f"{where}: empty input")
                yield Document(Path(source).name if source != "-" else "stdin", text)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


def _jsonl_documents(stream: BinaryIO, where: str) -> Iterator[Document | BadRecord]:
    seen_any = False
    for lineno, raw in enumerate(stream, 1):
        if not raw.strip():
            continue
        seen_any = True
        fallback_id = f"{Path(where).name}:{lineno}"
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield BadRecord(fallback_id, f"{where}:{lineno}: not valid JSON")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            yield BadRecord(fallback_id, f'{where}:{lineno}: expected an object with a "text" string')
            continue
        rid = record.get("id", fallback_id)
        if not isinstance(rid, (str, int)):
            yield BadRecord(fallback_id, f'{where}:{lineno}: "id" must be a string or a number')
            continue
        if not record["text"].strip():
            yield BadRecord(str(rid), f"{where}:{lineno}: empty text")
            continue
        yield Document(str(rid), record["text"])
    if not seen_any:
        raise InputError(f"{where}: empty input")


# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
# ...but not after an initial ("John F. Kennedy") or a common abbreviation ("Mr. Smith", "Acme Inc. said").
_NO_END_AFTER = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Inc|Ltd|Co|Corp|Gen|Col|Capt|Lt|Sgt|Rep|Sen|Gov|Rev|No|vs|"
    r"etc|e\.g|i\.e|U\.S|a\.m|p\.m|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Ala|Ariz|Ark|Calif|Colo|"
    r"Conn|Fla|Ga|Ill|Ind|Kan|Ky|La|Mass|Md|Mich|Minn|Miss|Mo|Mont|Neb|Nev|Okla|Ore|Pa|Tenn|Tex|Va|Vt|Wash|Wis|"
    r"Wyo))\.$")
_WORDY = re.compile(r"\w")


def _sentence_ends(text: str) -> Iterator[re.Match]:
    for m in _SENTENCE_END.finditer(text):
        if "\n" in m.group() or not _NO_END_AFTER.search(text, max(0, m.start() - 8), m.start()):
            yield m


def split_units(doc: Document, max_chars: int = 1200, sentences: bool = True) -> Iterator[Unit]:
    """Sentence-sized units of a document, with their offsets; whitespace-only pieces are skipped.

    With sentences=False the document is only cut where it exceeds max_chars (for input that is already one
    sentence per record). A piece with no letter or digit (a closing quote, a lone ';') joins the unit before it.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in (list(_sentence_ends(doc.text)) if sentences else []) + [None]:
        end = m.start() if m else len(doc.text)
        for start, stop in _cut(doc.text, pos, end, max_chars):
            if spans and not _WORDY.search(doc.text, start, stop) and stop - spans[-1][0] <= max_chars:
                spans[-1] = (spans[-1][0], stop)
            else:
                spans.append((start, stop))
        if m:
            pos = m.end()
    for chunk, (start, stop) in enumerate(spans):
        yield Unit(doc.id, chunk, start, stop, doc.text[start:stop])


def _cut(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Trimmed spans of text[start:end], each at most max_chars, cut at the last space when possible."""
    while start < end:
        while start < end and text[start].isspace():
            start += 1
        if start >= end:
            return
        stop = min(end, start + max_chars)
        if stop < end:
            space = text.rfind(" ", start + max_chars // 2, stop)
            stop = space if space > start else stop
        trimmed = stop
        while trimmed > start and text[trimmed - 1].isspace():
            trimmed -= 1
        yield start, trimmed
        start = stop
