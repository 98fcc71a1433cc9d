#!/usr/bin/env python
"""Zero-shot SemEval scores pooled over the distinct test pairs of several entail runs' predictions files
(`kgc-lite eval -d semeval --answer entail --save-predictions F`), made by one model with one set of entail
options, so that samples drawn with different seeds, or a full-test run still under way (`--resume`), count
each pair once.

    python experiments/zero-shot-judge/pool_semeval.py runs/semeval_test600_*.jsonl runs/semeval_test400_seed1_*.jsonl \
        --prior experiments/zero-shot-judge/results/priors/qwen2.5-coder-1.5b_semeval_train200_shots4.json

Each pair is chosen again from its line's log-odds of yes (before any prior): relative to --prior, with no prior
(likeliest yes), and relative to the input prior (the pooled pairs' own mean log-odds, labels unread). A pair in
two files must have the same log-odds in both (to --tolerance, 1e-4), or the files come from different models
or settings; the first file's line is kept. Runs made before stop 27 (without QA4RE._settle) gave one pair
log-odds up to 0.23 apart in two runs, so pooling those needs --tolerance 0.5 (stop 26's pooled number:

    python experiments/zero-shot-judge/pool_semeval.py runs/semeval_test600_qwen2.5-coder-1.5b_shots4_prior200.jsonl \
        runs/semeval_test400_seed1_qwen2.5-coder-1.5b_shots4_trainprior.jsonl --tolerance 0.5 \
        --prior experiments/zero-shot-judge/results/priors/qwen2.5-coder-1.5b_semeval_train200_shots4.json
).
Scores are `kgc-lite eval`'s (qa4re_eval.semeval_scores); the interval is a percentile bootstrap over the pairs.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import orjson

from kgc_lite.data.benchmarks import load_semeval
from kgc_lite.errors import KgcError
from kgc_lite.evaluation.qa4re import answer_from_log_odds, semeval_scores
from kgc_lite.qa4re.prior import choose, mean_log_odds
from kgc_lite.qa4re.prior import load as load_prior
from kgc_lite.qa4re.questions import Pair, build_options
from kgc_lite.schema import load_schema


def pooled_rows(paths: list[str], tolerance: float = 1e-4) -> tuple[dict[str, dict], int, float]:
    """{pair id: line} over the files (the first line of a pair), how many lines repeated a pair already read,
    and the largest log-odds difference between two lines of one pair."""
    rows: dict[str, dict] = {}
    repeats, largest = 0, 0.0
    for path in paths:
        for n, line in enumerate(Path(path).read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            row = orjson.loads(line)
            if not isinstance(row.get("log_odds"), dict):
                sys.exit(f"{path}:{n}: no log_odds (not an entail predictions line)")
            old = rows.get(row["id"])
            if old is None:
                rows[row["id"]] = row
                continue
            repeats += 1
            if old["gold"] != row["gold"] or set(old["log_odds"]) != set(row["log_odds"]):
                sys.exit(f"{path}:{n}: pair {row['id']} has another gold label or other options in an earlier file")
            diff = max(abs(old["log_odds"][k] - v) for k, v in row["log_odds"].items())
            largest = max(largest, diff)
            if diff > tolerance:
                sys.exit(f"{path}:{n}: pair {row['id']}'s log-odds differ by {diff:.4f} from an earlier file's; "
                         "pool only runs of one model with one set of entail options (see --tolerance)")
    return rows, repeats, largest


def micro(gold: list[str], pred: list[str]) -> float:
    return semeval_scores(gold, pred)["micro_f1_directed"]


def bootstrap(gold: list[str], pred: list[str], resamples: int, seed: int, bar: float | None) -> dict:
    rng = random.Random(seed)
    n = len(gold)
    values = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        values.append(micro([gold[i] for i in idx], [pred[i] for i in idx]))
    values.sort()
    out = {"resamples": resamples, "seed": seed, "low_2.5": values[int(0.025 * resamples)],
           "high_97.5": values[min(resamples - 1, int(0.975 * resamples))]}
    if bar is not None:
        out[f"share_at_or_above_{bar}"] = round(sum(v >= bar for v in values) / resamples, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", nargs="+")
    ap.add_argument("--prior", action="append", default=[], help="a saved entail prior; the first given is the "
                    "headline row (without one, no prior is); repeat for more rows")
    ap.add_argument("--split", default="test")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bar", type=float, default=43.5, help="also report the share of resamples at or above it")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="the largest log-odds difference allowed "
                    "between two files' lines for one pair (default 1e-4)")
    ap.add_argument("--out", help="write the result as JSON here too")
    args = ap.parse_args()

    rows, repeats, largest = pooled_rows(args.predictions, args.tolerance)
    split = {ex.id: ex.label for ex in load_semeval(args.split, args.data_dir)}
    unknown = [i for i in rows if i not in split]
    if unknown:
        sys.exit(f"pair {unknown[0]} is not in SemEval {args.split}")
    ids = [i for i in split if i in rows]  # the split's order
    gold = [split[i] for i in ids]
    if any(rows[i]["gold"] != split[i] for i in ids):
        sys.exit("a predictions line's gold label differs from the data's")
    # each line as the entail answer `eval --resume` rebuilds from it, chosen the ways eval chooses
    options = build_options(load_schema("semeval"), Pair("", "", "", ""))  # SemEval's options, whatever the pair
    try:
        answers = [answer_from_log_odds(options, rows[i]["log_odds"], None, i) for i in ids]
    except KgcError as exc:
        sys.exit(str(exc))
    preds = {}
    for n, path in enumerate(args.prior):
        table = load_prior(path)["log_odds"]
        preds["prior" if n == 0 else f"prior:{Path(path).stem}"] = [choose(a, table).directed_label()
                                                                     for a in answers]
    preds["no_prior"] = [a.likeliest_yes().directed_label() for a in answers]
    input_table = mean_log_odds(answers)
    preds["input_prior"] = [choose(a, input_table).directed_label() for a in answers]
    headline = next(iter(preds))
    result = {"files": args.predictions, "pairs": len(ids), "of": len(split), "repeated_lines": repeats,
              "largest_log_odds_difference": round(largest, 5),
              "prior": args.prior, "headline": headline,
              "scores": {name: {k: v for k, v in semeval_scores(gold, p).items() if k != "per_relation"}
                         for name, p in preds.items()},
              "bootstrap_headline": bootstrap(gold, preds[headline], args.resamples, args.seed, args.bar)}
    for name, s in result["scores"].items():
        print(f"{name:14} micro-F1 {s['micro_f1_directed']:6.2f} (P {s['micro_p_directed']:.2f}, "
              f"R {s['micro_r_directed']:.2f}), official macro-F1 {s['official_macro_f1']:.2f}")
    b = result["bootstrap_headline"]
    print(f"{len(ids)} distinct pairs of {len(split)} ({repeats} repeated lines, log-odds up to {largest:.4f} "
          f"apart); {headline} 95% bootstrap "
          f"{b['low_2.5']:.2f}-{b['high_97.5']:.2f}" + (f", {100 * b[f'share_at_or_above_{args.bar}']:.0f}% of "
                                                         f"resamples >= {args.bar}" if args.bar is not None else ""))
    if args.out:
        Path(args.out).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")


if __name__ == "__main__":
    main()
