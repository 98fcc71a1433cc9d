"""Measure `kgc-lite export --format html` (kgc_lite/graph/view.py) on a large graph in headless Debian Chromium: export
time, load time until the page reports ready, JS heap, and redraw times while panning and zooming with the mouse.

The graph: copies of a real kgc-lite run (by default tests/fixtures/conll04_test_run.jsonl, the default model on
CoNLL04 test) until it has at least --nodes nodes. Each copy tags its document ids and entity names with the copy
number ("Microsoft #3"), so copies do not merge: the graph is the real run's structure (its component sizes,
degrees, relation mix, sentences) repeated, not a random graph. A real corpus of that size would merge more
entities into hubs; this is the sparser, harder case for layout (thousands of small components).

How it measures (Playwright over the Chrome DevTools Protocol, Debian's /usr/bin/chromium, --disable-gpu, so
the canvas is drawn in software, the slow case):
  load     wall time from navigation to <body data-ready="1"> (the page sets it once vis-network has drawn
           the first frame of the graph, laid out at export); also the page's own count from its script start
           (data-load-ms);
  memory   the DevTools Performance domain's JSHeapUsedSize after a forced garbage collection, and
           JSHeapTotalSize;
  frames   vis-network's beforeDrawing/afterDrawing events timed in the page while the mouse drags the view
           (30 moves) and turns the wheel (20 notches), zoomed out (whole graph) and zoomed in (labels drawn);
           a redraw under 16.7 ms keeps 60 frames a second. The view must actually move (checked).

    python3 scripts/bench_view.py                  # 5,000+ nodes, prints JSON
    python3 scripts/bench_view.py --nodes 1000 -o results/bench_view_1k.json
    python3 scripts/bench_view.py --jsonl run.jsonl --copies 1 --screenshot docs/graph.png

docs/graph-view.png (the README's picture) is the graph of examples/, made with:

    kgc-lite extract examples/news.txt > /tmp/news.jsonl
    kgc-lite extract --schema examples/railways/railways.toml --jsonl examples/railways/railways.jsonl > /tmp/rail.jsonl
    python3 scripts/bench_view.py --jsonl /tmp/news.jsonl --jsonl /tmp/rail.jsonl --copies 1 --size 1280x800 \
        --select Microsoft --screenshot docs/graph-view.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def copies_of(records: list[dict], k: int) -> list[dict]:
    """`records` k times; copy i > 0 tags doc ids and entity names with " #i" so nothing merges across copies."""
    out = []
    for i in range(k):
        for r in records:
            r = dict(r)
            if i:
                r["id"] = f"{r['id']} #{i}"
                r["triplets"] = [{**t, "head": f"{t['head']} #{i}", "tail": f"{t['tail']} #{i}"}
                                 for t in r.get("triplets", [])]
            out.append(r)
    return out


def hardware() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "python": platform.python_version(),
            "load_average_1m_at_end": os.getloadavg()[0]}  # other work on the machine slows every number


def frames(tab, action) -> dict:
    tab.evaluate("""() => { const t = window.__frames = []; let start = 0;
        kgView.network.on('beforeDrawing', () => { start = performance.now(); });
        kgView.network.on('afterDrawing', () => { t.push(performance.now() - start); }); }""")
    before = tab.evaluate("[kgView.network.getViewPosition(), kgView.network.getScale()]")
    started = time.perf_counter()
    action()
    tab.wait_for_timeout(300)  # the last redraw lands
    wall = time.perf_counter() - started
    after = tab.evaluate("[kgView.network.getViewPosition(), kgView.network.getScale()]")
    times = tab.evaluate("window.__frames.splice(0)")
    tab.evaluate("kgView.network.off('beforeDrawing'); kgView.network.off('afterDrawing')")
    times.sort()
    return {"redraws": len(times), "median_ms": round(statistics.median(times), 1) if times else None,
            "p95_ms": round(times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)], 1) if times else None,
            "max_ms": round(times[-1], 1) if times else None, "wall_s": round(wall, 2),
            "view_moved": before != after}


def measure(html: Path, screenshot: Path | None, width: int, height: int, layout: str | None = None,
            select: str | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or sys.exit("no chromium on PATH: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(viewport={"width": width, "height": height})
        cdp = tab.context.new_cdp_session(tab)
        cdp.send("Performance.enable")
        started = time.perf_counter()
        tab.goto(html.as_uri() + (f"#{layout}" if layout else ""))
        tab.wait_for_function("document.body.dataset.ready === '1'", timeout=600_000, polling=50)
        load_s = time.perf_counter() - started
        page = tab.evaluate("({...document.body.dataset})")
        cdp.send("HeapProfiler.enable")
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        box = tab.evaluate("(() => { const b = document.getElementById('graph').getBoundingClientRect(); "
                           "return [b.left + b.width / 2, b.top + b.height / 2]; })()")

        def drag():
            tab.mouse.move(*box)
            tab.mouse.down()
            for i in range(1, 31):
                tab.mouse.move(box[0] + 8 * i, box[1] + 4 * i)
            tab.mouse.up()

        def wheel():
            tab.mouse.move(*box)
            for i in range(20):
                tab.mouse.wheel(0, -100 if i < 10 else 100)
                tab.wait_for_timeout(30)

        result = {"nodes": int(page["nodes"]), "edges": int(page["edges"]), "occurrences": int(page["occurrences"]),
                  "load_s": round(load_s, 2), "page_load_ms": int(page["loadMs"]),
                  "page_layout_ms": int(page["layoutMs"]), "layout": layout or "default",
                  "js_heap_used_mib": round(metrics["JSHeapUsedSize"] / 2**20, 1),
                  "js_heap_total_mib": round(metrics["JSHeapTotalSize"] / 2**20, 1),
                  "dom_nodes": int(metrics["Nodes"]),
                  "zoomed_out": {"drag": frames(tab, drag), "wheel": frames(tab, wheel)}}
        tab.evaluate("kgView.network.moveTo({scale: 1.0})")  # labels are drawn from about this scale on
        tab.wait_for_timeout(300)
        result["zoomed_in"] = {"drag": frames(tab, drag), "wheel": frames(tab, wheel)}
        if screenshot is not None:
            tab.evaluate("kgView.network.fit()")
            tab.wait_for_timeout(300)
            if select:  # click that entity, so the picture shows its mentions too
                x, y = tab.evaluate("""(name) => { const net = kgView.network;
                    const n = kgView.data.nodes.find((n) => n.name === name);
                    const p = net.canvasToDOM(net.getPositions([n.id])[n.id]);
                    const b = document.getElementById("graph").getBoundingClientRect();
                    return [b.left + p.x, b.top + p.y]; }""", select)
                tab.mouse.click(x, y)
                tab.wait_for_timeout(300)
            tab.screenshot(path=str(screenshot))
        result["browser"] = f"Chromium {browser.version} headless, --disable-gpu (software canvas)"
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jsonl", type=Path, action="append",
                        help="kgc-lite extract output (repeatable). Default: the CoNLL04 test run fixture.")
    parser.add_argument("--nodes", type=int, default=5000, help="Copy the run until the graph has this many nodes.")
    parser.add_argument("--copies", type=int, help="Exactly this many copies instead of --nodes.")
    parser.add_argument("--screenshot", type=Path, help="Write a screenshot of the whole graph here.")
    parser.add_argument("--select", help="Click the entity of this name before the screenshot.")
    parser.add_argument("--size", default="1400x900", help="Viewport WIDTHxHEIGHT.")
    parser.add_argument("--layout", help="Layout overrides for the page's address, e.g. iterations=100.")
    parser.add_argument("-o", "--output", type=Path, help="Also write the JSON result here.")
    args = parser.parse_args()
    sources = args.jsonl or [ROOT / "tests" / "fixtures" / "conll04_test_run.jsonl"]
    records = [orjson.loads(line) for src in sources for line in src.read_bytes().splitlines() if line.strip()]
    from kgc_lite.graph.graph import KnowledgeGraph
    per_copy = len(KnowledgeGraph().add_records(("x", r) for r in records).nodes)
    k = args.copies or max(1, math.ceil(args.nodes / max(per_copy, 1)))
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        src, html = Path(tmp) / "big.jsonl", Path(tmp) / "big.html"
        src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in copies_of(records, k)))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kgc_lite", "export", str(src), "--format", "html", "-o", str(html)],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        export_s = time.perf_counter() - started
        result = {"source": [str(s) for s in sources], "copies": k, "export_s": round(export_s, 2),
                  "html_mib": round(html.stat().st_size / 2**20, 2),
                  **measure(html, args.screenshot, width, height, args.layout, args.select), "hardware": hardware(),
                  "command": " ".join(["python3", "scripts/bench_view.py", *sys.argv[1:]])}
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
