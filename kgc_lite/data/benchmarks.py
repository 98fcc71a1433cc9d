"""The benchmark data sets: loading ADE / CoNLL04 / SciERC splits, SemEval-2010 Task 8 and user gold JSONL. The
FewRel / Wiki-ZSL zero-shot splits are kgc_lite/data/zero_rte.py; ordinary punctuation is kgc_lite/data/detok.py.

The data lives outside the repo (../shared/data beside the checkout). `data_dir()` finds it from, in order:
an explicit argument, $KGC_LITE_DATA, then ../shared/data next to the current directory or the source tree.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import orjson

from kgc_lite.errors import KgcError
from kgc_lite.types import Example, PairExample, Triplet

TRIPLET_SETS = ("ade", "conll04", "scierc")


SPLITS = ("train", "val", "test")


def data_dir(explicit: str | Path | None = None) -> Path:
    """The benchmark data folder (it holds kgc/). A folder named on purpose (the argument, else $KGC_LITE_DATA) that
    is not one is an error rather than a silent fall-back to ../shared/data: a score must come from the data asked
    for."""
    env = os.environ.get("KGC_LITE_DATA")
    for given, how in ((explicit, "--data-dir or KGC_LITE_DATA"), (env, "KGC_LITE_DATA")):
        if given:
            if (Path(given) / "kgc").is_dir():
                return Path(given).resolve()
            raise KgcError(f"{given}: not the benchmark data folder (no kgc/ in it; given by {how})")
    for c in (Path.cwd() / ".." / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"):
        if (c / "kgc").is_dir():
            return c.resolve()
    raise KgcError("benchmark data not found: pass --data-dir or set KGC_LITE_DATA to the folder holding kgc/")


def split_path(dataset: str, split: str, root: str | Path | None = None) -> Path:
    if dataset not in TRIPLET_SETS:
        raise KgcError(f"unknown data set {dataset!r}; choose one of {', '.join(TRIPLET_SETS)}")
    if split not in SPLITS:
        raise KgcError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return data_dir(root) / "kgc" / dataset / f"{split}.json"


def load_split(dataset: str, split: str, root: str | Path | None = None) -> list[Example]:
    """One split of ADE, CoNLL04 or SciERC, ids being the sentence's index in the file."""
    return load_gold(split_path(dataset, split, root))


def load_gold(path: str | Path) -> list[Example]:
    """Gold sentences from the CodeKGC JSON list format, or from JSONL of {"text", "triplets"[, "id"]}.

    In JSONL, each triplet is [head, relation, tail] or {"head", "relation", "tail"}. Ids default to the
    0-based position in the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KgcError(f"cannot read gold file {path}: {exc.strerror}") from None
    if raw.lstrip()[:1] == b"[":
        try:
            records = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise KgcError(f"gold file {path} is not valid JSON: {exc}") from None
        return [_codekgc_example(r, i, path) for i, r in enumerate(records)]
    out = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise KgcError(f"{path}:{lineno}: not a JSON object") from None
        out.append(_jsonl_example(r, len(out), f"{path}:{lineno}"))
    return out


def _codekgc_example(r: object, i: int, path: Path) -> Example:
    try:
        trips = tuple(Triplet(t["head"]["text"], t["rel"]["text"], t["tail"]["text"],
                              t["head"].get("type"), t["tail"].get("type")) for t in r["triple_list"])
        return Example(r["text"], trips, str(i))
    except (KeyError, TypeError):
        raise KgcError(f"{path}: record {i} is not in the CodeKGC format "
                       '({"text", "triple_list": [{"head": {"text"}, "rel": {"text"}, "tail": {"text"}}]})') from None


def _jsonl_example(r: object, i: int, where: str) -> Example:
    if not isinstance(r, dict) or not isinstance(r.get("text"), str) or not isinstance(r.get("triplets"), list):
        raise KgcError(f'{where}: expected {{"text": str, "triplets": [...]}}')
    trips = []
    for t in r["triplets"]:
        if isinstance(t, list) and len(t) == 3 and all(isinstance(x, str) for x in t):
            trips.append(Triplet(*t))
        elif isinstance(t, dict) and all(isinstance(t.get(k), str) for k in ("head", "relation", "tail")):
            trips.append(Triplet(t["head"], t["relation"], t["tail"], t.get("head_type"), t.get("tail_type")))
        else:
            raise KgcError(f"{where}: a triplet must be [head, relation, tail] or an object with those keys")
    return Example(r["text"], tuple(trips), str(r.get("id", i)))


def seeded_sample(items: list, n: int | None, seed: int) -> list:
    """A seeded random `n` of `items`, kept in their order; all of them when n is None or not smaller."""
    if n is None or n >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]


def semeval_path(split: str, root: str | Path | None = None) -> Path:
    """Where a SemEval-2010 Task 8 split is (semeval2010/<split>.jsonl), whether or not it exists."""
    return data_dir(root) / "semeval2010" / f"{split}.jsonl"


def load_semeval(split: str, root: str | Path | None = None) -> list[PairExample]:
    """SemEval-2010 Task 8; head is e1, tail is e2, label as published (e.g. 'Cause-Effect(e2,e1)')."""
    path = semeval_path(split, root)
    if not path.exists():
        raise KgcError(f"SemEval split {split!r} not found at {path}")
    out = []
    for line in path.read_bytes().splitlines():
        r = orjson.loads(line)
        out.append(PairExample(str(r["id"]), r["sentence"], r["e1"], r["e2"], r["label"]))
    return out
