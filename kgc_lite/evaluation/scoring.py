"""Scoring triplets against gold, the way the papers do (results files: kgc_lite/evaluation/results.py).

Protocol (../shared/data/README.md; CodeKGC and Gajo & Barrón-Cedeño 2025): strict micro precision / recall / F1
over exact, case-sensitive (head, relation, tail) strings; predicted and gold triplets de-duplicated per sentence;
TP / FP / FN summed over the split; entity types ignored.

Beside the totals: the same counts per relation (a false positive counts for its predicted relation, a false
negative for its gold relation), and an error breakdown after the paper's error analysis. Each false positive
gets the first label that fits, in this order:

- hallucinated: its head or tail does not occur in the sentence;
- wrong_direction: the gold has the same two strings swapped (any relation);
- wrong_relation: the gold has the same head and tail with another relation;
- boundary: the gold has a triplet of the same relation whose head and tail spans each equal or overlap the
  predicted ones in the sentence, not both equal (a span too long, too short or shifted);
- spurious: anything else (a relation the gold does not state between entities it may or may not mention).

A false negative (gold triplet not predicted exactly) counts as `missed` when no false positive of that
sentence was labelled wrong_direction, wrong_relation or boundary against it; the rest were "almost found"
and are already counted under those labels.

Everything here is pure Python with no model: scoring is separable from extraction.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import orjson

from kgc_lite.errors import KgcError
from kgc_lite.types import Example, Triplet

Key = tuple[str, str, str]


ERROR_KINDS = ("hallucinated", "wrong_direction", "wrong_relation", "boundary", "spurious", "missed")


# -- counting ---------------------------------------------------------------------------------------------
@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: "Counts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def as_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, **prf(self.tp, self.fp, self.fn)}


def prf(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall and F1 as fractions; 0.0 where undefined (no predictions, no gold)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def _spans(text: str, mention: str) -> list[tuple[int, int]]:
    if not mention:
        return []
    out, start = [], text.find(mention)
    while start >= 0:
        out.append((start, start + len(mention)))
        start = text.find(mention, start + 1)
    return out


def _overlap(text: str, a: str, b: str) -> bool:
    """True when some occurrence of a and some occurrence of b in text share a character."""
    if a == b:
        return True
    return any(s1 < e2 and s2 < e1 for s1, e1 in _spans(text, a) for s2, e2 in _spans(text, b))


def classify(text: str, gold: set[Key], pred: set[Key]) -> dict[str, int]:
    """Error counts for one sentence (see the module docstring for the labels)."""
    errors = dict.fromkeys(ERROR_KINDS, 0)
    explained: set[Key] = set()
    for h, r, t in sorted(pred - gold):
        if h not in text or t not in text:
            errors["hallucinated"] += 1
            continue
        swapped = [g for g in gold if g[0] == t and g[2] == h]
        if swapped:
            errors["wrong_direction"] += 1
            explained.update(swapped)
            continue
        other_rel = [g for g in gold if g[0] == h and g[2] == t and g[1] != r]
        if other_rel:
            errors["wrong_relation"] += 1
            explained.update(other_rel)
            continue
        near = [g for g in gold if g[1] == r and _overlap(text, g[0], h) and _overlap(text, g[2], t)]
        if near:
            errors["boundary"] += 1
            explained.update(near)
            continue
        errors["spurious"] += 1
    errors["missed"] = len((gold - pred) - explained)
    return errors


@dataclass
class Score:
    """Micro counts over a split, per relation, and the error breakdown."""
    total: Counts = field(default_factory=Counts)
    per_relation: dict[str, Counts] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    sentences: int = 0
    gold_triplets: int = 0
    predicted_triplets: int = 0

    def add_sentence(self, text: str, gold: Iterable[Key], pred: Iterable[Key]) -> None:
        g, p = set(gold), set(pred)  # de-duplicated per sentence
        self.sentences += 1
        self.gold_triplets += len(g)
        self.predicted_triplets += len(p)
        self.total.add(Counts(len(g & p), len(p - g), len(g - p)))
        for key, kind in [(k, "tp") for k in g & p] + [(k, "fp") for k in p - g] + [(k, "fn") for k in g - p]:
            c = self.per_relation.setdefault(key[1], Counts())
            setattr(c, kind, getattr(c, kind) + 1)
        for kind, n in classify(text, g, p).items():
            self.errors[kind] += n

    def as_dict(self) -> dict:
        return {**self.total.as_dict(), "sentences": self.sentences, "gold_triplets": self.gold_triplets,
                "predicted_triplets": self.predicted_triplets,
                "per_relation": {r: c.as_dict() for r, c in sorted(self.per_relation.items())},
                "errors": dict(self.errors)}


def zero_rte_metrics(gold: list[Example], predictions: Mapping[str, list[Key | Triplet]]) -> dict:
    """The metrics published on the zero-shot FewRel / Wiki-ZSL splits (RelationPrompt, ZETT), next to the
    strict micro scores: on sentences with one gold triplet, single-triplet accuracy (the first triplet the
    model writes, i.e. its one triplet, equals the gold one; a sentence with no prediction is wrong) and the
    stricter exact-set accuracy (it writes that triplet and nothing else); on sentences with more than one gold
    triplet, strict micro P/R/F1. Predictions must keep the model's order (lists, not sets)."""
    single = correct_first = correct_set = n_multi = 0
    multi = Counts()
    for ex in gold:
        g = {t.key for t in ex.triplets}
        pred = [tuple(t[:3]) for t in predictions.get(ex.id, ())]
        if len(g) == 1:
            single += 1
            correct_first += bool(pred) and pred[0] in g
            correct_set += set(pred) == g
        elif len(g) > 1:
            n_multi += 1
            p = set(pred)
            multi.add(Counts(len(g & p), len(p - g), len(g - p)))
    return {"single_triplet_sentences": single,
            "single_triplet_accuracy": correct_first / single if single else 0.0,
            "single_triplet_exact_set_accuracy": correct_set / single if single else 0.0,
            "multi_triplet_sentences": n_multi,
            "multi_triplet": multi.as_dict()}


def score(gold: list[Example], predictions: Mapping[str, Iterable[Key | Triplet]]) -> Score:
    """Score predictions (gold id -> triplets; a missing id predicts nothing) against the gold sentences."""
    s = Score()
    for ex in gold:
        pred = [tuple(t[:3]) for t in predictions.get(ex.id, ())]
        s.add_sentence(ex.text, (t.key for t in ex.triplets), pred)
    return s


# -- predictions files ------------------------------------------------------------------------------------
@dataclass
class Predictions:
    triplets: dict[str, set[Key]]  # id -> the union of its units' triplets
    errors: dict[str, str]         # id -> the error record's message (counted as predicting nothing)
    records: int = 0


def _triplet_key(t: object) -> Key | None:
    if isinstance(t, list) and len(t) == 3 and all(isinstance(x, str) for x in t):
        return (t[0], t[1], t[2])
    if isinstance(t, dict) and all(isinstance(t.get(k), str) for k in ("head", "relation", "tail")):
        return (t["head"], t["relation"], t["tail"])
    return None


def read_predictions(path: str | Path, gold_ids: Iterable[str] | None = None,
                     min_confidence: float = 0.0) -> Predictions:
    """Predictions JSONL: `kgc-lite extract` output records ({"id", "triplets": [{"head", "relation", "tail"}]},
    several units of one id are united; {"id", "error"} lines predict nothing), or {"id", "triplets":
    [[head, relation, tail], ...]}. Every problem names the file and line. With min_confidence, triplets whose
    "confidence" is below it are left out (as `extract --min-confidence` would have)."""
    path = Path(path)
    known = set(gold_ids) if gold_ids is not None else None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KgcError(f"cannot read predictions file {path}: {exc.strerror}") from None
    out = Predictions({}, {})
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise KgcError(f"{where}: not valid JSON") from None
        if not isinstance(record, dict) or "id" not in record:
            raise KgcError(f'{where}: expected an object with an "id" (a `kgc-lite extract` output record)')
        rid = record["id"]
        if not isinstance(rid, (str, int)) or isinstance(rid, bool):
            raise KgcError(f'{where}: "id" must be a string or a number')
        rid = str(rid)
        if known is not None and rid not in known:
            raise KgcError(f"{where}: id {rid!r} matches no gold sentence (gold ids are "
                           f"{_id_hint(known)})")
        out.records += 1
        if "error" in record and "triplets" not in record:
            out.errors[rid] = str(record["error"])
            out.triplets.setdefault(rid, set())
            continue
        trips = record.get("triplets")
        if not isinstance(trips, list):
            raise KgcError(f'{where}: "triplets" must be a list')
        keys = out.triplets.setdefault(rid, set())
        for i, t in enumerate(trips, 1):
            key = _triplet_key(t)
            if key is None:
                raise KgcError(f"{where}: triplet {i} must be [head, relation, tail] or an object with string "
                               '"head", "relation" and "tail"')
            if min_confidence > 0:
                confidence = t.get("confidence") if isinstance(t, dict) else None
                if not isinstance(confidence, (int, float)):
                    raise KgcError(f"{where}: triplet {i} has no confidence to apply --min-confidence to")
                if confidence < min_confidence:
                    continue
            keys.add(key)
    if not out.records:
        raise KgcError(f"{path}: no prediction records")
    return out


def _id_hint(ids: set[str]) -> str:
    sample = sorted(ids, key=lambda x: (len(x), x))
    if all(x.isdigit() for x in ids) and ids:
        nums = sorted(int(x) for x in ids)
        return f"{nums[0]}..{nums[-1]}, the sentence index in the gold file"
    return ", ".join(repr(x) for x in sample[:3]) + (", ..." if len(sample) > 3 else "")


# -- several runs -----------------------------------------------------------------------------------------
def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values) if values else 0.0,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values, default=0.0), "max": max(values, default=0.0), "n": len(values)}


def aggregate(runs: list[dict]) -> dict:
    """The summary of several runs' metrics: mean precision / recall / F1 (as the paper reports), their spread,
    and per relation and error counts averaged over runs."""
    if len(runs) == 1:
        m = dict(runs[0])
        m["f1_spread"] = spread([m["f1"]])
        return m
    out: dict = {k: statistics.fmean(r[k] for r in runs) for k in ("precision", "recall", "f1")}
    out["f1_spread"] = spread([r["f1"] for r in runs])
    out["precision_spread"] = spread([r["precision"] for r in runs])
    out["recall_spread"] = spread([r["recall"] for r in runs])
    for k in ("tp", "fp", "fn", "predicted_triplets"):
        out[k] = statistics.fmean(r[k] for r in runs)
    out["sentences"], out["gold_triplets"] = runs[0]["sentences"], runs[0]["gold_triplets"]
    rels = sorted({rel for r in runs for rel in r["per_relation"]})
    out["per_relation"] = {}
    for rel in rels:
        f1s = [r["per_relation"].get(rel, {}).get("f1", 0.0) for r in runs]
        counts = {k: statistics.fmean(r["per_relation"].get(rel, {}).get(k, 0) for r in runs)
                  for k in ("tp", "fp", "fn", "precision", "recall")}
        out["per_relation"][rel] = {**counts, "f1": statistics.fmean(f1s), "f1_spread": spread(f1s)}
    out["errors"] = {k: statistics.fmean(r["errors"][k] for r in runs) for k in ERROR_KINDS}
    return out


# -- human table ------------------------------------------------------------------------------------------
def summary_table(metrics: dict, title: str = "") -> str:
    """A short plain-text table: totals, per relation, errors (percentages like the papers)."""
    def pct(x: float) -> str:
        return f"{100 * x:5.1f}"

    lines = [title] if title else []
    spread_ = metrics.get("f1_spread") or {}
    runs = spread_.get("n", 1)
    f1 = pct(metrics["f1"]) + (f" ± {100 * spread_['std']:.1f} (n={runs}, min {100 * spread_['min']:.1f}, "
                               f"max {100 * spread_['max']:.1f})" if runs > 1 else "")
    lines.append(f"{'':24} {'P':>5} {'R':>5} {'F1':>5}   tp/fp/fn")
    lines.append(f"{'micro (all)':24} {pct(metrics['precision'])} {pct(metrics['recall'])} {f1}   "
                 f"{_n(metrics['tp'])}/{_n(metrics['fp'])}/{_n(metrics['fn'])}")
    for rel, c in metrics.get("per_relation", {}).items():
        lines.append(f"  {rel[:22]:22} {pct(c['precision'])} {pct(c['recall'])} {pct(c['f1'])}   "
                     f"{_n(c['tp'])}/{_n(c['fp'])}/{_n(c['fn'])}")
    errs = metrics.get("errors")
    if errs:
        lines.append("errors: " + ", ".join(f"{k.replace('_', ' ')} {_n(v)}" for k, v in errs.items()))
    if "single_triplet_accuracy" in metrics:
        m = metrics["multi_triplet"]
        lines.append(f"zero-shot: single-triplet accuracy {pct(metrics['single_triplet_accuracy']).strip()} "
                     f"(exact set {pct(metrics['single_triplet_exact_set_accuracy']).strip()}; "
                     f"{metrics['single_triplet_sentences']} sentences), multi-triplet P/R/F1 "
                     f"{pct(m['precision']).strip()}/{pct(m['recall']).strip()}/{pct(m['f1']).strip()} "
                     f"({metrics['multi_triplet_sentences']} sentences)")
    lines.append(f"{metrics.get('sentences', 0)} sentences, {metrics.get('gold_triplets', 0)} gold triplets")
    return "\n".join(lines)


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"
