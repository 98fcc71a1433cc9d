#!/usr/bin/env python
"""Wrong pairs for the entail judge to learn to refuse: what stage 1 proposes on FewRel training sentences that is
not the sentence's labelled pair.

Two-stage extraction loses precision when stage 1 proposes more pairs (experiments/two-stage/stage1_candidates.py): the judge
was trained on FewRel's labelled pairs only, so it says yes to a near-miss span ("Duck Amuck" for "Looney Tunes :
Duck Amuck") or to an unrelated pair. This script runs the pair finder and a one-relation reader (filling the
sentence's own relation) on a seeded sample of FewRel sentences whose relations are outside the zero-shot split
(--held-out, as in training), and writes every proposed pair that is neither the labelled pair nor its reverse:

    {"id": "fewrel:123", "text": ..., "head": ..., "tail": ..., "relation": "P17"}

`kgc-lite train --task qa4re --answer entail --data ...,FILE.jsonl` reads such a file as none-of-the-above
questions whose options include the sentence's own relation (qa4re_data.mined_questions).

    python experiments/reader-judge/mine_judge_negatives.py --reader runs/reader1.gguf --sentences 1500 --out runs/mined.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict

from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.models.resolve import resolve
from kgc_lite.schema import Relation, Schema, load_schema
from kgc_lite.train.schema_mix import AugmentOptions, MultiSchemaData


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reader", required=True, help="one-relation reader GGUF (or model name)")
    ap.add_argument("--finder", default="smollm2-135m-pairs")
    ap.add_argument("--sentences", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--held-out", default="fewrel/unseen_10_seed_0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data = MultiSchemaData(("fewrel",), args.seed, AugmentOptions(detok=False), args.held_out)
    src = data.sources[0]
    picks = random.Random(args.seed).sample(range(len(src.examples)), min(args.sentences, len(src.examples)))
    pool = data.pools["wikidata"]
    proposed: dict[int, set[tuple[str, str]]] = defaultdict(set)
    finder = Extractor(schema=load_schema("pairs"), options=ExtractOptions(icl=0), n_threads=args.threads,
                       resolved=resolve(args.finder))
    texts = [src.examples[j].text for j in picks]
    for j, found in zip(picks, finder.extract_many(texts, 8)):
        proposed[j].update((t.head, t.tail) for t in found)
    by_relation: dict[str, list[int]] = defaultdict(list)
    for j in picks:
        by_relation[src.keys[j][0]].append(j)
    engine = None
    reader_model = resolve(args.reader)
    for key, js in sorted(by_relation.items()):
        p = pool[key]
        schema = Schema(f"fewrel-{key}", (Relation(p.name, p.description),))
        reader = Extractor(schema=schema, options=ExtractOptions(icl=0, at_least_one=True), n_threads=args.threads,
                           resolved=reader_model, engine=engine)
        engine = reader.engine
        for j, found in zip(js, reader.extract_many([src.examples[j].text for j in js], 8)):
            proposed[j].update((t.head, t.tail) for t in found)
    n = 0
    with open(args.out, "w", encoding="utf-8") as fh:
        for j in picks:
            ex = src.examples[j]
            gold = ex.triplets[0]
            for h, t in sorted(proposed[j]):
                if (h, t) in ((gold.head, gold.tail), (gold.tail, gold.head)) or h == t:
                    continue
                fh.write(json.dumps({"id": f"fewrel:{j}", "text": ex.text, "head": h, "tail": t,
                                     "relation": src.keys[j][0]}, ensure_ascii=False) + "\n")
                n += 1
    print(f"{n} wrong pairs from {len(picks)} sentences -> {args.out}")


if __name__ == "__main__":
    main()
