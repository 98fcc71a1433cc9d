#!/usr/bin/env python
"""How far to trust one test-set F1: a percentile bootstrap over the split's sentences, and, given a second
predictions file, a paired bootstrap of the difference (the same resampled sentences scored for both).

    python scripts/bootstrap_f1.py --dataset scierc preds_new.jsonl [preds_old.jsonl] [--against 24.0]
    python scripts/bootstrap_f1.py --gold runs/dev10/gold.jsonl preds_new.jsonl preds_old.jsonl   # a gold file

Predictions are `kgc-lite eval --save-predictions` / `kgc-lite extract` output with the gold ids. Scoring is
`kgc-lite eval`'s (strict micro-F1, triplets de-duplicated per sentence).
"""

from __future__ import annotations

import argparse
import random
import sys

from kgc_lite.data.benchmarks import load_gold, load_split
from kgc_lite.evaluation.scoring import read_predictions


def counts(gold, preds) -> list[tuple[int, int, int]]:
    """(tp, fp, fn) per gold sentence."""
    out = []
    for ex in gold:
        g, p = {t.key for t in ex.triplets}, preds.triplets.get(ex.id, set())
        out.append((len(g & p), len(p - g), len(g - p)))
    return out


def f1(rows) -> float:
    """Micro-F1 in %, as 2tp / (2tp + fp + fn): equal to evaluate.prf's 2pr / (p + r), but exact at a tie with
    --against (prf's float path puts some resamples that score exactly 24.0 a hair above it)."""
    tp, fp, fn = (sum(r[i] for r in rows) for i in range(3))
    return 200 * tp / (2 * tp + fp + fn) if tp else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset")
    which.add_argument("--gold", help="a gold JSONL file instead (e.g. runs/dev10/gold.jsonl)")
    ap.add_argument("--split", default="test")
    ap.add_argument("predictions", nargs="+", help="one file, or two: new then old (paired difference)")
    ap.add_argument("--against", type=float, help="a published F1 to compare with (share of resamples above it)")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    gold = load_gold(args.gold) if args.gold else load_split(args.dataset, args.split)
    ids = [ex.id for ex in gold]
    per = [counts(gold, read_predictions(p, ids)) for p in args.predictions]
    rng = random.Random(args.seed)
    n = len(gold)
    draws = [[rng.randrange(n) for _ in range(n)] for _ in range(args.samples)]
    lo, hi = int(0.025 * args.samples), int(0.975 * args.samples) - 1
    for path, rows in zip(args.predictions, per):
        boot = sorted(f1([rows[i] for i in d]) for d in draws)
        line = f"{path}: F1 {f1(rows):.1f}, 95% interval {boot[lo]:.1f} to {boot[hi]:.1f}"
        if args.against is not None:
            line += f"; above {args.against} in {100 * sum(b > args.against for b in boot) / len(boot):.1f}% of resamples"
        print(line)
    if len(per) == 2:
        diff = sorted(f1([per[0][i] for i in d]) - f1([per[1][i] for i in d]) for d in draws)
        print(f"difference (first - second): {f1(per[0]) - f1(per[1]):+.1f}, 95% interval {diff[lo]:+.1f} to "
              f"{diff[hi]:+.1f}; first better in {100 * sum(x > 0 for x in diff) / len(diff):.1f}% of resamples")


if __name__ == "__main__":
    from kgc_lite.errors import KgcError
    try:
        main()
    except KgcError as exc:  # e.g. a results .json given where predictions .jsonl belong: one line, no traceback
        sys.exit(f"bootstrap_f1: error: {exc} (give `kgc-lite eval --save-predictions` files)")
