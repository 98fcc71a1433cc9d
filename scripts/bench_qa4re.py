#!/usr/bin/env python
"""QA4RE speed benchmark (not a test): pairs/s on SemEval-2010 test, letter logits vs grammar generation.

Both answer paths run in the same process on the same model and the same pairs, in alternating blocks
(logits on block k, then grammar on block k), so that load from other processes hits both alike. Reported:
wall-clock and CPU-time pairs/s per path, their ratio, the letter agreement between the two paths, and the
prompt-processing floor: the prompt tokens the logit path evaluated (after KV-cache reuse) divided by the
prompt tokens/s measured in the same run (the logit path's own llama.cpp eval time), and also by the rate of a
cold 512-token prompt measured before and after (median of 3 each) - no QA4RE path can be faster.

    python scripts/bench_qa4re.py --n 120 --threads 1 --out experiments/speed/results/qa4re_bench_smollm2.json

With --permutations K a third path runs in the same blocks: the logit path averaged over K option orders
(cyclic shifts; `kgc-lite qa4re --permutations K`), with its cost against the one-order logit path and its
agreement with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from kgc_lite.evaluation.qa4re import semeval_pairs
from kgc_lite.qa4re.classifier import QA4RE
from kgc_lite.qa4re.questions import Pair


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def prompt_speed(qa: QA4RE, pairs: list[Pair], tokens: int = 512, repeat: int = 3) -> float:
    """Prompt tokens/s of a cold forward pass over `tokens` tokens of real QA4RE prompts."""
    stream: list[int] = []
    for p in pairs:
        stream += qa.tokens(p.text, qa.options(p))
        if len(stream) >= tokens:
            break
    stream = stream[:tokens]
    speeds = []
    for _ in range(repeat):
        qa.engine.llm.n_tokens = 0  # forget the KV cache: a cold pass
        start = time.perf_counter()
        qa.engine.llm.eval(stream)
        speeds.append(len(stream) / (time.perf_counter() - start))
    qa.engine.llm.n_tokens = 0
    return statistics.median(speeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120, help="pairs (a seeded random subset of SemEval test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block", type=int, default=10, help="pairs per alternating block")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--permutations", type=int, default=1, help="also time the logit path over K option orders")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    items = semeval_pairs("test", args.n, args.seed)
    pairs = [Pair(x.id, x.text, x.head, x.tail) for x in items]
    load0 = os.getloadavg()
    qa = QA4RE(args.model, "semeval", n_threads=args.threads)
    qa.ask(pairs[0], "logits")  # warm-up (first-call allocations), untimed
    qa.ask(pairs[0], "grammar")
    tok_s = prompt_speed(qa, pairs)
    paths = {"logits": (qa, "logits"), "grammar": (qa, "grammar")}
    if args.permutations > 1:
        permuted = QA4RE(schema="semeval", engine=qa.engine, resolved=qa.model, permutations=args.permutations)
        paths["permuted"] = (permuted, "logits")

    res = {m: {"wall": 0.0, "cpu": 0.0, "letters": [], "prompt_tokens": 0, "cached_tokens": 0,
               "prompt_seconds": 0.0} for m in paths}
    for b in range(0, len(pairs), args.block):
        block = pairs[b:b + args.block]
        for mode, (asker, how) in paths.items():
            st = qa.engine.stats
            p0, c0, s0 = st.prompt_tokens, st.cached_tokens, st.prompt_seconds
            w0, u0 = time.perf_counter(), time.process_time()
            for p in block:
                res[mode]["letters"].append(asker.ask(p, how).chosen.letter)
            r = res[mode]
            r["wall"] += time.perf_counter() - w0
            r["cpu"] += time.process_time() - u0
            r["prompt_tokens"] += st.prompt_tokens - p0
            r["cached_tokens"] += st.cached_tokens - c0
            r["prompt_seconds"] += st.prompt_seconds - s0
        print(f"\r{min(b + args.block, len(pairs))}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    n = len(pairs)
    agree = sum(a == b for a, b in zip(res["logits"]["letters"], res["grammar"]["letters"]))
    lg, gr = res["logits"], res["grammar"]
    tok_s_end = prompt_speed(qa, pairs)
    tok_s_run = lg["prompt_tokens"] / lg["prompt_seconds"]  # same run, same load: the logit path's own evals
    floor_s = lg["prompt_tokens"] / tok_s_run
    floor_cold_s = lg["prompt_tokens"] / ((tok_s + tok_s_end) / 2)
    out = {
        "benchmark": "qa4re-semeval-test", "n_pairs": n, "seed": args.seed, "block": args.block,
        "model": qa.model.spec.name, "model_sha256": qa.model.sha256,
        "hardware": {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": qa.engine.llm.n_threads,
                     "gpu": None, "loadavg_start": [round(x, 2) for x in load0],
                     "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "prompt_tokens_per_s": {"in_run": round(tok_s_run, 1), "cold_512_start": round(tok_s, 1),
                                "cold_512_end": round(tok_s_end, 1)},
        "logits": {"pairs_per_s": round(n / lg["wall"], 3), "cpu_s_per_pair": round(lg["cpu"] / n, 3),
                   "prompt_tokens_evaluated": lg["prompt_tokens"], "prompt_tokens_cached": lg["cached_tokens"],
                   "prompt_seconds": round(lg["prompt_seconds"], 2), "seconds": round(lg["wall"], 2)},
        "grammar": {"pairs_per_s": round(n / gr["wall"], 3), "cpu_s_per_pair": round(gr["cpu"] / n, 3),
                    "prompt_tokens_evaluated": gr["prompt_tokens"], "prompt_tokens_cached": gr["cached_tokens"],
                    "prompt_seconds": round(gr["prompt_seconds"], 2), "seconds": round(gr["wall"], 2)},
        "ratio_logits_over_grammar": round(gr["wall"] / lg["wall"], 3),
        "ratio_cpu_time": round(gr["cpu"] / lg["cpu"], 3),
        "floor": {"prompt_tokens_per_pair": round(lg["prompt_tokens"] / n, 1),
                  "seconds": round(floor_s, 2), "pairs_per_s": round(n / floor_s, 3),
                  "logits_path_over_floor": round(lg["wall"] / floor_s, 3),
                  "cold_rate_seconds": round(floor_cold_s, 2), "cold_rate_pairs_per_s": round(n / floor_cold_s, 3)},
        "agreement": {"same_letter": agree, "n": n, "rate": round(agree / n, 4)},
    }
    if "permuted" in res:
        pm = res["permuted"]
        same = sum(a == b for a, b in zip(lg["letters"], pm["letters"]))
        out["permuted"] = {"permutations": args.permutations, "pairs_per_s": round(n / pm["wall"], 3),
                           "cpu_s_per_pair": round(pm["cpu"] / n, 3), "prompt_tokens_evaluated": pm["prompt_tokens"],
                           "seconds": round(pm["wall"], 2), "cost_over_logits": round(pm["wall"] / lg["wall"], 3),
                           "same_label_as_logits": same}
    print(f"QA4RE speed, SemEval test ({n} pairs, seed {args.seed}), {out['model']}, "
          f"{out['hardware']['threads']} thread(s) on {out['hardware']['cpu']} ({os.cpu_count()} cores), "
          f"load {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"  logits : {out['logits']['pairs_per_s']:.3f} pairs/s ({out['logits']['cpu_s_per_pair']:.3f} CPU-s/pair)")
    print(f"  grammar: {out['grammar']['pairs_per_s']:.3f} pairs/s ({out['grammar']['cpu_s_per_pair']:.3f} CPU-s/pair)")
    print(f"  ratio logits/grammar: {out['ratio_logits_over_grammar']:.2f}x wall, {out['ratio_cpu_time']:.2f}x CPU")
    print(f"  prompt floor: {out['floor']['prompt_tokens_per_pair']:.0f} evaluated prompt tokens/pair / "
          f"{tok_s_run:.0f} prompt tokens/s (measured in this run) = {out['floor']['pairs_per_s']:.3f} pairs/s "
          f"at best; logit path takes {out['floor']['logits_path_over_floor']:.2f}x the floor's time")
    print(f"  (cold 512-token prompt: {tok_s:.0f} tokens/s before, {tok_s_end:.0f} after -> floor "
          f"{out['floor']['cold_rate_pairs_per_s']:.3f} pairs/s)")
    print(f"  agreement logits vs grammar: {agree}/{n} ({100 * agree / n:.1f}%)")
    if "permuted" in out:
        pm = out["permuted"]
        print(f"  logits over {pm['permutations']} orders: {pm['pairs_per_s']:.3f} pairs/s, "
              f"{pm['cost_over_logits']:.2f}x the one-order time; same label as one order for "
              f"{pm['same_label_as_logits']}/{n}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    qa.close()


if __name__ == "__main__":
    main()
