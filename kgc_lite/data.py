"""The benchmark data sets: loading ADE / CoNLL04 / SciERC splits, SemEval-2010 Task 8, the FewRel / Wiki-ZSL
zero-shot splits, and user JSONL; and `detokenize`, which turns their pre-tokenized text into ordinary punctuation.

The data lives outside the repo (../shared/data beside the checkout). `data_dir()` finds it from, in order:
an explicit argument, $KGC_LITE_DATA, then ../shared/data next to the current directory or the source tree.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import orjson

from .errors import KgcError

TRIPLET_SETS = ("ade", "conll04", "scierc")
SPLITS = ("train", "val", "test")
ZERO_RTE_SETS = ("fewrel", "wikizsl")   # Wikidata relations; zero_rte/unseen_{m}_seed_{s}/ splits


class Triplet(NamedTuple):
    head: str
    relation: str
    tail: str
    head_type: str | None = None
    tail_type: str | None = None
    confidence: float | None = None  # the lowest probability of a token the model chose inside the triplet

    @property
    def key(self) -> tuple[str, str, str]:
        """What the strict protocol compares: exact, case-sensitive strings, types ignored."""
        return (self.head, self.relation, self.tail)


@dataclass(frozen=True)
class Example:
    text: str
    triplets: tuple[Triplet, ...]
    id: str | None = None


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
    for c in (Path.cwd() / ".." / "shared" / "data", Path(__file__).resolve().parents[2] / "shared" / "data"):
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


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class PairExample:
    """One SemEval-style relation classification item: a sentence with a marked (head, tail) pair."""
    id: str
    text: str
    head: str
    tail: str
    label: str | None = None


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


# -- ordinary punctuation from pre-tokenized text ---------------------------------------------------------
# Tokens that attach to the word before them ("Redmond ," -> "Redmond,"), to the word after them ("( 1994" ->
# "(1994"), and how some PTB-style tokens are written in ordinary text.
_GLUE_LEFT = {",", ".", ";", ":", "!", "?", "%", ")", "]", "}", "...", "…", "''", "'s", "'S", "'re", "'ve",
              "'ll", "'d", "'m", "'t", "n't", "N'T"}
_GLUE_RIGHT = {"(", "[", "{", "$", "#", "``", "`"}
_WRITTEN = {"``": '"', "''": '"', "`": "'", "-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]"}
_ALNUM_END = re.compile(r"\w$")
_ALNUM_START = re.compile(r"^\w")


def detokenize(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Ordinary punctuation for a space-tokenized sentence, and each token's (start, end) in the result.

    `Redmond , Washington .` -> `Redmond, Washington.`; `( 1994 )` -> `(1994)`; `did n't`, `Ball 's` ->
    `didn't`, `Ball's`; `` `` x '' `` and `` ` x ' `` -> `"x"`, `'x'`; `" x "` -> `"x"` (straight quotes alternate
    open / close); `5-FU - induced` -> `5-FU-induced` and `20 g / g` -> `20 g/g` (a lone hyphen or slash between
    words, as ADE writes its hyphens); `370 , 500` -> `370,500` and `3 : 30` -> `3:30` between digits; a period
    token after a word that already ends in one (`U.S. .`) is dropped. `--` and CoNLL04's `_` dashes stay spaced.
    """
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    toks = [text[a:b] for a, b in spans]
    n = len(toks)
    written = [_WRITTEN.get(t, t) for t in toks]
    left = [False] * n    # no space before token i
    right = [False] * n   # no space after token i
    double_open = single_open = False
    for i, t in enumerate(toks):
        prev = toks[i - 1] if i else ""
        nxt = toks[i + 1] if i + 1 < n else ""
        between_words = bool(_ALNUM_END.search(prev) and _ALNUM_START.match(nxt))
        between_digits = prev.isdigit() and nxt.isdigit()
        if t in _GLUE_LEFT:
            left[i] = True
        if t in _GLUE_RIGHT:
            right[i] = True
        if t == "`":
            single_open = True
        elif t == "''":
            double_open = False
        elif t == "``":
            double_open = True
        elif t == '"':
            (left if double_open else right)[i] = True
            double_open = not double_open
        elif t == "'":
            if single_open or (prev[-1:] in ("s", "S") and _ALNUM_END.search(prev)):
                left[i] = True   # a closing quote, or the possessive of a plural ("Parks ' action")
                single_open = False
            else:
                right[i] = single_open = True
        elif t in ("-", "/") and between_words:
            left[i] = right[i] = True
        elif (t == "," and between_digits and len(nxt) == 3) or (t in (":", ".") and between_digits):
            left[i] = right[i] = True
        if t == "." and i and written[i - 1].endswith("."):
            written[i] = ""  # "the U.S. ." ends with one period in ordinary text
    out: list[str] = []
    offsets: list[tuple[int, int]] = []
    pos = 0
    for i, w in enumerate(written):
        if i and not (left[i] or right[i - 1]) and w:
            out.append(" ")
            pos += 1
        out.append(w)
        offsets.append((pos, pos + len(w)))
        pos += len(w)
    return "".join(out), offsets


def _token_aligned(text: str, mention: str) -> int:
    """Offset of the first occurrence of mention in text that starts and ends at token boundaries, or -1."""
    start = text.find(mention)
    while start >= 0:
        end = start + len(mention)
        if (start == 0 or text[start - 1] == " ") and (end == len(text) or text[end] == " "):
            return start
        start = text.find(mention, start + 1)
    return -1


def trim_sentence_period(mention: str) -> str:
    """The mention without a sentence period it swallowed ("Texas." -> "Texas"); a period that closes an
    initial or an abbreviation stays ("U.S.", "Apple Inc.")."""
    from .inputs import abbreviation_period
    while mention.endswith(".") and not abbreviation_period(mention, len(mention) - 1):
        mention = mention[:-1].rstrip()
    return mention


def detokenize_example(ex: Example, trim: bool = True) -> tuple[Example, int, int]:
    """The example in ordinary punctuation, each head and tail rewritten as the same tokens of the new text
    (so each stays an exact substring of it); how many triplets had to be dropped because a head or tail could
    not be found in the new text; and how many heads and tails lost a swallowed sentence period.

    trim: entity edges as ordinary text has them. Some gold mentions end with the sentence's period, where the
    original tokenizer left it on the last word (CoNLL04's "Texas." in "... in Austin , Texas."); in ordinary
    punctuation that period is not part of the name, so it is cut (trim_sentence_period). The converse: where the
    tokenizer split the period off an abbreviation that ended the sentence ("born in Concord , Mass ." with the
    gold "Concord , Mass"), ordinary text writes "Concord, Mass." and the period is the abbreviation's, so the
    mention gets it back ("Concord, Mass."), as "Apple Inc." keeps its own. Both count as trimmed."""
    from .inputs import abbreviation_period

    new_text, offsets = detokenize(ex.text)
    token_starts = {a: k for k, (a, _) in enumerate(m.span() for m in re.finditer(r"\S+", ex.text))}

    def mapped(mention: str) -> tuple[str, str] | None:
        """The mention in the new text, and the same with an abbreviation's split-off period given back."""
        at = _token_aligned(ex.text, mention)
        if at >= 0 and at in token_starts:
            first = token_starts[at]
            last = first + len(mention.split()) - 1
            if last < len(offsets):
                a, b = offsets[first][0], offsets[last][1]
                if not new_text[a:b]:
                    return None
                regained = (last + 1 < len(offsets) and offsets[last + 1] == (b, b + 1) and mention[-1:].isalnum()
                            and abbreviation_period(new_text, b))
                return new_text[a:b], new_text[a:b + regained]
        alone = detokenize(mention)[0]  # a mention inside a token: its own ordinary form, if the text has it
        return (alone, alone) if alone and alone in new_text else None

    kept, dropped, trimmed = [], 0, 0
    for t in ex.triplets:
        found_head, found_tail = mapped(t.head), mapped(t.tail)
        if found_head is None or found_tail is None:
            dropped += 1
            continue
        (head, full_head), (tail, full_tail) = found_head, found_tail
        if trim:
            short_head, short_tail = trim_sentence_period(full_head), trim_sentence_period(full_tail)
            if short_head and short_tail:
                trimmed += (short_head != head) + (short_tail != tail)
                head, tail = short_head, short_tail
        kept.append(t._replace(head=head, tail=tail))
    return Example(new_text, tuple(kept), ex.id), dropped, trimmed


def detokenize_examples(examples: list[Example], trim: bool = True) -> tuple[list[Example], dict]:
    """detokenize_example over a list: the new examples and {"dropped_triplets": n, "trimmed_mentions": m}."""
    out, dropped, trimmed = [], 0, 0
    for ex in examples:
        new, lost, cut = detokenize_example(ex, trim)
        out.append(new)
        dropped += lost
        trimmed += cut
    return out, {"dropped_triplets": dropped, "trimmed_mentions": trimmed}


# -- FewRel / Wiki-ZSL zero-shot splits -------------------------------------------------------------------
def relation_identifier(name: str) -> str:
    """A Wikidata relation name as a schema relation name: "position played on team / speciality" ->
    "position_played_on_team_speciality" (schema names are letters, digits, '_' and '-')."""
    ident = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
    if not ident or not ident[0].isalpha():
        ident = "r_" + ident
    return ident


@dataclass(frozen=True)
class WikidataRelation:
    id: str            # Wikidata property id, e.g. P19
    name: str          # as the data names it: "place of birth"
    description: str   # Wikidata's description

    @property
    def identifier(self) -> str:
        return relation_identifier(self.name)


def _zero_rte_root(dataset: str, root: str | Path | None) -> Path:
    if dataset not in ZERO_RTE_SETS:
        raise KgcError(f"unknown zero-shot data set {dataset!r}; choose one of {', '.join(ZERO_RTE_SETS)}")
    return data_dir(root) / dataset


def load_relations(dataset: str, root: str | Path | None = None) -> list[WikidataRelation]:
    """Every relation of FewRel or Wiki-ZSL (relations.json) with its Wikidata id and description."""
    path = _zero_rte_root(dataset, root) / "relations.json"
    try:
        records = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise KgcError(f"cannot read {path}: {exc.strerror}") from None
    return [WikidataRelation(r["id"], r["name"], r["description"]) for r in records]


def zero_rte_splits(dataset: str, root: str | Path | None = None) -> list[str]:
    """The zero-shot split names present for a data set, e.g. unseen_5_seed_0."""
    folder = _zero_rte_root(dataset, root) / "zero_rte"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def zero_rte_labels(dataset: str, split: str, root: str | Path | None = None) -> dict[str, list[str]]:
    """labels.json of a zero-shot split: {"test": [relation names], "dev": [...]} (the held-out relations)."""
    path = _zero_rte_root(dataset, root) / "zero_rte" / split / "labels.json"
    if not path.is_file():
        known = ", ".join(zero_rte_splits(dataset, root)) or "none"
        raise KgcError(f"no zero-shot split {split!r} for {dataset} (known: {known})")
    return orjson.loads(path.read_bytes())


def held_out_relations(dataset: str, split: str, root: str | Path | None = None,
                       roles: tuple[str, ...] = ("test", "dev")) -> list[WikidataRelation]:
    """The relations a zero-shot split holds out (its test and dev labels), resolved to Wikidata ids through
    both data sets' relations.json (FewRel and Wiki-ZSL share ids)."""
    labels = zero_rte_labels(dataset, split, root)
    by_name: dict[str, WikidataRelation] = {}
    for other in (dataset, *[d for d in ZERO_RTE_SETS if d != dataset]):
        for r in load_relations(other, root):
            by_name.setdefault(r.name, r)
    out = []
    for role in roles:
        for name in labels.get(role, []):
            if name not in by_name:
                raise KgcError(f"{dataset}/{split}: held-out relation {name!r} is in no relations.json")
            out.append(by_name[name])
    return out


def load_wikidata_triplets(path: Path) -> list[tuple[Example, tuple[str, ...]]]:
    """Sentences of a FewRel / Wiki-ZSL file (CodeKGC format, each rel with its Wikidata "id"), relation names
    written as schema identifiers; with each sentence, the Wikidata ids of its triplets."""
    try:
        records = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise KgcError(f"cannot read {path}: {exc.strerror}") from None
    out = []
    for i, r in enumerate(records):
        try:
            trips = tuple(Triplet(t["head"]["text"], relation_identifier(t["rel"]["text"]), t["tail"]["text"])
                          for t in r["triple_list"])
            ids = tuple(t["rel"].get("id", "") for t in r["triple_list"])
        except (KeyError, TypeError):
            raise KgcError(f"{path}: record {i} is not in the CodeKGC format") from None
        out.append((Example(r["text"], trips, str(i)), ids))
    return out


def zero_rte_path(dataset: str, split: str, root: str | Path | None = None) -> Path:
    """Where a zero-shot split's test set is (zero_rte/<split>/test.json), whether or not it exists."""
    return _zero_rte_root(dataset, root) / "zero_rte" / split / "test.json"


def load_zero_rte(dataset: str, split: str, root: str | Path | None = None
                  ) -> tuple[list[Example], list[WikidataRelation], Path]:
    """A zero-shot test set (zero_rte/<split>/test.json), the test relations its schema is built from (names
    and descriptions from relations.json, in labels.json's order), and the file's path."""
    path = zero_rte_path(dataset, split, root)
    zero_rte_labels(dataset, split, root)  # a split that does not exist fails here, with its own message
    if not path.is_file():
        raise KgcError(f"{dataset}/{split} has no test.json (its test set could not be recovered; see the data "
                       "README)")
    relations = held_out_relations(dataset, split, root, roles=("test",))
    if not relations:
        raise KgcError(f"{dataset}/{split}: labels.json lists no test relations")
    examples = [ex for ex, _ in load_wikidata_triplets(path)]
    return examples, relations, path
