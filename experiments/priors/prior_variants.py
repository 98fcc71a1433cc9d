#!/usr/bin/env python3
"""Rescore a `kgc-lite eval -d semeval --answer entail --prior-pairs N --save-predictions P` run under other uses
of the same log-odds (exploratory: the run's own rule, the prior of unlabeled train pairs, is what ships).

    python3 experiments/priors/prior_variants.py experiments/priors/results/qa4re_semeval_zeroshot_..._prior200_sample600.json \
        runs/semeval_test600_..._prior200.jsonl

Rows: plain (likeliest yes), the run's prior, the run's prior with none of the above left uncalibrated, and a
prior from the scored pairs themselves (their labels unread; what a user estimating on the corpus at hand gets).
"""

from __future__ import annotations

import sys

import orjson

from kgc_lite.evaluation.qa4re import semeval_scores


def label(key: str) -> str:
    return key if key == "Other" or key.endswith(")") else key + "(e1,e2)"


def choose(rows, offsets) -> list[str]:
    return [label(max(r["log_odds"], key=lambda k: r["log_odds"][k] - offsets.get(k, 0.0))) for r in rows]


def main(result_path: str, predictions_path: str) -> None:
    doc = orjson.loads(open(result_path, "rb").read())
    prior = doc["runs"][0]["metrics"]["prior"]["log_odds"]
    rows = [orjson.loads(line) for line in open(predictions_path, "rb") if line.strip()]
    gold = [r["gold"] for r in rows]
    keys = sorted(rows[0]["log_odds"])
    own = {k: sum(r["log_odds"][k] for r in rows) / len(rows) for k in keys}
    variants = {
        "plain (likeliest yes)": {},
        f"prior of {doc['runs'][0]['metrics']['prior']['pairs']} unlabeled train pairs (the run's)": prior,
        "the same, none of the above uncalibrated": {k: v for k, v in prior.items() if k != "Other"},
        f"prior of the {len(rows)} scored pairs themselves, labels unread": own,
    }
    print(f"{len(rows)} pairs; micro-F1 over the 18 directed labels (P / R), official macro-F1, predicted Other")
    for name, offsets in variants.items():
        pred = choose(rows, offsets)
        s = semeval_scores(gold, pred)
        print(f"  {name:68} {s['micro_f1_directed']:6.2f} ({s['micro_p_directed']:.2f} / "
              f"{s['micro_r_directed']:.2f})  {s['official_macro_f1']:6.2f}  {pred.count('Other'):4d}")
    if choose(rows, prior) != [r["pred"] for r in rows]:
        sys.exit("the run's predictions differ from its prior's rescoring: check the files belong together")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
