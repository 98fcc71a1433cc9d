"""Reading QA4RE questions: entity pairs from JSONL records, from sentences with <e1>…</e1> <e2>…</e2> markup
(SemEval's own files and `ID<TAB>"sentence"` lines too), or from `kgc-lite extract` output (`qa4re --verify`:
one pair per extracted triplet). Bad lines become BadRecord values, so a run reports them and goes on or stops
as the user chose; the questions themselves are asked in kgc_lite/qa4re/classifier.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterator

import orjson

from kgc_lite.errors import InputError
from kgc_lite.io.inputs import BadRecord, open_source
from kgc_lite.qa4re.questions import Pair, check_pair

_MARKUP = re.compile(r"<e([12])>(.*?)</e\1>", re.S)
_SEMEVAL_LINE = re.compile(r'^\s*(\d+)\s*\t\s*"(.*)"\s*$', re.S)


def parse_markup(marked: str) -> tuple[str, str, str]:
    """(text, e1, e2) from a sentence with <e1>…</e1> and <e2>…</e2> markup; InputError if either is missing."""
    found: dict[str, str] = {}
    out = []
    pos = 0
    for m in _MARKUP.finditer(marked):
        out.append(marked[pos:m.start()])
        out.append(m.group(2))
        pos = m.end()
        if m.group(1) in found:
            raise InputError(f"<e{m.group(1)}> is marked twice")
        found[m.group(1)] = m.group(2)
    out.append(marked[pos:])
    missing = [f"<e{k}>…</e{k}>" for k in "12" if k not in found]
    if missing:
        raise InputError(f"missing {' and '.join(missing)} markup")
    return "".join(out), found["1"], found["2"]


def pair_from_record(record: object, fallback_id: str) -> Pair:
    """A Pair from a JSON record: {"id"?, "text", "head", "tail", "head_type"?, "tail_type"?, "schema"?};
    also SemEval's own keys ("sentence", "e1", "e2", "sentence_marked") and <e1>/<e2> markup in "text"."""
    if not isinstance(record, dict):
        raise InputError(f"{fallback_id}: expected a JSON object")
    rid = record.get("id", fallback_id)
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise InputError(f'{fallback_id}: "id" must be a string or a number')
    rid = str(rid)
    text = record.get("text", record.get("sentence"))
    head = record.get("head", record.get("e1"))
    tail = record.get("tail", record.get("e2"))
    marked = record.get("sentence_marked")
    if marked is None and isinstance(text, str) and head is None and tail is None and "<e1>" in text:
        marked = text
    if head is None and tail is None and isinstance(marked, str):
        try:
            text, head, tail = parse_markup(marked)
        except InputError as exc:
            raise InputError(f"record {rid}: {exc}") from None
    if not isinstance(text, str):
        raise InputError(f'record {rid}: missing "text"')
    for key, value in (("head", head), ("tail", tail)):
        if value is None:
            raise InputError(f'record {rid}: missing "{key}"')
        if not isinstance(value, str):
            raise InputError(f'record {rid}: "{key}" must be a string')
    types = {}
    for key in ("head_type", "tail_type", "schema"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f'record {rid}: "{key}" must be a string')
        types[key] = value or None
    extra = {"gold": record["label"]} if isinstance(record.get("label"), str) else {}
    pair = Pair(rid, text, head, tail, types["head_type"], types["tail_type"], types["schema"], extra)
    check_pair(pair)
    return pair


def pair_from_line(line: str, fallback_id: str) -> Pair:
    """A Pair from a non-JSON line: a sentence with <e1>/<e2> markup, or SemEval's `ID<TAB>"sentence"`."""
    rid = fallback_id
    m = _SEMEVAL_LINE.match(line)
    if m:
        rid, line = m.group(1), m.group(2)
    if "<e1>" not in line and "<e2>" not in line:
        raise InputError(f"{fallback_id}: neither a JSON record nor a sentence with <e1>…</e1> <e2>…</e2> markup")
    try:
        text, head, tail = parse_markup(line.strip())
    except InputError as exc:
        raise InputError(f"record {rid}: {exc}") from None
    pair = Pair(rid, text, head, tail)
    check_pair(pair)
    return pair


def _each_line(sources: list[str], parse: Callable[[str, int, str, str], Iterator[Pair | BadRecord]]
               ) -> Iterator[Pair | BadRecord]:
    """What parse(source name, line number, fallback id, line) makes of every non-empty line, in files or stdin
    ('-'); a line that is not UTF-8 is a BadRecord. Raises KgcError for unreadable sources and empty input."""
    for source in sources or ["-"]:
        with open_source(source) as (stream, where):
            seen = False
            for lineno, raw in enumerate(stream, 1):
                if not raw.strip():
                    continue
                seen = True
                fallback = f"{Path(where).name}:{lineno}"
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    yield BadRecord(fallback, f"{where}:{lineno}: not valid UTF-8 (byte {exc.start})")
                    continue
                yield from parse(where, lineno, fallback, line)
            if not seen:
                raise InputError(f"{where}: empty input")


def read_pairs(sources: list[str]) -> Iterator[Pair | BadRecord]:
    """Pairs from JSONL records or marked-up sentence lines, in files or stdin ('-'); bad lines as BadRecord."""
    return _each_line(sources, _pair_of_line)


def _pair_of_line(where: str, lineno: int, fallback: str, line: str) -> Iterator[Pair | BadRecord]:
    try:
        if line.lstrip().startswith("{"):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise InputError(f"{where}:{lineno}: not valid JSON") from None
            yield pair_from_record(record, fallback)
        else:
            yield pair_from_line(line, fallback)
    except InputError as exc:
        rid = fallback
        if line.lstrip().startswith("{"):
            try:
                rid = str(orjson.loads(line).get("id", fallback))
            except (orjson.JSONDecodeError, AttributeError):
                pass
        yield BadRecord(rid, f"{where}:{lineno}: {exc}" if not str(exc).startswith(where) else str(exc))


def read_extract_output(sources: list[str]) -> Iterator[Pair | BadRecord]:
    """Pairs to verify from `kgc-lite extract` output: one per extracted triplet, in the extracted direction.

    The extracted relation is kept in the pair's extra fields and compared with the QA4RE answer.
    """
    return _each_line(sources, _verify_pairs_of_line)


def _verify_pairs_of_line(where: str, lineno: int, fallback: str, line: str) -> Iterator[Pair | BadRecord]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        yield BadRecord(fallback, f"{where}:{lineno}: not valid JSON")
        return
    if not isinstance(record, dict):
        yield BadRecord(fallback, f"{where}:{lineno}: expected a JSON object")
        return
    rid = str(record.get("id", fallback))
    if "error" in record:
        yield BadRecord(rid, f"{where}:{lineno}: extract reported an error: {record['error']}")
        return
    text, trips = record.get("text"), record.get("triplets")
    if not isinstance(text, str) or not isinstance(trips, list):
        yield BadRecord(rid, f'{where}:{lineno}: not extract output (needs "text" and "triplets")')
        return
    for i, t in enumerate(trips):
        extra = {"chunk": record.get("chunk"), "triplet": i}
        if not isinstance(t, dict) or not all(isinstance(t.get(k), str) for k in ("head", "relation", "tail")):
            yield BadRecord(rid, f"{where}:{lineno}: triplet {i} needs head, relation and tail strings")
            continue
        extra["extracted_relation"] = t["relation"]
        pair = Pair(rid, text, t["head"], t["tail"], t.get("head_type"), t.get("tail_type"), None, extra)
        try:
            check_pair(pair)
        except InputError as exc:
            yield BadRecord(rid, f"{where}:{lineno}: triplet {i}: {exc}")
            continue
        yield pair
