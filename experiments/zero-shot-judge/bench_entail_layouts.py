#!/usr/bin/env python
"""Entail-answer speed benchmark (not a test), two ways of asking compared on the same model, same pairs, one
process: `--compare layout` (default): statement-first vs question-first (`--entail-layout`); `--compare batch`:
each statement in its own llama.cpp call on top of the settled sentence vs all of a pair's statements in one
batch (`--entail-batch`, Engine.fork_logits).

Each variant has its own llama.cpp context (so neither evicts the other's cached prefix), and they take turns
in blocks of pairs (the first on block k, then the second on block k), so that load from other processes hits
both alike. Reported per variant: wall-clock and CPU-time pairs/s, prompt tokens evaluated per pair, the
prompt-processing floor (those tokens at the rate llama.cpp measured for them in this run) and micro-F1 over the
18 directed labels on these pairs (no prior); then the ratio of the two, how often they pick the same option,
and how far apart their log-odds of yes are.

    python experiments/zero-shot-judge/bench_entail_layouts.py -m qwen2.5-coder-1.5b-instruct --n 30 --threads 2 \
        --out experiments/speed/results/qa4re_bench_entail_layouts_qwen2.5-coder-1.5b.json
    python experiments/zero-shot-judge/bench_entail_layouts.py --compare batch -m smollm2-135m-qa4re-entail --n 200 --threads 2 \
        --out experiments/speed/results/qa4re_bench_entail_batch_smollm2-135m-qa4re-entail.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from kgc_lite.evaluation.qa4re import semeval_pairs, semeval_scores
from kgc_lite.qa4re.classifier import QA4RE
from kgc_lite.qa4re.questions import ENTAIL_LAYOUTS, Pair

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))  # bench_qa4re stays in scripts/
from bench_qa4re import cpu_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--n", type=int, default=30, help="pairs (a seeded random subset of SemEval test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block", type=int, default=5, help="pairs per alternating block")
    ap.add_argument("--entail-examples", type=int, default=None, help="default: the model's")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compare", choices=("layout", "batch"), default="layout")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    items = semeval_pairs("test", args.n, args.seed)
    pairs = [Pair(x.id, x.text, x.head, x.tail) for x in items]
    load0 = os.getloadavg()
    variants = ({layout: {"entail_layout": layout} for layout in ENTAIL_LAYOUTS} if args.compare == "layout" else
                {"sequential": {"entail_batch": False}, "batched": {"entail_batch": True}})
    qas = {name: QA4RE(args.model, "semeval", answer="entail", n_threads=args.threads,
                       entail_examples=args.entail_examples, **kw) for name, kw in variants.items()}
    for qa in qas.values():
        qa.ask(pairs[0])  # warm-up: evaluates the shared prefix (instruction, demonstrations), untimed
    res = {k: {"wall": 0.0, "cpu": 0.0, "chosen": [], "labels": [], "log_odds": [], "prompt_tokens": 0,
               "prompt_seconds": 0.0} for k in qas}
    for b in range(0, len(pairs), args.block):
        for layout, qa in qas.items():
            st, r = qa.engine.stats, res[layout]
            p0, s0 = st.prompt_tokens, st.prompt_seconds
            w0, u0 = time.perf_counter(), time.process_time()
            for p in pairs[b:b + args.block]:
                ans = qa.ask(p)
                r["chosen"].append(ans.chosen.key())
                r["labels"].append(ans.chosen.directed_label())
                r["log_odds"].append({o.key(): v for o, v in zip(ans.options, ans.log_odds)})
            r["wall"] += time.perf_counter() - w0
            r["cpu"] += time.process_time() - u0
            r["prompt_tokens"] += st.prompt_tokens - p0
            r["prompt_seconds"] += st.prompt_seconds - s0
        print(f"\r{min(b + args.block, len(pairs))}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    n = len(pairs)
    first = next(iter(qas.values()))
    kind = dict(layout="layouts", batch="evaluations")[args.compare]
    out = {"benchmark": f"qa4re-entail-{kind}-semeval-test", "n_pairs": n, "seed": args.seed, "block": args.block,
           "model": first.model.spec.name, "model_sha256": first.model.sha256,
           "entail_examples": first.entail_examples,
           "hardware": {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": first.engine.llm.n_threads,
                        "gpu": None, "loadavg_start": [round(x, 2) for x in load0],
                        "loadavg_end": [round(x, 2) for x in os.getloadavg()]}}
    gold = [x.label for x in items]
    for layout, r in res.items():
        rate = r["prompt_tokens"] / r["prompt_seconds"] if r["prompt_seconds"] else None
        out[layout] = {"pairs_per_s": round(n / r["wall"], 3), "cpu_s_per_pair": round(r["cpu"] / n, 3),
                       "prompt_tokens_per_pair": round(r["prompt_tokens"] / n, 1),
                       "prompt_tokens_per_s": round(rate, 1) if rate else None,
                       "floor_pairs_per_s": round(n / r["prompt_seconds"], 3) if r["prompt_seconds"] else None,
                       "seconds": round(r["wall"], 2),
                       "micro_f1_directed": semeval_scores(gold, r["labels"])["micro_f1_directed"]}
    first_name, second_name = variants
    a, b = res[first_name], res[second_name]
    same = sum(x == y for x, y in zip(a["chosen"], b["chosen"]))
    out[f"{second_name.replace('-', '_')}_speedup"] = {"wall": round(a["wall"] / b["wall"], 3),
                                                        "cpu": round(a["cpu"] / b["cpu"], 3)}
    out["same_option"] = {"n": same, "of": n}
    if args.compare == "batch":  # the same statements asked: how far apart their log-odds of yes are
        gaps = sorted(abs(x[k] - y[k]) for x, y in zip(a["log_odds"], b["log_odds"]) for k in x)
        out["log_odds_gap"] = {"median": round(gaps[len(gaps) // 2], 4), "max": round(gaps[-1], 4),
                               "statements": len(gaps)}
    print(f"entail {kind}, SemEval test ({n} pairs, seed {args.seed}), {out['model']}, "
          f"{first.entail_examples} demonstrations, {out['hardware']['threads']} thread(s) on "
          f"{out['hardware']['cpu']}, load {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    for layout in variants:
        o = out[layout]
        print(f"  {layout:15s}: {o['pairs_per_s']:.3f} pairs/s ({o['cpu_s_per_pair']:.2f} CPU-s/pair), "
              f"{o['prompt_tokens_per_pair']:.0f} prompt tokens/pair at {o['prompt_tokens_per_s']:.0f}/s "
              f"(floor {o['floor_pairs_per_s']:.3f} pairs/s), micro-F1 {o['micro_f1_directed']:.2f}")
    ratio = out[f"{second_name.replace('-', '_')}_speedup"]
    print(f"  {second_name} is {ratio['wall']:.2f}x as fast (wall), {ratio['cpu']:.2f}x (CPU); same option for "
          f"{same}/{n} pairs (no prior)"
          + (f"; log-odds apart by {out['log_odds_gap']['median']} (median), {out['log_odds_gap']['max']} at most"
             if "log_odds_gap" in out else ""))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    for qa in qas.values():
        qa.close()


if __name__ == "__main__":
    main()
