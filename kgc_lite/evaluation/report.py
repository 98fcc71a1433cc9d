"""Results files (from `kgc-lite eval` and `kgc-lite bench`) to a Markdown report and matplotlib plots.

matplotlib is an optional extra (`pip install kgc-lite[report]`), imported only when plots are asked for.
"""

from __future__ import annotations

from pathlib import Path

from kgc_lite.errors import KgcError
from kgc_lite.evaluation.results import NotResultsFile, load_results
from kgc_lite.evaluation.scoring import ERROR_KINDS


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _label(doc: dict) -> str:
    model = (doc.get("model") or {}).get("name") or "predictions"
    cfg = doc.get("config", {})
    if cfg.get("task") != "triplets" or not cfg.get("prompt_style"):
        return model
    runs = (doc["metrics"].get("f1_spread") or {}).get("n", 1)
    data = doc.get("data") or {}
    split = data.get("split")
    return (f"{model} {cfg['prompt_style']} {cfg.get('icl', '?')}icl" + (" rat" if cfg.get("rationale") else "")
            + (f" x{runs} runs" if runs > 1 else "") + (f" ({split})" if split and split != "test" else "")
            + (" detok" if data.get("detok") else ""))


def _f1(doc: dict) -> str:
    m = doc["metrics"]
    s = m.get("f1_spread") or {}
    return _pct(m["f1"]) + (f" ± {100 * s['std']:.1f}" if s.get("n", 1) > 1 else "")


def _link(doc: dict, base: Path | None) -> str:
    p = Path(doc["_path"])
    if base is not None:
        try:
            p = p.resolve().relative_to(base.resolve())
        except ValueError:
            pass
    return f"[{p.name}]({p.as_posix()})"


def _sorted(docs: list[dict]) -> list[dict]:
    order = {"ade": 0, "conll04": 1, "scierc": 2}
    return sorted(docs, key=lambda d: (order.get(d["data"].get("dataset"), 9), str(d["data"].get("dataset")),
                                       _label(d)))


def markdown(docs: list[dict], base: Path | None = None, plots: list[str] = ()) -> str:
    evals = _sorted([d for d in docs if d["kind"] == "eval" and d.get("config", {}).get("task") == "triplets"])
    others = [d for d in docs if d["kind"] == "eval" and d.get("config", {}).get("task") != "triplets"]
    benches = _sorted([d for d in docs if d["kind"] == "bench"])
    out = []
    if evals:
        out += ["## Triplet extraction (strict micro P / R / F1, %)", "",
                "| data set | split | model | quant | prompt | ICL | runs | P | R | F1 | sent/s | results |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for d in evals:
            m, cfg, data = d["metrics"], d["config"], d["data"]
            model = d.get("model") or {}
            sps = (m.get("sentences_per_second") or {}).get("mean")
            n = (m.get("f1_spread") or {}).get("n", 1)
            split = data.get("split") or "–"
            if data.get("limit"):
                split += f" (first {data['limit']})"
            out.append(f"| {data.get('dataset')} | {split} | {model.get('name', 'predictions')} | "
                       f"{model.get('quantization') or '–'} | {cfg.get('prompt_style', '–')}"
                       f"{' + rationale' if cfg.get('rationale') else ''} | {cfg.get('icl', '–')} | {n} | "
                       f"{_pct(m['precision'])} | {_pct(m['recall'])} | {_f1(d)} | "
                       f"{'–' if sps is None else f'{sps:.2f}'} | {_link(d, base)} |")
        out += ["", "F1 is the mean over runs (seeds of the in-context example draw) ± sample standard deviation.",
                "", "### F1 per relation (%)", ""]
        for dataset in dict.fromkeys(d["data"].get("dataset") for d in evals):
            group = [d for d in evals if d["data"].get("dataset") == dataset]
            rels = sorted({r for d in group for r in d["metrics"].get("per_relation", {})})
            out += [f"**{dataset}**", "", "| relation | " + " | ".join(_label(d) for d in group) + " |",
                    "|---|" + "---|" * len(group)]
            for r in rels:
                out.append(f"| {r} | " + " | ".join(_pct(d["metrics"]["per_relation"].get(r, {}).get("f1"))
                                                    for d in group) + " |")
            out.append("")
        out += ["### Errors (counts, mean over runs)", "",
                "hallucinated: head or tail not in the sentence; wrong direction: head and tail swapped; wrong "
                "relation: same pair, other relation; boundary: same relation, overlapping but different spans; "
                "spurious: any other false positive; missed: gold triplets not approached by any prediction.", "",
                "| data set | config | " + " | ".join(k.replace("_", " ") for k in ERROR_KINDS) + " | FP | FN |",
                "|---|---|" + "---|" * (len(ERROR_KINDS) + 2)]
        for d in evals:
            e = d["metrics"].get("errors", {})
            out.append(f"| {d['data'].get('dataset')} | {_label(d)} | "
                       + " | ".join(_n(e.get(k)) for k in ERROR_KINDS)
                       + f" | {_n(d['metrics']['fp'])} | {_n(d['metrics']['fn'])} |")
        out.append("")
    if others:
        out += ["## Other evaluations", ""]
        for d in others:
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in d["metrics"].items() if isinstance(v, float))
            out.append(f"- {d['data'].get('dataset')} {d['data'].get('split')} · {_label(d)}: {metrics} "
                       f"({_link(d, base)})")
        out.append("")
    if benches:
        out += ["## Throughput: extract vs naive baseline", "",
                "| data set | sentences | model | threads | extract sent/s | baseline sent/s | ratio | "
                "extract F1 | baseline F1 | peak RSS MiB (extract / baseline) | plain sent/s (identical) | "
                "floor sent/s (extract's share) | results |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        out += [_bench_row(d, base) for d in benches]
        out += ["", "Median ± standard deviation over the timed passes; F1 on the same sentences.", ""]
    for p in plots:
        out += [f"![{Path(p).stem}]({p})", ""]
    return "\n".join(out).rstrip() + "\n"


def _bench_row(d: dict, base: Path | None) -> str:
    m, data = d["metrics"], d["data"]
    e, b = m["extract"], m.get("baseline")
    es = e["summary"]["sentences_per_second"]
    cells = [f"{data.get('dataset')} {data.get('split')}", str(data.get("sentences")),
             str((d.get("model") or {}).get("name")),
             str(d["config"].get("threads")) + (f" (batch {d['config']['batch']})"
                                                if (d["config"].get("batch") or 1) > 1 else ""),
             f"{es['median']:.2f} ± {es['std']:.2f}"]
    if b:
        bs = b["summary"]["sentences_per_second"]
        cells += [f"{bs['median']:.2f} ± {bs['std']:.2f}", f"{m['speedup']:.2f}x", _pct(e["metrics"]["f1"]),
                  _pct(b["metrics"]["f1"]), f"{e['peak_rss_mib']:.0f} / {b['peak_rss_mib']:.0f}"]
    else:
        cells += ["–", "–", _pct(e["metrics"]["f1"]), "–", f"{e['peak_rss_mib']:.0f} / –"]
    p = m.get("plain")
    cells.append(f"{p['summary']['sentences_per_second']['median']:.2f} ({m.get('identical_to_plain')}/"
                 f"{e['summary']['sentences']})" if p else "–")
    f = e.get("floor")
    cells.append(f"{f['sentences_per_second']:.2f} ({100 * m['floor_ratio']:.0f}%)" if f else "–")
    cells.append(_link(d, base))
    return "| " + " | ".join(cells) + " |"


def _n(x) -> str:
    if x is None:
        return "–"
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def plots(docs: list[dict], out_dir: Path) -> list[Path]:
    """F1 per relation per model (one panel per data set) and F1 vs throughput; returns the PNG paths."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise KgcError("plots need matplotlib: pip install 'kgc-lite[report]' (or use --no-plots)") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    evals = _sorted([d for d in docs if d["kind"] == "eval" and d.get("config", {}).get("task") == "triplets"])
    datasets = list(dict.fromkeys(d["data"].get("dataset") for d in evals))
    if evals:
        fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
        for ax, dataset in zip(axes[0], datasets):
            group = [d for d in evals if d["data"].get("dataset") == dataset]
            rels = sorted({r for d in group for r in d["metrics"].get("per_relation", {})})
            width = 0.8 / max(1, len(group))
            for i, d in enumerate(group):
                values = [100 * d["metrics"]["per_relation"].get(r, {}).get("f1", 0.0) for r in rels]
                ax.bar([x + i * width for x in range(len(rels))], values, width, label=_label(d))
            ax.set_xticks([x + width * (len(group) - 1) / 2 for x in range(len(rels))])
            ax.set_xticklabels(rels, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{dataset} {group[0]['data'].get('split') or ''}")
            ax.set_ylabel("strict F1 (%)")
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / "f1_per_relation.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    points = []
    for d in evals:
        sps = (d["metrics"].get("sentences_per_second") or {}).get("mean")
        if sps:
            points.append((sps, 100 * d["metrics"]["f1"], f"{d['data'].get('dataset')} {_label(d)}", "o"))
    for d in docs:
        if d["kind"] != "bench":
            continue
        for side, marker in (("extract", "^"), ("baseline", "v")):
            m = d["metrics"].get(side)
            if m:
                points.append((m["summary"]["sentences_per_second"]["median"], 100 * m["metrics"]["f1"],
                               f"bench {d['data'].get('dataset')} {side} ({Path(d['_path']).stem})", marker))
    if points:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for x, y, label, marker in points:
            ax.scatter([x], [y], marker=marker, label=label)
        ax.set_xlabel("sentences / s")
        ax.set_ylabel("strict F1 (%)")
        ax.set_title("F1 vs throughput")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.tight_layout()
        path = out_dir / "f1_vs_throughput.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def load_all(paths: list[str], skipped: list[str] | None = None) -> list[dict]:
    """Results files named, or found in named folders. Unreadable or invalid JSON is an error; valid JSON that
    is not a kgc-lite results file (another tool's output lying beside them) is skipped and listed in `skipped`."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    docs: list[dict] = []
    foreign: list[str] = []
    for f in files:
        try:
            docs.append(load_results(f))
        except NotResultsFile as exc:
            if len(files) == 1:
                raise exc
            foreign.append(str(f))
    if skipped is not None:
        skipped.extend(foreign)
    if not docs:
        raise KgcError("no kgc-lite results files in " + ", ".join(paths))
    return docs
