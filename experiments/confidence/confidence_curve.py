"""How well a triplet's "confidence" separates right from wrong: precision and recall as --min-confidence rises.

Reads a predictions file written by `kgc-lite eval --save-predictions` (or `kgc-lite extract` over a gold
split's sentences with the gold ids) and the gold split, and prints, for a range of thresholds, the precision,
recall and F1 of the triplets kept, then the threshold with the best F1, the average precision and the AUROC
(the chance that a right triplet scores above a wrong one). Strict matching, as `kgc-lite eval`.

    kgc-lite eval --dataset conll04 --split test --save-predictions /tmp/p.jsonl
    python experiments/confidence/confidence_curve.py --dataset conll04 --split test /tmp/p.jsonl [--out experiments/confidence/results/x.json]
    python experiments/confidence/confidence_curve.py --gold dev/gold.jsonl /tmp/p.jsonl   # a gold file (zero_rte_dev.py)
"""

from __future__ import annotations

import argparse
import json
import sys

import orjson

from kgc_lite.data.benchmarks import load_gold, load_split


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("predictions")
    ap.add_argument("--dataset", help="ade, conll04 or scierc (or --gold)")
    ap.add_argument("--gold", help="a gold file instead (as `kgc-lite eval --gold`)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="also write the curve as JSON here")
    args = ap.parse_args()

    if bool(args.dataset) == bool(args.gold):
        sys.exit("give --dataset or --gold")
    examples = load_split(args.dataset, args.split, args.data_dir) if args.dataset else load_gold(args.gold)
    gold = {ex.id: {t.key for t in ex.triplets} for ex in examples}
    scored: list[tuple[float, bool]] = []
    seen_ids = set()
    with open(args.predictions, "rb") as fh:
        for line in fh:
            rec = orjson.loads(line)
            if "triplets" not in rec or rec["id"] not in gold:
                continue
            seen_ids.add(rec["id"])
            keys = {}
            for t in rec["triplets"]:
                if "confidence" not in t:
                    sys.exit(f"{args.predictions}: a triplet has no confidence (run with the fast decoder)")
                keys.setdefault((t["head"], t["relation"], t["tail"]), t["confidence"])
            scored += [(c, k in gold[rec["id"]]) for k, c in keys.items()]
    n_gold = sum(len(gold[i]) for i in seen_ids)
    scored.sort(key=lambda x: -x[0])
    rows = []
    for threshold in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        kept = [ok for c, ok in scored if c >= threshold]
        tp = sum(kept)
        p = tp / len(kept) if kept else 0.0
        r = tp / n_gold if n_gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        rows.append({"threshold": threshold, "kept": len(kept), "precision": p, "recall": r, "f1": f})
    # Best F1 over every distinct threshold; average precision over the ranked list.
    best, tp, ap_sum = (0.0, 0.0), 0, 0.0
    for i, (c, ok) in enumerate(scored, 1):
        tp += ok
        if ok:
            ap_sum += tp / i
        p, r = tp / i, tp / n_gold if n_gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        if f > best[0]:
            best = (f, c)
    right = [c for c, ok in scored if ok]
    wrong = [c for c, ok in scored if not ok]
    pairs = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    auroc = pairs / (len(right) * len(wrong)) if right and wrong else None
    summary = {"sentences": len(seen_ids), "predicted": len(scored), "correct": len(right), "gold": n_gold,
               "best_f1": best[0], "best_threshold": best[1], "average_precision": ap_sum / n_gold if n_gold else 0,
               "auroc": auroc, "curve": rows}
    print(f"{'min-confidence':>14} {'kept':>5} {'P':>6} {'R':>6} {'F1':>6}")
    for r in rows:
        print(f"{r['threshold']:14.2f} {r['kept']:5d} {100 * r['precision']:6.1f} {100 * r['recall']:6.1f} "
              f"{100 * r['f1']:6.1f}")
    print(f"best F1 {100 * best[0]:.1f} at min-confidence {best[1]:.3f}; average precision "
          f"{100 * summary['average_precision']:.1f}; AUROC {auroc if auroc is None else round(auroc, 3)} "
          f"({len(right)} right, {len(wrong)} wrong of {len(scored)} predicted; {n_gold} gold)")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": " ".join(sys.argv), "dataset": args.dataset, "split": args.split, **summary},
                      fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
