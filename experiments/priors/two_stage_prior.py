#!/usr/bin/env python
"""Does the entail judge's own prior, divided out, help two-stage extraction as it helps QA4RE multiple choice?

Stop 24 measured the prior (kgc_lite/qa4re/prior.py: each option statement's mean log-odds of yes over unlabeled
pairs, subtracted before the likeliest yes is taken) on held-out FewRel relations as multiple choice: 83.3 ->
93.5 accuracy with the shipped 135M judge. Two-stage extraction (kgc_lite/extract/two_stage.py) has never used it. This
runs stage 1 (the pair finder) and stage 2 (the judge, every option's log-odds kept) once, and scores the same
answers three ways:

  plain        the likeliest yes, as `extract --two-stage` answers today (none of the above drops the pair);
  input prior  relative to the mean log-odds over all the run's own pairs (labels never read; what a user gets
               by estimating the prior on their own input);
  other half   relative to the mean over the other half of the sentences (odd ids for even, even for odd), so
               no pair's own answer is in the prior that judges it;
  naming only  whether to keep a pair decided plainly, and only which relation it gets relative to the input prior.

    python experiments/priors/two_stage_prior.py --gold runs/dev800/gold.jsonl --schema runs/dev800/schema.json \\
        --cache runs/prior-dev800 --out experiments/priors/results/two_stage_prior_dev800.json

Use development relations (scripts/zero_rte_dev.py) to decide; the test relations only to report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kgc_lite.data.benchmarks import load_gold
from kgc_lite.evaluation import scoring as evaluate
from kgc_lite.extract.two_stage import TwoStage
from kgc_lite.qa4re.prior import mean_by_key
from kgc_lite.qa4re.questions import Pair
from kgc_lite.schema import load_schema


def answers(gold, schema, path: Path, threads: int, qa_model: str | None) -> list[dict]:
    """Per sentence, each finder pair's entail answer: option keys, relations, directions and log-odds."""
    if not path.exists():
        ts = TwoStage(schema, qa_model=qa_model, n_threads=threads)
        found = ts.finder.extract_many([ex.text for ex in gold], 8)
        with open(path, "w", encoding="utf-8") as fh:
            for ex, pairs in zip(gold, found):
                rows = []
                for p in pairs:
                    ans = ts.qa.ask(Pair("", ex.text, p.head, p.tail))
                    rows.append({"head": p.head, "tail": p.tail,
                                 "options": [[o.key(), o.relation, o.reversed] for o in ans.options],
                                 "log_odds": [round(float(v), 5) for v in ans.log_odds]})
                fh.write(json.dumps({"id": ex.id, "pairs": rows}) + "\n")
        ts.close()
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def mean_log_odds(rows: list[dict]) -> dict[str, float]:
    """The prior table (qa4re_prior) of the cached answers."""
    return mean_by_key((key, v) for r in rows for p in r["pairs"]
                       for (key, _, _), v in zip(p["options"], p["log_odds"]))


def label(rows: list[dict], prior_for, naming_only: bool = False) -> dict[str, set]:
    """Triplets per sentence: each pair's option with the largest log-odds minus its prior; none drops it.
    naming_only: whether to drop the pair is decided without the prior, and only the relation with it."""
    out = {}
    for r in rows:
        prior = prior_for(r["id"])
        kept = set()
        for p in r["pairs"]:
            scores = [v - prior.get(key, 0.0) for (key, _, _), v in zip(p["options"], p["log_odds"])]
            if naming_only:
                if p["options"][max(range(len(scores)), key=p["log_odds"].__getitem__)][1] is None:
                    continue
                scores = [s if o[1] is not None else float("-inf") for o, s in zip(p["options"], scores)]
            key, relation, reversed_ = p["options"][max(range(len(scores)), key=scores.__getitem__)]
            if relation is not None:
                kept.add((p["tail"], relation, p["head"]) if reversed_ else (p["head"], relation, p["tail"]))
        out[r["id"]] = kept
    return out


def score(gold, predicted: dict[str, set]) -> dict:
    m = evaluate.score(gold, predicted).total.as_dict()
    return {"P": round(100 * m["precision"], 2), "R": round(100 * m["recall"], 2), "F1": round(100 * m["f1"], 2),
            "tp": m["tp"], "fp": m["fp"], "fn": m["fn"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--qa-model", help="the judge (default: the registry's, as two-stage uses)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default="runs/prior")
    ap.add_argument("--out")
    args = ap.parse_args()
    gold = load_gold(args.gold)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = answers(gold, load_schema(args.schema), cache / "answers.jsonl", args.threads, args.qa_model)
    whole = mean_log_odds(rows)
    halves = [mean_log_odds([r for i, r in enumerate(rows) if i % 2 == h]) for h in (0, 1)]
    half_of = {r["id"]: i % 2 for i, r in enumerate(rows)}
    report = {"command": "python " + " ".join(sys.argv), "gold": args.gold, "schema": args.schema,
              "qa_model": args.qa_model, "sentences": len(gold), "pairs": sum(len(r["pairs"]) for r in rows),
              "gold_triplets": sum(len(ex.triplets) for ex in gold),
              "plain": score(gold, label(rows, lambda _: {})),
              "input_prior": score(gold, label(rows, lambda _: whole)),
              "other_half_prior": score(gold, label(rows, lambda i: halves[1 - half_of[i]])),
              "input_prior_naming_only": score(gold, label(rows, lambda _: whole, naming_only=True)),
              "prior": {k: round(v, 4) for k, v in sorted(whole.items())}}
    for k in ("plain", "input_prior", "other_half_prior", "input_prior_naming_only"):
        print(f"{k:17s} {report[k]}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
