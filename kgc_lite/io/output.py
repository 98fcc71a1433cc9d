"""Writing results to a file that survives crashes: `kgc-lite extract -o out.jsonl [--resume]`.

The output file holds only plain records (the same lines `extract` prints), so `jq`, `kgc-lite eval
--predictions` and output.schema.json apply to it unchanged. What made it is kept beside it, in
`out.jsonl.meta.json`: a fingerprint of the model file, the schema's content, every option that changes the
records and the input files. A fingerprint line inside the JSONL would make the file something other than
records; a sidecar keeps it clean.

Crash safety: each record is one write() of one complete line to a file opened for appending, then fsync'ed,
so a kill at any point loses at most the line being written. On --resume that torn last line is kept if it
is complete JSON that only lacks its newline, and cut otherwise; the (id, chunk) pairs already written are then
skipped before any model work. Records come in input order, so an id that occurs twice (two JSONL records with
the same id) is handled by counting: the first n occurrences of a key are the n already written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator

import orjson

from kgc_lite.errors import KgcError

META_SUFFIX = ".meta.json"
# A --ray run writes records as they come, in any order, to out.jsonl.ray-work ({"order": [file, n], "record":
# {...}} per line) and, once every unit is done, merges them in input order into out.jsonl through out.jsonl.tmp.
WORK_SUFFIX = ".ray-work"
FORMAT = 1


def meta_path(output: str | os.PathLike) -> Path:
    return Path(str(output) + META_SUFFIX)


def work_path(output: str | os.PathLike) -> Path:
    return Path(str(output) + WORK_SUFFIX)


def merge_tmp_path(output: str | os.PathLike) -> Path:
    return Path(str(output) + ".tmp")


def record_key(record: dict) -> tuple[str, int | None]:
    """What identifies an output record: (document id, unit number); error records have no unit number."""
    return str(record.get("id")), record.get("chunk")


def item_key(item) -> tuple[str, int | None]:
    """The key of the record that an input item (inputs.Unit or inputs.BadRecord) will produce."""
    chunk = getattr(item, "chunk", None)
    return (item.doc_id, chunk) if chunk is not None else (str(item.id), None)


# -- fingerprint -----------------------------------------------------------------------------------------
def schema_sha256(schema) -> str:
    """A hash of the schema's content (relations, descriptions, types, examples): what the prompt and the
    grammar are built from. A renamed copy of the same schema hashes the same."""
    content = dataclasses.asdict(schema)
    content.pop("name", None)
    # Triplets are named tuples, which orjson leaves to `default`: as lists they hash by content.
    raw = orjson.dumps(content, option=orjson.OPT_SORT_KEYS,
                       default=lambda o: list(o) if isinstance(o, tuple) else str(o))
    return hashlib.sha256(raw).hexdigest()


def input_fingerprint(sources: Iterable[str]) -> list[dict]:
    """Each input by name (a text file's records carry only its name) and, for regular files, by content, so
    resuming over an edited file is refused but resuming from another folder is not. stdin cannot be hashed
    before it is read: a resumed stdin run trusts the caller to send the same stream."""
    from kgc_lite.io.files import file_sha256
    out = []
    for source in sources:
        entry: dict = {"source": source if source == "-" or "://" in source else Path(source).name}
        if source != "-" and Path(source).is_file():
            entry["sha256"] = file_sha256(source)
        out.append(entry)
    return out


# Extraction options added after --resume fingerprints were first written, with their defaults.
LATER_OPTIONS = {"stop_margin": 0.0}


def fingerprint(*, model_sha256: str | None, model_name: str, schema, options, max_chars: int, split: bool,
                jsonl: bool, batch: int, gpu: bool, sources: Iterable[str]) -> dict:
    """Everything that decides the records' content. Threads are left out: llama.cpp's CPU results do not
    depend on the thread count. The batch size and GPU offload are in: batched or GPU matrix products round
    differently, which can flip a near-tie in greedy decoding."""
    opts = dataclasses.asdict(options)
    for key, default in LATER_OPTIONS.items():  # left out at their default, so older runs still --resume
        if opts.get(key) == default:
            del opts[key]
    return {"model_sha256": model_sha256, "model": model_name, "schema_sha256": schema_sha256(schema),
            "schema": schema.name, **{k: opts[k] for k in sorted(opts)}, "max_chars": max_chars, "split": split,
            "jsonl": jsonl, "batch": batch, "gpu": gpu, "inputs": input_fingerprint(sources)}


def _short(value) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 40 else text[:37] + "..."


def fingerprint_diff(old: dict, new: dict) -> list[str]:
    """'key (was X, now Y)' for each key whose value differs."""
    return [f"{k} (was {_short(old.get(k))}, now {_short(new.get(k))})"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


# -- reading back and repairing -------------------------------------------------------------------------
def repair_tail(path: str | os.PathLike) -> str | None:
    """Make the file end at a complete line: a last line that lacks only its newline (valid JSON) gets one,
    a torn one is cut. Returns what was done ('completed', 'cut') or None if the file was already whole."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return None
    with open(path, "r+b") as f:
        # Read backwards in blocks until the last newline: a record can be far longer than one block.
        block, pos, tail = 1 << 16, size, b""
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            if pos == size and chunk.endswith(b"\n"):
                return None
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                tail = chunk[cut + 1:] + tail
                break
            tail = chunk + tail
            pos = start
        try:
            complete = isinstance(orjson.loads(tail), dict)
        except orjson.JSONDecodeError:
            complete = False
        if complete:
            f.seek(size)
            f.write(b"\n")
        else:
            f.truncate(size - len(tail))
        f.flush()
        os.fsync(f.fileno())
    return "completed" if complete else "cut"


def read_lines(path: str | os.PathLike, work: bool = False) -> Iterator[tuple[int, dict]]:
    """(byte offset, record) for each line of a (repaired) output or --ray work file (work lines are
    {"order": [file, n], "record": {...}}, given whole). A line that is not a record is an error: append-only
    writing can only tear the last line, which repair_tail has dealt with."""
    offset = 0
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                item = None
            record = item.get("record") if work and isinstance(item, dict) else item
            if not isinstance(record, dict) or "id" not in record:
                raise KgcError(f"{path}:{lineno}: not an output record; the file was edited or is not kgc-lite "
                               "output, so it cannot be resumed")
            yield offset, item
            offset += len(line)


def read_keys(path: str | os.PathLike, work: bool = False) -> Counter:
    """How many times each record key occurs in a (repaired) output file."""
    return Counter(record_key(item["record"] if work else item) for _, item in read_lines(path, work))


class Skipper:
    """A predicate for Extractor.records(skip=...): true for the items whose records are already written."""

    def __init__(self, done: Counter):
        self.left = Counter(done)
        self.skipped = 0

    def __call__(self, item) -> bool:
        key = item_key(item)
        if self.left[key] > 0:
            self.left[key] -= 1
            self.skipped += 1
            return True
        return False


# -- opening an output -------------------------------------------------------------------------------------
def finish_merge(output: str | os.PathLike) -> None:
    """Complete or undo a --ray merge that a crash interrupted. The merge writes out.jsonl.tmp in full, then
    removes the work file, then renames the tmp over out.jsonl: a tmp beside a work file is unfinished (drop
    it, the work file still has every record), a tmp alone is complete (rename it)."""
    tmp = merge_tmp_path(output)
    if tmp.exists():
        if work_path(output).exists():
            tmp.unlink()
        else:
            os.replace(tmp, output)
            fsync_dir(Path(output).resolve().parent)


def prepare(output: str | os.PathLike, fp: dict, resume: bool, note: Callable[[str], None] | None = None,
            ray: bool = False) -> Counter:
    """Check (or write) the output's fingerprint, repair its tail, and return the keys already written.

    Without resume an existing non-empty output is refused, so a finished or half-finished run is never
    overwritten or silently mixed with another; with resume a fingerprint that differs is refused with the
    keys that differ. A --ray run's unmerged work file can only be resumed by a --ray run.
    """
    out, meta, work = Path(output), meta_path(output), work_path(output)
    if out.is_dir():
        raise KgcError(f"{out}: is a directory")
    try:  # as eval -o and export -o do
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KgcError(f"{out}: cannot make its folder ({exc.strerror})") from None
    finish_merge(out)
    if work.exists() and not ray:
        raise KgcError(f"{work} holds the records of an unfinished --ray run; resume it with --ray-address, or "
                       f"remove {out} and {work} to start over")
    has_records = any(p.exists() and p.stat().st_size > 0 for p in (out, work))
    if has_records and not resume:
        raise KgcError(f"{out} exists and is not empty; pass --resume to continue it, or remove it to start over")
    if has_records and not meta.exists():
        raise KgcError(f"{out} has records but no {meta.name}, so what made them is unknown; remove {out} to "
                       "start over")
    if has_records:
        try:
            old = orjson.loads(meta.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            raise KgcError(f"{meta}: unreadable; remove it and {out} to start over") from None
        if not isinstance(old, dict) or not isinstance(old.get("fingerprint"), dict):
            raise KgcError(f"{meta}: not a kgc-lite output fingerprint; remove it and {out} to start over")
        diff = fingerprint_diff(old["fingerprint"], fp)
        if diff:
            raise KgcError(f"cannot resume {out}: this run differs from the one that made it in "
                           f"{'; '.join(diff)}; use the same model, schema, options and inputs, or remove "
                           f"{out} to start over")
    else:  # nothing written yet: whatever an old fingerprint said, this run starts afresh
        try:
            write_atomic(meta, orjson.dumps({"kgc_lite_output": FORMAT, "fingerprint": fp},
                                             option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        except OSError as exc:
            raise KgcError(f"{meta}: cannot write ({exc.strerror})") from None
    keys: Counter = Counter()
    for path, is_work in ((out, False), (work, True)):
        if path.exists():
            fixed = repair_tail(path)
            if fixed and note:
                note(f"{path}: the last line was torn by an interrupted run; {fixed} it")
            keys += read_keys(path, is_work)
    return keys


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    # The rename (and a new file's directory entry) is durable only once its directory is synced.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class JsonlSink:
    """Append-only JSONL output: one write() per complete line, flushed to disk before the next record."""

    def __init__(self, path: str | os.PathLike, sync: bool = True):
        self.path = Path(path)
        created = not self.path.exists()
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise KgcError(f"cannot write {self.path}: {exc.strerror}") from None
        self.sync = sync
        if created:
            fsync_dir(self.path.parent.resolve())

    def write(self, record: dict) -> None:
        self.write_line(orjson.dumps(record) + b"\n")

    def write_line(self, line: bytes) -> None:
        view = memoryview(line)
        while view:  # a regular file takes it in one call; the loop only guards against a short write
            view = view[os.write(self.fd, view):]
        if self.sync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_records(records: Iterator[dict], sink: JsonlSink, tick: Callable[[], None] | None = None) -> int:
    """Write every record to the sink; returns how many were errors."""
    errors = 0
    for record in records:
        sink.write(record)
        errors += "error" in record
        if tick:
            tick()
    return errors
