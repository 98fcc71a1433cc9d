#!/usr/bin/env python
"""What `kgc-lite qa4re --verify` does to extraction scores (not a test): extract, then let QA4RE re-ask every
extracted (head, tail) pair over the data set's relations plus none of the above, and score three ways of using
its answers against the same gold, with the papers' strict micro P/R/F1:

- extract: the extraction alone;
- filter: drop a triplet when QA4RE answers none of the above (the extracted relation stays);
- relabel: take QA4RE's relation (and, with --directions both, its direction) instead of the extracted one
  (dropped on none of the above);
- agree: keep a triplet only when QA4RE chose the extracted relation.

The extraction is read from a predictions file (`kgc-lite eval --save-predictions`, gold ids) so that every
variant scores the same triplets:

    kgc-lite eval -d conll04 --save-predictions runs/conll04_test.jsonl -o /dev/null
    python experiments/verify/verify_gain.py -d conll04 --predictions runs/conll04_test.jsonl \\
        --qa-model smollm2-135m-qa4re --threads 2 --out experiments/verify/results/verify_conll04_test.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from kgc_lite.data.benchmarks import load_gold, load_split
from kgc_lite.evaluation import scoring as ev
from kgc_lite.io.inputs import BadRecord
from kgc_lite.qa4re.classifier import QA4RE
from kgc_lite.qa4re.pairs import read_extract_output
from kgc_lite.qa4re.questions import Pair
from kgc_lite.schema import load_schema
from kgc_lite.types import Triplet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-d", "--dataset", help="ade, conll04 or scierc (its schema and gold)")
    ap.add_argument("--gold", help="a gold file instead (as `kgc-lite eval --gold`), with --schema")
    ap.add_argument("--schema", help="the schema of --gold (name or file)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--predictions", required=True, help="extract output with gold ids, or 'gold': the gold "
                    "triplets themselves, so that relabel's recall is the judge's multiple-choice accuracy on gold pairs")
    ap.add_argument("--qa-model", default=None, help="QA4RE model (default: qa4re's choice for the schema)")
    ap.add_argument("--answer", default=None, help="logits, grammar or entail (default: the model's own; a .gguf "
                    "path: logits, so pass entail for an entail judge)")
    ap.add_argument("--permutations", type=int, default=1)
    ap.add_argument("--directions", choices=("given", "both"), default="given",
                    help="both: every relation is also offered with head and tail swapped, as two stages ask")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    if bool(args.dataset) == bool(args.gold) or bool(args.gold) != bool(args.schema):
        sys.exit("give --dataset, or --gold with --schema")
    gold = load_split(args.dataset, args.split) if args.dataset else load_gold(args.gold)
    if args.predictions == "gold":  # every gold triplet, re-asked as if extracted
        extracted = {g.id: list(g.triplets) for g in gold}
        pairs = (Pair(g.id, g.text, t.head, t.tail, extra={"extracted_relation": t.relation})
                 for g in gold for t in g.triplets)
    else:
        extracted = ev.read_predictions(args.predictions, [g.id for g in gold]).triplets
        pairs = read_extract_output([args.predictions])
    schema = replace(load_schema(args.schema or args.dataset), directions=args.directions)
    qa = QA4RE(args.qa_model, schema, answer=args.answer, n_threads=args.threads, permutations=args.permutations)
    variants = {name: {g.id: [] for g in gold} for name in ("filter", "relabel", "agree")}
    answered = none = agree = 0
    start = time.perf_counter()
    for pair in pairs:
        if isinstance(pair, BadRecord):
            continue
        record = qa.record(pair)
        answered += 1
        trip = Triplet(pair.head, pair.extra["extracted_relation"], pair.tail)
        if record["relation"] is None:
            none += 1
            continue
        variants["filter"][pair.id].append(trip)
        variants["relabel"][pair.id].append(Triplet(*record["triplet"]))
        if record["agrees"]:
            agree += 1
            variants["agree"][pair.id].append(trip)
        print(f"\r{answered} pairs", end="", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    print(file=sys.stderr)

    def scores(preds) -> dict:
        m = ev.score(gold, preds).as_dict()
        return {k: round(100 * m[k], 2) for k in ("precision", "recall", "f1")}

    out = {"dataset": args.dataset or args.gold, "split": args.split if args.dataset else None, "schema": schema.name, "predictions": args.predictions,
           "qa_model": qa.model.spec.name, "qa_model_sha256": qa.model.sha256, "answer": qa.answer_mode, "permutations": args.permutations,
           "directions": args.directions,
           "pairs": answered, "none_of_the_above": none, "agrees": agree, "seconds": round(seconds, 1),
           "pairs_per_s": round(answered / seconds, 3) if seconds else None,
           "extract": scores(extracted), **{name: scores(p) for name, p in variants.items()}}
    print(f"{out['dataset']} {out['split'] or ''}: {answered} extracted pairs re-asked with {out['qa_model']} "
          f"({out['pairs_per_s']} pairs/s); none of the above {none}, agrees {agree}")
    for name in ("extract", "filter", "relabel", "agree"):
        s = out[name]
        print(f"  {name:8} P {s['precision']:6.2f}  R {s['recall']:6.2f}  F1 {s['f1']:6.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    qa.close()


if __name__ == "__main__":
    main()
