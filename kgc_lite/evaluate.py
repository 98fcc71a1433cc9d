"""Scoring triplets against gold, the way the papers do, and writing results files.

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

import datetime as _dt
import os
import platform
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import orjson

from .data import Example, Triplet
from .errors import KgcError

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


# -- results files ----------------------------------------------------------------------------------------
def kgc_version() -> str:
    try:
        from importlib.metadata import version
        return version("kgc-lite")
    except Exception:  # not installed: running from a checkout
        return "unknown"


def git_state() -> dict | None:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)} if commit else None


def source_sha256() -> str:
    """One hash over kgc-lite's source files (code, grammars, schemas, models.toml) as they are now: pins the
    exact code behind a result even when the working tree is not committed."""
    import hashlib
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    files = [*sorted((root / "kgc_lite").rglob("*.py")), *sorted((root / "kgc_lite").rglob("*.toml")),
             *sorted((root / "grammars").glob("*.gbnf")), root / "models.toml"]
    for f in files:
        if f.is_file():
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def hardware(threads: int | None = None, n_gpu_layers: int = 0) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        mem_gib = round(int(m.group(1)) / 2**20, 1) if m else None
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        from importlib.metadata import version
        llama_version = version("llama-cpp-python")
    except Exception:
        llama_version = None
    return {"cpu": cpu, "cores": cores, "memory_gib": mem_gib, "threads": threads, "n_gpu_layers": n_gpu_layers,
            "platform": platform.platform(), "python": platform.python_version(),
            "llama_cpp_python": llama_version}


# llama.cpp's LLAMA_FTYPE values (general.file_type in GGUF metadata)
_FTYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
           12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
           19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
           26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16"}


def quantization(metadata: Mapping[str, str] | None, path: str | Path | None = None) -> str | None:
    """The quantization of a GGUF from its metadata (general.file_type), else from its file name."""
    try:
        ftype = int((metadata or {}).get("general.file_type", ""))
        if ftype in _FTYPES:
            return _FTYPES[ftype]
    except ValueError:
        pass
    m = re.search(r"(?i)(IQ\d_\w+|Q\d_K_[SML]|Q\d_K|Q\d_\d|F16|BF16|F32)", Path(path).name if path else "")
    return m.group(1).upper() if m else None


def model_info(resolved, engine=None) -> dict:
    """What identifies the model of a run: registry name, file, sha256, quantization."""
    metadata = getattr(getattr(engine, "llm", None), "metadata", None)
    return {"name": resolved.spec.name, "path": str(resolved.path), "file": Path(resolved.path).name,
            "sha256": resolved.sha256, "quantization": quantization(metadata, resolved.path),
            "prompt_format": resolved.spec.prompt_format}


def results_document(kind: str, *, model: dict | None, config: dict, data: dict, metrics: dict,
                     runs: list[dict] | None = None, threads: int | None = None, n_gpu_layers: int = 0,
                     extra: dict | None = None) -> dict:
    """The one results-file structure every `eval` and `bench` writes (and `report` reads)."""
    doc = {"kind": kind, "kgc_lite_version": kgc_version(), "git": git_state(), "source_sha256": source_sha256(),
           "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "command": " ".join(["kgc-lite", *sys.argv[1:]]) if sys.argv and "kgc-lite" in sys.argv[0] else None,
           "hardware": hardware(threads, n_gpu_layers), "model": model, "config": config, "data": data,
           "metrics": metrics}
    if runs is not None:
        doc["runs"] = runs
    if extra:
        doc.update(extra)
    return doc


def write_results(doc: dict, path: str | Path | None) -> None:
    """Write a results document to path (parents created), or to stdout when path is None or '-'."""
    blob = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if path in (None, "-"):
        sys.stdout.buffer.write(blob)
        sys.stdout.flush()
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    except OSError as exc:
        raise KgcError(f"cannot write results file {path}: {exc.strerror}") from None


class NotResultsFile(KgcError):
    """Valid JSON, but not written by `kgc-lite eval` / `bench`."""


def load_results(path: str | Path) -> dict:
    path = Path(path)
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise KgcError(f"cannot read results file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise KgcError(f"results file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "metrics" not in doc or "kind" not in doc:
        raise NotResultsFile(f"{path} is not a kgc-lite results file (no \"kind\" / \"metrics\")")
    doc["_path"] = str(path)
    return doc


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


# -- running a model over gold sentences ------------------------------------------------------------------
def run_extraction(gold: list[Example], *, schema, options, model: str | None = None,
                   pool: list[Example] | None = None, seeds: Iterable[int] = (0,), n_threads: int | None = None,
                   n_gpu_layers: int = 0, n_ctx: int | None = None, save_predictions: str | Path | None = None,
                   progress=None, log=None, extra_metrics=None, extractor=None) -> tuple[list[dict], dict]:
    """Extract from every gold sentence once per seed (the seed draws the in-context examples from `pool`;
    with no pool the schema's own examples are used and every run is the same), and score each run.

    Each gold sentence is one unit (never split), and its predictions can be saved as `kgc-lite extract`
    records with the gold id, so `kgc-lite eval --predictions` on the saved file gives the same numbers.
    `extra_metrics(gold, predictions)`, if given, adds to each run's metrics (e.g. zero_rte_metrics).
    `extractor`, if given, is used as it is for every run instead of an Extractor built here (e.g. a
    two_stage.TwoStage; it brings its own model, and seeds draw nothing from `pool`).
    Returns (per-run results, model info).
    """
    import time

    from .extract import Extractor, unit_record
    from .inputs import Unit
    from .models import resolve

    resolved = extractor.model if extractor is not None else resolve(model)
    engine = None
    runs = []
    seeds = list(seeds)
    for run_index, seed in enumerate(seeds):
        ex = extractor or Extractor(schema=schema, options=options, examples=pool, seed=seed, n_ctx=n_ctx,
                                    n_threads=n_threads, n_gpu_layers=n_gpu_layers, engine=engine, resolved=resolved)
        engine = ex.engine
        before = dict(vars(engine.stats))
        predictions: dict[str, list[Triplet]] = {}
        errors: dict[str, str] = {}
        records = []
        start = time.perf_counter()
        for item in gold:
            try:
                trips = ex.extract(item.text)
            except KgcError as exc:  # e.g. a sentence too long for the context: it predicts nothing
                errors[item.id] = str(exc)
                records.append({"id": item.id, "error": str(exc)})
                trips = []
            else:
                records.append(unit_record(Unit(item.id, 0, 0, len(item.text), item.text), trips))
            predictions[item.id] = trips
            if progress:
                progress.tick()
        seconds = time.perf_counter() - start
        if progress:
            progress.done()
        stats = {k: v - before.get(k, 0) for k, v in vars(engine.stats).items() if isinstance(v, (int, float))}
        metrics = score(gold, predictions).as_dict()
        metrics["extraction_errors"] = len(errors)
        if extra_metrics:
            metrics.update(extra_metrics(gold, predictions))
        shots = [e.id for e in ex.prompts.examples]
        runs.append({"seed": seed, "icl_example_ids": shots, "seconds": round(seconds, 3),
                     "sentences_per_second": len(gold) / seconds if seconds else None, "engine": stats,
                     "metrics": metrics})
        if save_predictions:
            target = Path(save_predictions)
            if len(seeds) > 1:
                target = target.with_name(f"{target.stem}.seed{seed}{target.suffix}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        if log:
            log(f"run {run_index + 1}/{len(seeds)} (seed {seed}): F1 {100 * metrics['f1']:.1f} "
                f"P {100 * metrics['precision']:.1f} R {100 * metrics['recall']:.1f} "
                f"in {seconds:.0f} s ({len(gold) / max(seconds, 1e-9):.2f} sentences/s)")
    return runs, model_info(resolved, engine)
