"""Reading input: plain-text documents or JSONL records, from files or stdin, split into units for the model.

A unit is one sentence-sized piece of one document, with its character offsets in that document. Text is
split at line breaks and sentence ends, and a sentence longer than `max_chars` is cut at word boundaries
(a 10 MB line becomes many units, never one prompt that overflows the context). Plain text is split while
it is read (StreamedDocument), so memory does not grow with the input, only with its longest line. Bad input
raises InputError with one sentence that names the file and line.
"""

from __future__ import annotations

import codecs
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO, Iterator

import orjson

from kgc_lite.errors import InputError, KgcError


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
class StreamedDocument(Document):
    """A plain-text document whose text arrives in blocks while it is split (split_units), so that a long
    file or stdin stream costs constant memory; `text` stays empty. Read it once, in order."""
    blocks: Iterator[str] = field(default=iter(()), compare=False, repr=False)


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be read; reported in place, the run goes on with --on-error skip."""
    id: str
    error: str


@contextmanager
def open_source(source: str) -> Iterator[tuple[BinaryIO, str]]:
    """A binary stream and a name for messages, closed afterwards ('-' is stdin, left open); a missing,
    unreadable or folder path is one KgcError line."""
    if source == "-":
        yield sys.stdin.buffer, "<stdin>"
        return
    path = Path(source)
    if path.is_dir():
        raise KgcError(f"{source}: is a directory")
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        raise KgcError(f"{source}: no such file") from None
    except OSError as exc:
        raise KgcError(f"{source}: cannot read ({exc.strerror})") from None
    with stream:
        yield stream, source


def check_sources(sources: list[str]) -> None:
    """Raise the KgcError that reading would, now, for each named source that cannot be opened (a missing file, a
    folder, no permission), so a run over many files stops before the model loads and not an hour in at a typo.
    '-' (stdin) is left to the reader."""
    for source in sources:
        if source != "-":
            with open_source(source):
                pass


def read_documents(sources: list[str], jsonl: bool = False) -> Iterator[Document | BadRecord]:
    """Documents from each source ('-' is stdin): one per plain-text file, one per JSONL line.

    Whole-source problems (missing file, binary, bad UTF-8 in a text file, empty input) raise; a bad JSONL
    line yields a BadRecord so the caller decides whether to stop or skip.
    """
    for source in sources or ["-"]:
        with open_source(source) as (stream, where):
            yield from read_stream(stream, source, jsonl, where)


def read_stream(stream: BinaryIO, source: str, jsonl: bool = False, where: str | None = None
                ) -> Iterator[Document | BadRecord]:
    """Documents from one already open source: a reader that has the bytes itself (Ray Data, in scale.py)
    gets the same documents, ids and errors as read_documents."""
    where = where or source
    if jsonl:
        yield from _jsonl_documents(stream, where)
    else:
        blocks = _text_blocks(stream, where)
        first = next(blocks, "")  # runs the checks on the first 64 KiB now, as reading it whole did
        yield StreamedDocument(Path(source).name if source != "-" else "stdin", "", chain([first], blocks))


def _text_blocks(stream: BinaryIO, where: str, size: int = 1 << 16) -> Iterator[str]:
    """Decoded text of a stream, block by block, with the whole-text checks (binary, UTF-8, empty). The first
    64 KiB are checked before the first block comes out, so a bad or empty source of that size fails before any
    unit; a bad byte further on raises where it is met, after the units before it."""
    head = stream.read(65536)
    if b"\x00" in head:
        raise InputError(f"{where}: binary data, not text")
    # The BOM is dropped here rather than by utf-8-sig, so that error offsets count it: they are file offsets.
    consumed = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    read = getattr(stream, "read1", stream.read)  # what has arrived, so a slow pipe is split as it comes
    raw, at_end = head[consumed:], len(head) < 65536  # read() stops short only at the end
    wordy = False
    while True:
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(raw, final=at_end)
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}: not valid UTF-8 (byte {consumed - pending + exc.start})") from None
        consumed += len(raw)
        wordy = wordy or (bool(text) and not text.isspace())
        if at_end and not wordy:
            raise InputError(f"{where}: empty input")
        if text:
            yield text
        if at_end:
            return
        raw = read(size)
        at_end = not raw


def count_units(sources: list[str], jsonl: bool = False, max_chars: int = 1200, sentences: bool = True
                ) -> int | None:
    """How many records a run over these sources will write (a progress bar's total), by reading and
    splitting them without the model; None when a source is stdin or a pipe (it can be read only once) or
    is bad (the run itself reports that)."""
    if not sources or any(s == "-" or not Path(s).is_file() for s in sources):
        return None
    total = 0
    try:
        for doc in read_documents(sources, jsonl):
            total += 1 if isinstance(doc, BadRecord) else sum(1 for _ in split_units(doc, max_chars, sentences))
    except KgcError:
        return None
    return total


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
_ABBREVIATION = (
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Inc|Ltd|Co|Corp|Gen|Col|Capt|Lt|Sgt|Rep|Sen|Gov|Rev|No|vs|"
    r"etc|e\.g|i\.e|U\.S|a\.m|p\.m|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Ala|Ariz|Ark|Calif|Colo|"
    r"Conn|Fla|Ga|Ill|Ind|Kan|Ky|La|Mass|Md|Mich|Minn|Miss|Mo|Mont|Neb|Nev|Okla|Ore|Pa|Tenn|Tex|Va|Vt|Wash|Wis|"
    r"Wyo))")
_NO_END_AFTER = re.compile(_ABBREVIATION + r"\.$")
_ABBREVIATION_WORD = re.compile(_ABBREVIATION + r"$")
_WORDY = re.compile(r"\w")


def abbreviation_period(text: str, dot: int) -> bool:
    """Whether the '.' at text[dot] closes an initial or a common abbreviation ("U.S.", "Inc.", "Dr."), so that
    it belongs to the word before it rather than ending a sentence (also used by the entity-span grammar)."""
    return text[dot:dot + 1] == "." and bool(_NO_END_AFTER.search(text, max(0, dot - 8), dot + 1))


def abbreviation_ends_at(text: str, end: int) -> bool:
    """Whether the word ending at text[end] is an initial or a common abbreviation whose period a tokenizer may
    have split off ("Mich" in "Lansing , Mich ."): abbreviation_period without the period in place."""
    return bool(_ABBREVIATION_WORD.search(text, max(0, end - 8), end))


def _sentence_ends(text: str, start: int = 0, end: int | None = None) -> Iterator[re.Match]:
    for m in _SENTENCE_END.finditer(text, start, len(text) if end is None else end):
        if "\n" in m.group() or not _NO_END_AFTER.search(text, max(0, m.start() - 8), m.start()):
            yield m


def split_units(doc: Document, max_chars: int = 1200, sentences: bool = True) -> Iterator[Unit]:
    """Sentence-sized units of a document, with their offsets; whitespace-only pieces are skipped.

    With sentences=False the document is only cut where it exceeds max_chars (for input that is already one
    sentence per record). A piece with no letter or digit (a closing quote, a lone ';') joins the unit before it.
    A StreamedDocument is split as its blocks arrive, into the same units as its whole text would be.
    """
    if isinstance(doc, StreamedDocument):
        if sentences:
            yield from _split_streamed(doc, max_chars)
            return
        doc = Document(doc.id, "".join(doc.blocks))  # one piece cut at spaces: needs no sentence ends
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


def _safe_cut(buf: str, start: int) -> int | None:
    """The last place c > start where no sentence end can reach across: buf[c] is not whitespace and the
    whitespace run just before it holds a line break (a sentence end on its own). Text before c splits the
    same whatever follows it."""
    i = len(buf)
    while True:
        i = buf.rfind("\n", start, i)
        if i < 0:
            return None
        c = _SPACES.match(buf, i + 1).end()
        if c < len(buf):
            return c


_SPACES = re.compile(r"\s*")


def _split_streamed(doc: StreamedDocument, max_chars: int) -> Iterator[Unit]:
    """split_units over text that arrives in blocks: sentence ends are searched up to the last safe cut, and
    only the text that a later unit may still need (the sentence in progress, the last span, which a wordless
    piece may join, and a few characters of look-behind) is kept. A single line longer than the memory one
    would like is still held whole until its end."""
    buf, base = "", 0  # buf is text[base:]
    pos = searched = 0  # absolute: the current sentence's start; how far sentence ends have been searched
    held: list[tuple[int, int]] = []  # the last span, not yet final
    chunk = 0

    def spans(start: int, end: int) -> Iterator[Unit]:
        for a, b in _cut(buf, start - base, end - base, max_chars):
            if held and not _WORDY.search(buf, a, b) and b + base - held[0][0] <= max_chars:
                held[0] = (held[0][0], b + base)
                continue
            if held:
                yield unit(*held.pop())
            held.append((a + base, b + base))

    def unit(start: int, stop: int) -> Unit:
        nonlocal chunk
        chunk += 1
        return Unit(doc.id, chunk - 1, start, stop, buf[start - base:stop - base])

    for block in doc.blocks:
        buf += block
        cut = _safe_cut(buf, searched - base)
        if cut is None:
            continue
        for m in _sentence_ends(buf, searched - base, cut):
            yield from spans(pos, base + m.start())
            pos = base + m.end()
        searched = base + cut
        keep = min(pos, held[0][0] if held else pos, searched - 16) - base
        if keep > 0:
            buf, base = buf[keep:], base + keep
    for m in _sentence_ends(buf, searched - base, len(buf)):
        yield from spans(pos, base + m.start())
        pos = base + m.end()
    yield from spans(pos, base + len(buf))
    if held:
        yield unit(*held.pop())


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
