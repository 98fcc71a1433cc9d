#!/usr/bin/env python
"""Issue 36: the scored step (scored.py, beside this file) on the development relations, its rule chosen there.

    python experiments/scored-step/scored_dev.py dump --model M --gold runs/dev10/gold.jsonl --schema runs/dev10/schema.json \
        --out runs/scored_dev10_M.jsonl          # every relation's filling of every sentence, with token probs
    python experiments/scored-step/scored_dev.py score --dump runs/scored_dev10_M.jsonl --gold runs/dev10/gold.jsonl \
        --out experiments/scored-step/results/scored_dev10_M.json        # strict micro-F1 of each rule, from the dump alone

`dump` runs the model once (n relations x sentences passes) and writes one line per sentence as it goes, so a
killed run resumes where it stopped. `score` ranks the candidates under every rule of a small grid (sum or
per-token mean log-likelihood; keep the best only, or all within a margin of it, or all) and also reports the
ceiling: the share of gold triplets found among the candidates at all. Dev relations only (runs/dev10 comes from
scripts/zero_rte_dev.py); the test relations are scored once, for the model and rule about to ship.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kgc_lite.data.benchmarks import load_gold, seeded_sample
from kgc_lite.evaluation.results import hardware
from kgc_lite.evaluation.scoring import score
from kgc_lite.schema import load_schema
from kgc_lite.types import Triplet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scored import Candidate, Rule  # noqa: E402  (scored.py, beside this file)

MARGINS = (0.0, 0.5, 1.0, 2.0, 4.0, None)


def dump(args) -> None:
    from scored import ScoredExtractor
    # runs/dev10 lists its sentences relation by relation (its first 42 are all participant_in): --limit takes a
    # seeded sample of them all, not the first ones
    gold = seeded_sample(load_gold(args.gold), args.limit or None, 0)
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {json.loads(line)["id"] for line in out.read_text().splitlines() if line.strip()}
    todo = [ex for ex in gold if ex.id not in done]
    ex = ScoredExtractor(load_schema(args.schema), args.model, fills=args.fills, n_threads=args.threads)
    t0, n = time.perf_counter(), 0
    with open(out, "a") as f:
        for i in range(0, len(todo), args.batch):
            part = todo[i:i + args.batch]
            for e, cands in zip(part, ex.candidates_many([e.text for e in part], args.batch)):
                f.write(json.dumps({"id": e.id, "candidates": [
                    {"triplet": list(c.triplet[:5]), "probs": [round(p, 6) for p in c.probs]} for c in cands]}) + "\n")
                f.flush()
            n += len(part)
            rate = n / (time.perf_counter() - t0)
            print(f"{len(done) + n}/{len(gold)} sentences, {rate:.2f}/s", file=sys.stderr, flush=True)


def read_dump(path: str) -> dict[str, list[Candidate]]:
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["id"]] = [Candidate(Triplet(*c["triplet"]), tuple(c["probs"])) for c in row["candidates"]]
    return out


def score_dump(args) -> None:
    cands = read_dump(args.dump)
    gold = [ex for ex in load_gold(args.gold) if ex.id in cands]
    rows = []
    for mean in (False, True):
        for margin in MARGINS:
            rule = Rule(mean=mean, margin=margin)
            m = score(gold, {i: rule.choose(c) for i, c in cands.items()}).as_dict()
            rows.append({"mean": mean, "margin": margin, "precision": m["precision"], "recall": m["recall"],
                         "f1": m["f1"]})
            print(f"{'mean' if mean else 'sum ':4} margin {str(margin):4}  P {m['precision'] * 100:5.1f}  "
                  f"R {m['recall'] * 100:5.1f}  F1 {m['f1'] * 100:5.1f}")
    found = sum(any(c.triplet.key == t.key for c in cands[ex.id]) for ex in gold for t in ex.triplets)
    total = sum(len(ex.triplets) for ex in gold)
    print(f"ceiling: {found}/{total} gold triplets among the candidates ({found / max(1, total) * 100:.1f}%)")
    best = max(rows, key=lambda r: r["f1"])
    doc = {"kind": "scored-dev", "command": " ".join(sys.argv), "dump": args.dump, "gold": args.gold,
           "sentences": len(gold), "rules": rows, "best": best,
           "ceiling_recall": found / max(1, total), "hardware": hardware()}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--model", required=True)
    d.add_argument("--gold", required=True)
    d.add_argument("--schema", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--limit", type=int, default=0)
    d.add_argument("--batch", type=int, default=8)
    d.add_argument("--fills", type=int, default=1, help="triplets each relation's pass may fill (default 1)")
    d.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("score")
    s.add_argument("--dump", required=True)
    s.add_argument("--gold", required=True)
    s.add_argument("--out")
    args = ap.parse_args()
    dump(args) if args.cmd == "dump" else score_dump(args)


if __name__ == "__main__":
    main()
