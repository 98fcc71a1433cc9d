#!/usr/bin/env python
"""Does two-stage extraction lose its triplets in stage 1 (the pairs) or stage 2 (the judge)? More candidates, measured.

Stage 1 candidates come from two sources:
  finder   the pair finder (`smollm2-135m-pairs`, the built-in `pairs` schema), as `extract --two-stage` runs it;
  reader   a schema-following extractor run once per schema relation, with a one-relation schema each time, so
           every relation's description gets a pass of its own to point at a tail.
For each source and their union it prints how often the gold head, the gold tail, and both are among the proposed
mentions, and how often the gold pair itself (either order) is proposed. Then stage 2 (the entail model, exactly
as TwoStage.name) labels the finder's pairs and the union's, and prints strict micro-F1 at each --min-confidence
step and when only each sentence's k likeliest triplets are kept; "own" judges each reader pair on the statement
of the relation whose pass filled it, alone.

    python experiments/two-stage/stage1_candidates.py --gold runs/dev10/gold.jsonl --schema runs/dev10/schema.json \\
        --reader runs/schema-aug-s100.gguf --cache runs/stage1 --out experiments/two-stage/results/stage1_candidates_dev200.json

With a one-relation reader (`train --min-relations 1 --max-relations 1`) pass --fill: its passes may not answer
[], as `extract --two-stage --reader-model` runs them. --qa-model swaps the judge (experiments/reader-judge/eval_reader.sh).

Predictions go to --cache (one JSONL per source and per stage-2 run) and are reused when present, so the numbers
can be recomputed without the models. Use development relations (scripts/zero_rte_dev.py), not test ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from kgc_lite.data.benchmarks import load_gold
from kgc_lite.evaluation.scoring import prf
from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.extract.two_stage import TwoStage
from kgc_lite.models.resolve import resolve
from kgc_lite.qa4re.questions import Pair
from kgc_lite.schema import load_schema
from kgc_lite.types import Triplet

GRID = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8)


def _run_extractor(path: Path, model: str, schema, texts: list[str], ids: list[str], threads: int, engine=None,
                   fill: bool = False):
    """Write the pairs `model` finds under `schema` (fill: it may not answer []); returns its engine, for the
    next schema's pass to reuse."""
    ex = Extractor(schema=schema, options=ExtractOptions(icl=0, at_least_one=fill), n_threads=threads,
                   resolved=resolve(model), engine=engine)
    with open(path, "w", encoding="utf-8") as fh:
        for i, found in zip(ids, ex.extract_many(texts, 8)):
            fh.write(json.dumps({"id": i, "pairs": [[t.head, t.tail] for t in found]}) + "\n")
    return ex.engine


def _read_pairs(path: Path) -> dict[str, list[tuple[str, str]]]:
    rows = (json.loads(line) for line in open(path, encoding="utf-8"))
    return {r["id"]: [tuple(p) for p in r["pairs"]] for r in rows}


def recall(gold, pairs: dict[str, list[tuple[str, str]]]) -> dict:
    n = head = tail = both = pair = proposed = 0
    for ex in gold:
        found = pairs.get(ex.id, [])
        proposed += len(set(found))
        mentions = {m for p in found for m in p}
        for t in ex.triplets:
            n += 1
            head += t.head in mentions
            tail += t.tail in mentions
            both += t.head in mentions and t.tail in mentions
            pair += (t.head, t.tail) in found or (t.tail, t.head) in found
    r = lambda k: round(100 * k / n, 1)
    return {"head_in_mentions": r(head), "tail_in_mentions": r(tail), "both_in_mentions": r(both),
            "pair_recall": r(pair), "pairs_per_sentence": round(proposed / len(gold), 2)}


def scores(gold, labelled: dict[str, list[dict]]) -> dict:
    """Strict micro-F1 at each threshold, over all triplets and over each sentence's top k, and the AUROC of the
    judge's P(yes) (the chance that a right triplet's is above a wrong one's; ties count half)."""
    n_gold = sum(len(ex.triplets) for ex in gold)
    ranked = []  # per sentence: (confidence, right?) likeliest first
    for ex in gold:
        keys = {t.key for t in ex.triplets}
        ts = sorted(labelled.get(ex.id, []), key=lambda t: -t["confidence"])
        ranked.append([(t["confidence"], (t["head"], t["relation"], t["tail"]) in keys) for t in ts])
    out = {}
    for k in (None, 1, 2):
        for th in GRID:
            kept = [ok for sentence in ranked for c, ok in sentence[:k] if c >= th]
            tp = sum(kept)
            m = prf(tp, len(kept) - tp, n_gold - tp)
            out[f"{'all' if k is None else f'top{k}'}@{th}"] = {
                "P": round(100 * m["precision"], 1), "R": round(100 * m["recall"], 1), "F1": round(100 * m["f1"], 1)}
    right = [c for sentence in ranked for c, ok in sentence if ok]
    wrong = [c for sentence in ranked for c, ok in sentence if not ok]
    pairs = len(right) * len(wrong)
    out["auroc"] = round(sum((r > w) + 0.5 * (r == w) for r in right for w in wrong) / pairs, 3) if pairs else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--finder", default="smollm2-135m-pairs")
    ap.add_argument("--reader", required=True, help="a schema-following extractor (a GGUF path or a model name)")
    ap.add_argument("--fill", action="store_true", help="the reader may not answer [] (a one-relation reader's "
                    "fill, as `extract --two-stage --reader-model` asks)")
    ap.add_argument("--qa-model", help="the entail judge of stage 2 (default: the registry's, as two-stage uses)")
    ap.add_argument("--gloss", action="store_true", help="the judge's statements carry each relation's description "
                    "(schema.Relation.glossed; `eval --gloss`)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default="runs/stage1")
    ap.add_argument("--out")
    args = ap.parse_args()
    gold = load_gold(args.gold)
    schema = load_schema(args.schema)
    texts, ids = [ex.text for ex in gold], [ex.id for ex in gold]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    sources: dict[str, dict] = {}
    finder = cache / "finder.jsonl"
    if not finder.exists():
        _run_extractor(finder, args.finder, load_schema("pairs"), texts, ids, args.threads)
    sources["finder"] = _read_pairs(finder)
    reader: dict[str, list] = {}
    own: dict[str, list] = {}  # per sentence: (pair, the relation whose pass found it)
    engine = None
    for rel in schema.relations:
        path = cache / f"reader_{rel.name}.jsonl"
        if not path.exists():
            engine = _run_extractor(path, args.reader, replace(schema, relations=(rel,)), texts, ids, args.threads,
                                    engine, args.fill)
        for i, pairs in _read_pairs(path).items():
            reader.setdefault(i, []).extend(pairs)
            for p in pairs:
                own.setdefault(i, []).append((p, rel.name))
    sources["reader"] = reader
    sources["union"] = {i: list(dict.fromkeys(sources["finder"].get(i, []) + reader.get(i, []))) for i in ids}
    report: dict = {"command": "python " + " ".join(sys.argv), "gold": args.gold, "schema": args.schema,
                    "finder": args.finder, "reader": args.reader, "fill": args.fill, "qa_model": args.qa_model,
                    "gloss": args.gloss,
                    "sentences": len(gold),
                    "gold_triplets": sum(len(ex.triplets) for ex in gold), "stage1": {}, "stage2": {}}
    for name, pairs in sources.items():
        report["stage1"][name] = recall(gold, pairs)
        print(f"stage 1 {name:7s} {report['stage1'][name]}")

    judge = None
    for name in ("finder", "union"):
        path = cache / f"stage2_{name}.jsonl"
        if not path.exists():
            judge = judge or TwoStage(schema, qa_model=args.qa_model, n_threads=args.threads, gloss=args.gloss)
            with open(path, "w", encoding="utf-8") as fh:
                for ex in gold:
                    found = [Triplet(h, "related_to", t) for h, t in sources[name].get(ex.id, [])]
                    labelled = judge.name(ex.text, found)
                    fh.write(json.dumps({"id": ex.id, "triplets": [
                        {"head": t.head, "relation": t.relation, "tail": t.tail, "confidence": t.confidence}
                        for t in labelled]}) + "\n")
        labelled = {r["id"]: r["triplets"] for r in map(json.loads, open(path, encoding="utf-8"))}
        report["stage2"][name] = scores(gold, labelled)
        best = max(((k, v) for k, v in report["stage2"][name].items() if k != "auroc"), key=lambda kv: kv[1]["F1"])
        print(f"stage 2 on {name:7s} all@0: {report['stage2'][name]['all@0.0']}  best: {best[0]} {best[1]}  AUROC {report['stage2'][name]['auroc']}")
    # "own": each reader pair judged on its own relation's statement alone (the statement its pass was asked
    # to fill), P(yes) of that option as confidence
    path = cache / "stage2_own.jsonl"
    if not path.exists():
        judge = judge or TwoStage(schema, qa_model=args.qa_model, n_threads=args.threads, gloss=args.gloss)
        with open(path, "w", encoding="utf-8") as fh:
            for ex in gold:
                out = []
                asked = {}  # one question per distinct pair: its answer holds every statement's P(yes)
                for (h, t), rel in own.get(ex.id, []):
                    ans = asked.get((h, t)) or asked.setdefault((h, t), judge.qa.ask(Pair("", ex.text, h, t)))
                    k = next(j for j, o in enumerate(ans.options) if o.relation == rel and not o.reversed)
                    out.append({"head": h, "relation": rel, "tail": t, "confidence": ans.yes[k]})
                fh.write(json.dumps({"id": ex.id, "triplets": out}) + "\n")
    labelled = {r["id"]: r["triplets"] for r in map(json.loads, open(path, encoding="utf-8"))}
    report["stage2"]["own"] = scores(gold, labelled)
    best = max(((k, v) for k, v in report["stage2"]["own"].items() if k != "auroc"), key=lambda kv: kv[1]["F1"])
    print(f"stage 2 on own     all@0: {report['stage2']['own']['all@0.0']}  best: {best[0]} {best[1]}  AUROC {report['stage2']['own']['auroc']}")
    if judge:
        judge.close()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
