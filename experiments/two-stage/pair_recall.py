#!/usr/bin/env python
"""Stage 1 of two-stage extraction alone: how often the pair finder proposes a sentence's gold (head, tail) pair.

    python experiments/two-stage/pair_recall.py --model smollm2-135m-pairs --gold runs/dev10/gold.jsonl

Prints the share of gold triplets whose pair (either order) the finder proposed, the share in the gold order,
how many missed pairs overlap a proposed one partly (an entity edge off), and how many pairs a sentence gets.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.models.resolve import resolve
from kgc_lite.schema import load_schema


def _overlaps(a: str, b: str) -> bool:
    return a in b or b in a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-pairs")
    ap.add_argument("--gold", default="runs/dev10/gold.jsonl")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the numbers as JSON here too")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.gold, encoding="utf-8")]
    finder = Extractor(schema=load_schema("pairs"), options=ExtractOptions(icl=0), n_threads=args.threads,
                       resolved=resolve(args.model))
    found = finder.extract_many([r["text"] for r in rows], 8)
    gold = either = directed = partial = 0
    per_sentence: Counter = Counter()
    for row, triplets in zip(rows, found):
        pairs = {(t.head, t.tail) for t in triplets}
        per_sentence[len(pairs)] += 1
        for head, _, tail in row["triplets"]:
            gold += 1
            directed += (head, tail) in pairs
            if (head, tail) in pairs or (tail, head) in pairs:
                either += 1
            elif any(_overlaps(head, a) and _overlaps(tail, b) or _overlaps(head, b) and _overlaps(tail, a)
                     for a, b in pairs):
                partial += 1
    out = {"model": args.model, "gold": args.gold, "sentences": len(rows), "gold_triplets": gold,
           "pair_recall": round(either / gold, 4), "directed_pair_recall": round(directed / gold, 4),
           "partly_overlapping_misses": partial,
           "pairs_per_sentence": round(sum(k * v for k, v in per_sentence.items()) / len(rows), 3),
           "pairs_per_sentence_histogram": dict(sorted(per_sentence.items()))}
    print(json.dumps(out, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
