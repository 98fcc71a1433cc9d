"""Throughput and memory of `extract`, against the naive baseline, on the same sentences and the same model.

Three sides, each in a process of its own: `extract` (the fast decoder, kgc_lite/runtime/decoding.py), `plain` (the
same prompts and grammar decoded one token per llama.cpp call: the reference greedy path, whose answers the fast
one must equal) and `baseline` (below). The extract side also measures the prompt-processing floor: the time to
evaluate every sentence's input and answer tokens as prompts, in full batches, which no decoder can beat.

The naive baseline is what one would write first with llama-cpp-python: one `create_chat_completion` per
sentence with the whole prompt as chat messages (the same instruction, schema and in-context examples) and a
JSON-schema `response_format`, temperature 0. Both sides run in a fresh process of their own (spawned, so the
peak RSS of each is its own), with a warm-up, then `repeat` timed passes over the sentences; the report gives
the median and spread of the passes, the cold time to first output, token rates, peak RSS, and the F1 of each
side on the same sentences (so speed is never bought with quality).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time
from typing import Callable

from kgc_lite.evaluation.scoring import score, spread
from kgc_lite.types import Example

SIDES = ("extract", "plain", "baseline")


def baseline_schema(relations: list[str]) -> dict:
    """JSON schema of the natural answer: a list of [head, relation, tail]."""
    return {"type": "array",
            "items": {"type": "array", "minItems": 3, "maxItems": 3,
                      "prefixItems": [{"type": "string"}, {"type": "string", "enum": relations},
                                      {"type": "string"}]}}


def baseline_messages(prompts, text: str) -> list[dict]:
    """The naive baseline's chat: instruction as system message, each in-context example as a user/assistant
    pair, then the sentence (the same contents as the extractor's prompt)."""
    messages = [{"role": "system", "content": prompts.instruction()}]
    for ex in prompts.examples:
        messages.append({"role": "user", "content": prompts.user_message(ex.text)})
        messages.append({"role": "assistant", "content": prompts.answer(ex.triplets)})
    messages.append({"role": "user", "content": prompts.user_message(text)})
    return messages


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _rep_summary(reps: list[dict], n: int) -> dict:
    out = {}
    for key in ("seconds", "sentences_per_second", "prompt_tokens_per_second", "generated_tokens_per_second"):
        values = [r[key] for r in reps if r.get(key) is not None]
        out[key] = {**spread(values), "median": statistics.median(values) if values else None}
    out["sentences"] = n
    return out


def run_side(side: str, args: dict) -> dict:
    """One side of the benchmark, meant to run in its own process. Returns timings, predictions, peak RSS."""
    from kgc_lite.extract.extractor import ExtractOptions, Extractor
    from kgc_lite.models.resolve import resolve
    from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig, draw_examples
    from kgc_lite.schema import load_schema

    t0 = time.perf_counter()
    sentences: list[Example] = args["sentences"]
    schema = load_schema(args["schema"])
    resolved = resolve(args["model"])
    model_desc = {"name": resolved.spec.name, "path": str(resolved.path), "sha256": resolved.sha256}
    if side in ("extract", "plain"):
        options = ExtractOptions(style=args["style"], icl=args["icl"], max_tokens=args["max_tokens"],
                                 decoder="fast" if side == "extract" else "plain")
        extractor = Extractor(schema=schema, options=options, examples=args["pool"], seed=args["seed"],
                              n_ctx=args["n_ctx"], n_threads=args["n_threads"], n_gpu_layers=args["n_gpu_layers"],
                              resolved=resolved)
        engine = extractor.engine
        shots = extractor.prompts.examples
        load_seconds = time.perf_counter() - t0

        def one(text: str):
            return extractor.extract(text)

        def many(texts: list[str]):
            return extractor.extract_many(texts, args["batch"])

        def counters() -> tuple[int, int, float, float]:
            s = engine.stats
            return s.prompt_tokens, s.generated_tokens, s.prompt_seconds, s.generate_seconds
        metadata = engine.llm.metadata
    else:
        import llama_cpp

        from kgc_lite.runtime.engine import _quiet_llama_logs, open_llama
        _quiet_llama_logs()
        # The same in-context examples as the extractor draws (see Extractor.__init__), in the natural (JSON)
        # answer format whatever the extractor's style, since the baseline's output is JSON.
        pool = args["pool"]
        shots = (draw_examples(pool, args["icl"], args["seed"]) if pool is not None
                 else list(schema.examples)[: args["icl"]])
        prompts = PromptBuilder(schema, PromptConfig(style="natural", icl=args["icl"],
                                                     format=resolved.spec.prompt_format), shots)
        n_threads = args["n_threads"] or _threads()
        llm = open_llama(model_path=model_desc["path"], n_ctx=args["n_ctx"] or resolved.spec.context,
                         n_threads=n_threads, n_threads_batch=n_threads, n_gpu_layers=args["n_gpu_layers"],
                         verbose=False)
        load_seconds = time.perf_counter() - t0
        response_format = {"type": "json_object", "schema": baseline_schema(schema.relation_names)}
        totals = {"prompt": 0, "generated": 0, "prompt_s": 0.0, "gen_s": 0.0}

        def one(text: str):
            before = llama_cpp.llama_perf_context(llm.ctx)
            start = time.perf_counter()
            out = llm.create_chat_completion(messages=baseline_messages(prompts, text),
                                             response_format=response_format, temperature=0.0,
                                             max_tokens=args["max_tokens"], seed=0)
            wall = time.perf_counter() - start
            after = llama_cpp.llama_perf_context(llm.ctx)
            prompt_s = max(0.0, (after.t_p_eval_ms - before.t_p_eval_ms) / 1000)
            totals["prompt"] += max(0, after.n_p_eval - before.n_p_eval)
            totals["generated"] += out["usage"]["completion_tokens"]
            totals["prompt_s"] += prompt_s
            totals["gen_s"] += max(0.0, wall - prompt_s)
            return prompts.parse(out["choices"][0]["message"]["content"] or "")

        def counters() -> tuple[int, int, float, float]:
            return totals["prompt"], totals["generated"], totals["prompt_s"], totals["gen_s"]
        metadata = llm.metadata
        model_desc["chat_format"] = llm.chat_format
    # Cold start: process start of this side (model load + prompt prefix) to the first sentence's triplets.
    one(sentences[0].text)
    first_output = time.perf_counter() - t0
    for ex in sentences[1:args["warmup"]]:
        one(ex.text)
    batch = args.get("batch", 1) if side == "extract" else 1
    reps, predictions, deterministic = [], None, True
    stats_before = _decoder_counts(engine) if side != "baseline" else {}
    for _ in range(args["repeat"]):
        p0, g0, ps0, gs0 = counters()
        preds, latencies = {}, []
        start = time.perf_counter()
        if batch == 1:
            for ex in sentences:
                s = time.perf_counter()
                preds[ex.id] = [t.key for t in one(ex.text)]
                latencies.append(time.perf_counter() - s)
        else:
            # One stream through continuous batching, as `extract --batch` runs a file.
            for ex, trips in zip(sentences, many([ex.text for ex in sentences])):
                preds[ex.id] = [t.key for t in trips]
            latencies.append((time.perf_counter() - start) / len(sentences))
        seconds = time.perf_counter() - start
        p1, g1, ps1, gs1 = counters()
        reps.append({"seconds": seconds, "sentences_per_second": len(sentences) / seconds,
                     "prompt_tokens": p1 - p0, "generated_tokens": g1 - g0,
                     "prompt_tokens_per_second": (p1 - p0) / (ps1 - ps0) if ps1 > ps0 else None,
                     "generated_tokens_per_second": (g1 - g0) / (gs1 - gs0) if gs1 > gs0 else None,
                     "latency_median_seconds": statistics.median(latencies),
                     "latency_max_seconds": max(latencies)})
        if predictions is None:
            predictions = preds
        elif preds != predictions:
            deterministic = False
        if args.get("log"):
            print(f"kgc-lite bench: {side} pass {len(reps)}/{args['repeat']}: {len(sentences) / seconds:.2f} "
                  f"sentences/s", flush=True, file=__import__("sys").stderr)
    metrics = score(sentences, predictions).as_dict()
    peak_rss = _peak_rss_mib()  # before the floor below, whose 16-sequence context is not extract's
    extra = {}
    if side != "baseline":
        after = _decoder_counts(engine)
        extra["decoding"] = {k: (after[k] - stats_before[k]) / args["repeat"] for k in after}
    if side == "extract":
        extra["floor"] = prompt_floor(extractor, [ex.text for ex in sentences], args["repeat"])
    return {"side": side, **extra, "model": model_desc, "metadata": {k: v for k, v in metadata.items()
                                                            if not k.startswith("tokenizer.")},
            "icl_example_ids": [e.id for e in shots], "load_seconds": load_seconds,
            "first_output_seconds": first_output, "passes": reps, "summary": _rep_summary(reps, len(sentences)),
            "deterministic": deterministic, "peak_rss_mib": peak_rss, "batch": batch,
            "metrics": {k: metrics[k] for k in ("precision", "recall", "f1", "tp", "fp", "fn",
                                                "predicted_triplets", "per_relation", "errors")},
            "predictions": predictions}


def _decoder_counts(engine) -> dict:
    s = engine.stats
    return {"generated_tokens": s.generated_tokens, "forced_tokens": s.forced_tokens,
            "drafted_tokens": s.drafted_tokens, "accepted_tokens": s.accepted_tokens,
            "llama_calls": s.decode_calls}


def prompt_floor(extractor, texts: list[str], repeat: int = 3, n_seq: int = 16) -> dict:
    """The prompt-processing floor: every sentence's input tokens and its answer's tokens evaluated as one
    prompt, `n_seq` sequences per llama.cpp call (after the shared prefix, as extract has it), last-token
    logits only. No decoder can produce those answers faster on this machine; median of `repeat` passes."""
    engine = extractor.engine
    prefix = extractor._prefix
    answers = [extractor.answer(t) for t in texts]
    seqs = [extractor.suffix_tokens(t) + engine.tokenize(a, special=False)
            for t, a in zip(texts, answers)]
    engine._batch_context(n_seq)
    lib = engine._lib
    mem = lib.llama_get_memory(engine._bctx)
    engine.load_batch_prefix(prefix)
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        for i in range(0, len(seqs), n_seq):
            group = seqs[i:i + n_seq]
            entries = []
            for k, toks in enumerate(group, 1):
                lib.llama_memory_seq_rm(mem, k, -1, -1)
                lib.llama_memory_seq_cp(mem, 0, k, -1, -1)
                entries += [(t, len(prefix) + j, k, j == len(toks) - 1) for j, t in enumerate(toks)]
            for j in range(0, len(entries), engine._bcap):
                engine._decode(entries[j:j + engine._bcap])
        times.append(time.perf_counter() - start)
    for k in range(1, n_seq + 1):  # keep the prefix (sequence 0) for whoever decodes next
        lib.llama_memory_seq_rm(mem, k, -1, -1)
    seconds = statistics.median(times)
    tokens = sum(len(x) for x in seqs)
    return {"sentences_per_second": len(texts) / seconds, "tokens": tokens, "tokens_per_second": tokens / seconds,
            "n_seq": n_seq}


def _threads() -> int:
    from kgc_lite.runtime.engine import default_threads
    return default_threads()


def _child(side: str, args: dict, conn) -> None:
    try:
        conn.send(("ok", run_side(side, args)))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_isolated(side: str, args: dict) -> dict:
    """run_side in a fresh spawned process, so that its peak RSS is its own."""
    from kgc_lite.errors import KgcError
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(side, args, child), daemon=True)
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        proc.join()
        raise KgcError(f"the {side} benchmark process died (exit status {proc.exitcode})") from None
    proc.join()
    if status != "ok":
        raise KgcError(f"the {side} benchmark failed: {payload}")
    return payload


def bench(sentences: list[Example], *, schema: str, style: str, icl: int, pool: list[Example] | None,
          seed: int = 0, model: str | None = None, n_threads: int | None = None, n_gpu_layers: int = 0,
          n_ctx: int | None = None, warmup: int = 2, repeat: int = 3, baseline: bool = True, batch: int = 1,
          max_tokens: int = 768, isolate: bool = True, log: Callable[[str], None] | None = None) -> dict:
    """Both sides on the same sentences; the metrics block of a `bench` results file."""
    args = {"sentences": sentences, "schema": schema, "style": style, "icl": icl, "pool": pool, "seed": seed,
            "model": model, "n_threads": n_threads, "n_gpu_layers": n_gpu_layers, "n_ctx": n_ctx,
            "warmup": max(1, warmup), "repeat": max(1, repeat), "batch": max(1, batch), "max_tokens": max_tokens, "log": bool(log)}
    runner = run_isolated if isolate else run_side
    out: dict = {}
    for side in SIDES if baseline else SIDES[:2]:
        if log:
            log(f"kgc-lite bench: {side}: {len(sentences)} sentences, {args['warmup']} warm-up, "
                f"{args['repeat']} passes (load average {os.getloadavg()[0]:.2f})")
        out[side] = runner(side, args)
    e = out["extract"]
    rate = e["summary"]["sentences_per_second"]["median"]
    out["floor_ratio"] = rate / e["floor"]["sentences_per_second"]
    for other in ("plain", "baseline"):
        if other not in out:
            continue
        o = out[other]
        out[f"speedup_vs_{other}"] = rate / o["summary"]["sentences_per_second"]["median"]
        out[f"f1_difference_vs_{other}"] = e["metrics"]["f1"] - o["metrics"]["f1"]
        out[f"identical_to_{other}"] = sum(e["predictions"][k] == o["predictions"][k] for k in e["predictions"])
    if "baseline" in out:
        out["speedup"] = out["speedup_vs_baseline"]  # the name earlier results files use
    return out


def bench_table(metrics: dict) -> str:
    rows = [f"{'':10} {'sent/s':>14} {'prompt tok/s':>13} {'gen tok/s':>10} {'1st out s':>9} {'RSS MiB':>8} "
            f"{'F1':>5}"]
    for side in SIDES:
        if side not in metrics:
            continue
        m = metrics[side]
        s = m["summary"]
        sps = s["sentences_per_second"]
        rows.append(f"{side:10} {sps['median']:7.2f} ±{sps['std']:5.2f} "
                    f"{_f(s['prompt_tokens_per_second']['median']):>13} "
                    f"{_f(s['generated_tokens_per_second']['median']):>10} {m['first_output_seconds']:9.2f} "
                    f"{m['peak_rss_mib']:8.0f} {100 * m['metrics']['f1']:5.1f}")
    e = metrics["extract"]
    n = e["summary"]["sentences"]
    d = e.get("decoding")
    if d:
        per = max(d["generated_tokens"], 1)
        rows.append(f"extract decoding per pass: {d['generated_tokens']:.0f} answer tokens, "
                    f"{d['forced_tokens']:.0f} forced ({100 * d['forced_tokens'] / per:.0f}%), "
                    f"{d['drafted_tokens']:.0f} drafted, {d['accepted_tokens']:.0f} accepted, "
                    f"{d['llama_calls']:.0f} llama.cpp calls")
    if "floor" in e:
        f = e["floor"]
        rows.append(f"prompt-processing floor: {f['sentences_per_second']:.2f} sent/s ({f['tokens_per_second']:.0f} "
                    f"tokens/s); extract reaches {100 * metrics['floor_ratio']:.0f}% of it")
    for other in ("plain", "baseline"):
        if f"speedup_vs_{other}" in metrics:
            rows.append(f"extract / {other}: {metrics[f'speedup_vs_{other}']:.2f}x sentences/s, F1 difference "
                        f"{100 * metrics[f'f1_difference_vs_{other}']:+.1f} points, identical predictions on "
                        f"{metrics[f'identical_to_{other}']}/{n} sentences")
    return "\n".join(rows)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"
