#!/usr/bin/env python
"""A zero-shot split's dev set, for choosing settings without looking at its test relations: the FewRel
sentences of the split's dev relations (labels.json "dev"; held out of every training run like the test ones),
a seeded sample of them, as a gold JSONL file, and a schema of those relations (Wikidata descriptions, and the
statements `eval --qa4re` would ask: qa4re_data.wikidata_relations).

    python scripts/zero_rte_dev.py --split unseen_10_seed_0 --sample 300 --out runs/dev10
    kgc-lite eval --gold runs/dev10/gold.jsonl --schema runs/dev10/schema.json --two-stage ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kgc_lite.data.benchmarks import data_dir, seeded_sample
from kgc_lite.data.zero_rte import (
    held_out_relations,
    load_wikidata_triplets,
    wikidata_relations,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="fewrel")
    ap.add_argument("--split", default="unseen_10_seed_0")
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", required=True, help="folder for gold.jsonl and schema.json")
    args = ap.parse_args()

    dev = held_out_relations(args.dataset, args.split, args.data_dir, roles=("dev",))
    ids = {r.id for r in dev}
    path = data_dir(args.data_dir) / args.dataset / "all.json"
    examples = [ex for ex, rel_ids in load_wikidata_triplets(path) if rel_ids and set(rel_ids) <= ids
                and all(t.head in ex.text and t.tail in ex.text for t in ex.triplets)]
    examples = seeded_sample(examples, args.sample, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gold.jsonl", "w") as f:
        for ex in examples:
            f.write(json.dumps({"id": f"{args.dataset}:{ex.id}", "text": ex.text,
                                "triplets": [[t.head, t.relation, t.tail] for t in ex.triplets]}) + "\n")
    schema = {"name": f"{args.dataset}-{args.split}-dev",
              "relations": [{"name": r.name, "description": r.description, "template": r.template}
                            for r in wikidata_relations(dev)]}
    (out / "schema.json").write_text(json.dumps(schema, indent=1) + "\n")
    print(f"{len(examples)} sentences of {', '.join(r.name for r in dev)} -> {out}/gold.jsonl, schema.json")


if __name__ == "__main__":
    main()
