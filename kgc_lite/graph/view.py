"""A KnowledgeGraph (kgc_lite.graph.graph) as one self-contained HTML page: an interactive graph that opens offline.

The drawing is vis-network's (canvas renderer). Its built, minified JavaScript is not kept in this repository:
it is read at run time from the `pyvis` package, which ships it, and written inside the page, so the file loads
nothing from the network. The layout is igraph's, computed once at export (`layout` below); both come with
`pip install 'kgc-lite[view]'`.

What the page shows: one node per merged entity, coloured by type and sized by its mentions; one edge per
distinct (head, relation, tail), labelled by the relation, carrying every occurrence (document, chunk, sentence,
character offsets, confidence). A search box finds entities by name or alias, checkboxes filter relations, a
slider sets a minimum confidence (unscored occurrences are always kept, as `--min-confidence` does), and a click
on a node or an edge lists its mentions.

Layout compromise: vis-network's own physics takes minutes on 5,000 nodes in a browser (Barnes-Hut measured
about 75 ms an iteration at 2,000 nodes here), so positions are computed at export in igraph's C code and the
page starts with physics off: a 5,000-node page is ready in seconds and pan/zoom only redraws. Opening the page
as kg.html#iterations=200 runs that many physics iterations on top, to loosen a crowded picture. Edges hide
while dragging or zooming a large graph, to keep frames short. `scripts/bench_view.py` measures load time,
memory and redraw times.

When the page is ready, <body> carries data-ready="1", data-nodes, data-edges and data-occurrences (the counts
of what the page holds), which tests and the benchmark read.
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
import random
import re
from pathlib import Path
from typing import BinaryIO

from kgc_lite.errors import KgcError
from kgc_lite.graph.graph import KnowledgeGraph

VIS_NETWORK = "templates/lib/vis-*/vis-network.min.js"  # inside the pyvis package (0.3.2 ships vis-network 9.1.2)
# Colour-blind-safe categorical colours (Okabe-Ito, then Tol's muted), one per entity type in first-seen order.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#88CCEE", "#44AA99",
           "#DDCC77", "#AA4499", "#882255")
UNTYPED = "#B0B0B0"
GRID_FROM = 1000  # component size from which igraph's grid-accelerated layout is used
LARGE = 1500  # nodes above which edges hide while dragging or zooming, to keep frames short


def vis_network_js() -> str:
    """vis-network's minified JavaScript, from the installed pyvis package; a KgcError naming the extra if absent."""
    spec = importlib.util.find_spec("pyvis")  # located, not imported: pyvis's own Python is not needed
    if spec is None or not spec.submodule_search_locations:
        raise KgcError("--format html needs vis-network, which the view extra installs: "
                       "pip install 'kgc-lite[view]'")
    found = [path for location in spec.submodule_search_locations for path in Path(location).glob(VIS_NETWORK)]
    if not found:
        raise KgcError(f"the installed pyvis has no {VIS_NETWORK}: pip install 'kgc-lite[view]'")
    newest = max(found, key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.parent.name)))
    return newest.read_text(encoding="utf-8")


def page_data(graph: KnowledgeGraph) -> dict:
    """The graph as the page's compact JSON: types, nodes, distinct edges with their occurrences, and sentences
    stored once. Occurrence rows: [doc, chunk, sentence index, unit_start, head_start, head_end, tail_start,
    tail_end, confidence, head_text, tail_text], null where unknown."""
    types: dict[str | None, int] = {}
    nodes = []
    for node in graph.nodes.values():
        t = types.setdefault(node.type, len(types))
        nodes.append({"id": node.id, "name": node.name, "t": t, "aliases": node.aliases,
                      "m": [[m.doc, m.chunk, m.start, m.end, m.text] for m in node.mentions]})
    sentences: dict[str, int] = {}
    edges: dict[tuple[str, str, str], dict] = {}
    for e in graph.edges:
        key = (e.head, e.relation, e.tail)
        edge = edges.get(key)
        if edge is None:
            edge = edges[key] = {"id": f"x{len(edges) + 1}", "from": e.head, "to": e.tail, "rel": e.relation,
                                 "occ": []}
        s = None if e.sentence is None else sentences.setdefault(e.sentence, len(sentences))
        edge["occ"].append([e.doc, e.chunk, s, e.unit_start, *(e.head_span or (None, None)),
                            *(e.tail_span or (None, None)), e.confidence, e.head_text, e.tail_text])
    for node, (x, y) in zip(nodes, layout(graph)):
        node["x"], node["y"] = x, y
    type_list = list(types)
    colours = {}
    for t in type_list:
        colours[t] = UNTYPED if t is None else PALETTE[(len(colours) - (None in colours)) % len(PALETTE)]
    return {"types": [{"name": t, "colour": colours[t]} for t in type_list], "nodes": nodes,
            "edges": list(edges.values()), "sentences": list(sentences), "occurrences": len(graph.edges),
            "large": len(nodes) > LARGE}


def check_available() -> None:
    """Fail now, with the one line naming the extra, if the view's dependencies are missing."""
    vis_network_js()
    _igraph()


def _igraph():
    try:
        import igraph
    except ImportError:
        raise KgcError("--format html needs igraph for the layout, which the view extra installs: "
                       "pip install 'kgc-lite[view]'") from None
    return igraph


def layout(graph: KnowledgeGraph, edge_length: float = 170.0, seed: int = 7) -> list[tuple[float, float]]:
    """Node positions, in graph.nodes order, in canvas pixels.

    Each connected component is laid out by igraph's Fruchterman-Reingold (its C code; the exact O(n^2) version
    up to GRID_FROM nodes, the grid-accelerated one above). The components are then packed side by side in
    rows, largest first (shelf packing, as graphviz's gvpack does), because a force layout of the whole graph
    lets thousands of unconnected pairs drift apart until every node is a speck. Seeded: the same graph gives
    the same picture. A KgcError naming the extra if igraph is missing."""
    igraph = _igraph()
    index = {node.id: i for i, node in enumerate(graph.nodes.values())}
    if not index:
        return []
    g = igraph.Graph(n=len(index), edges=sorted({(index[e.head], index[e.tail]) for e in graph.edges}))
    boxes = []  # (members, coordinates scaled to unit edges, width, height), largest component first
    igraph.set_random_number_generator(random.Random(seed))
    try:
        for members in sorted(g.connected_components(), key=len, reverse=True):
            if len(members) == 1:
                coords = [(0.0, 0.0)]
            else:
                sub = g.induced_subgraph(members)
                coords = sub.layout_fruchterman_reingold(grid=len(members) > GRID_FROM).coords
                lengths = sorted(math.dist(coords[a], coords[b]) for a, b in sub.get_edgelist() if a != b)
                unit = lengths[len(lengths) // 2] if lengths and lengths[len(lengths) // 2] > 0 else 1.0
                coords = [(x / unit, y / unit) for x, y in coords]
            xs, ys = [c[0] for c in coords], [c[1] for c in coords]
            coords = [(x - min(xs), y - min(ys)) for x, y in coords]
            boxes.append((members, coords, max(xs) - min(xs), max(ys) - min(ys)))
    finally:
        igraph.set_random_number_generator(random)
    gap = 1.0  # one edge length between components
    area = sum((w + gap) * (h + gap) for _, _, w, h in boxes)
    row_width = max(max(w for _, _, w, _ in boxes), math.sqrt(1.6 * area))  # landscape, as screens are
    positions: list[tuple[float, float]] = [(0.0, 0.0)] * len(index)
    x = y = row_height = 0.0
    for members, coords, w, h in boxes:
        if x > 0 and x + w > row_width:
            x, y, row_height = 0.0, y + row_height + gap, 0.0
        for member, (cx, cy) in zip(members, coords):
            positions[member] = (round((x + cx) * edge_length, 1), round((y + cy) * edge_length, 1))
        x += w + gap
        row_height = max(row_height, h)
    return positions


def _script_json(value) -> str:
    """JSON that is safe inside <script>: no '<' (so no '</script>' or '<!--'), and no U+2028/2029."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_html(graph: KnowledgeGraph, title: str = "kgc-lite graph") -> str:
    js = vis_network_js().replace("</script", "<\\/script")
    return (_PAGE.replace("@TITLE@", html.escape(title))
            .replace("@DATA@", _script_json(page_data(graph)))
            .replace("@VIS@", js))  # last: nothing is substituted inside the library


def write_html(graph: KnowledgeGraph, out: BinaryIO, title: str = "kgc-lite graph") -> None:
    out.write(render_html(graph, title).encode("utf-8"))


_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
  html, body { margin: 0; height: 100%; font: 13px/1.4 system-ui, sans-serif; color: #222; }
  body { display: flex; }
  #side { width: 340px; flex: none; overflow-y: auto; padding: 10px 12px; border-right: 1px solid #ccc;
          box-sizing: border-box; background: #fafafa; }
  #main { flex: 1; position: relative; }
  #graph { position: absolute; inset: 0; }
  #status { position: absolute; top: 8px; right: 10px; background: #fffc; padding: 2px 6px; border-radius: 3px; }
  h1 { font-size: 15px; margin: 0 0 6px; }
  h2 { font-size: 13px; margin: 12px 0 4px; }
  input[type=search] { width: 100%; box-sizing: border-box; }
  #relations { max-height: 180px; overflow-y: auto; }
  #relations label, #legend > span { display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 5px; }
  .occ { border-top: 1px solid #ddd; padding: 4px 0; }
  .meta { color: #666; font-size: 12px; }
  mark.h { background: #ffe08a; } mark.t { background: #b9e3ff; }
  a { color: #0645ad; cursor: pointer; }
</style>
</head>
<body>
<div id="side">
  <h1>@TITLE@</h1>
  <div id="counts" class="meta"></div>
  <h2>Search an entity</h2>
  <input id="search" type="search" placeholder="name or alias, then Enter">
  <div id="matches" class="meta"></div>
  <h2>Minimum confidence: <span id="confvalue">0</span></h2>
  <input id="confidence" type="range" min="0" max="1" step="0.05" value="0" style="width:100%">
  <div class="meta">Unscored triplets are always shown.</div>
  <h2>Relations <a id="allrel">all</a> / <a id="norel">none</a></h2>
  <div id="relations"></div>
  <h2>Entity types</h2>
  <div id="legend"></div>
  <h2>Details</h2>
  <div id="details"><span class="meta">Click a node or an edge.</span></div>
</div>
<div id="main"><div id="graph"></div><div id="status">loading…</div></div>
<script type="application/json" id="kg-data">@DATA@</script>
<script>@VIS@</script>
<script>
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("kg-data").textContent);
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text;
                                  if (cls) e.className = cls; return e; };
  const typeName = (t) => data.types[t].name === null ? "(untyped)" : data.types[t].name;
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const incident = new Map(data.nodes.map((n) => [n.id, []]));
  for (const e of data.edges) { incident.get(e.from).push(e); if (e.to !== e.from) incident.get(e.to).push(e); }
  const large = data.large;

  const nodes = new vis.DataSet(data.nodes.map((n) => ({
    id: n.id, label: n.name, value: n.m.length, color: data.types[n.t].colour, x: n.x, y: n.y })));
  const edges = new vis.DataSet(data.edges.map((e) => ({
    id: e.id, from: e.from, to: e.to, label: e.rel, value: e.occ.length })));
  // The page's address may override the layout, e.g. kg.html#iterations=100&solver=forceAtlas2Based.
  const hash = new URLSearchParams(location.hash.slice(1));
  const iterations = hash.has("iterations") ? parseInt(hash.get("iterations"), 10) : 0;
  const options = {
    layout: { improvedLayout: false, randomSeed: 7 },
    nodes: { shape: "dot", scaling: { min: 6, max: 24, label: { enabled: false } }, font: { size: 14 } },
    edges: { arrows: { to: { enabled: true, scaleFactor: 0.5 } }, color: { color: "#999", highlight: "#333" },
             font: { size: 10, color: "#555", strokeWidth: 3 }, smooth: false,
             scaling: { min: 1, max: 4, label: { enabled: false } } },
    physics: { enabled: iterations > 0, solver: hash.get("solver") || "barnesHut",
               barnesHut: { gravitationalConstant: -3000, springLength: 120,
                            avoidOverlap: parseFloat(hash.get("overlap") || "0.1") },
               stabilization: { iterations, updateInterval: 25 } },
    interaction: { hover: false, tooltipDelay: 300, hideEdgesOnDrag: large, hideEdgesOnZoom: large },
  };
  const t0 = performance.now();
  let layoutMs = 0;
  const status = $("status");
  function ready() {
    status.textContent = nodes.length + " nodes, " + edges.length + " edges";
    Object.assign(document.body.dataset, { ready: "1", nodes: nodes.length, edges: edges.length,
      occurrences: data.occurrences, loadMs: Math.round(performance.now() - t0), layoutMs });
  }
  const network = new vis.Network($("graph"), { nodes, edges }, options);
  window.kgView = { network, nodes, edges, data };
  if (nodes.length === 0) {
    ready();  // nothing to draw: vis-network reports nothing either
  } else if (iterations > 0) {  // refine the precomputed layout with physics, then switch physics off
    network.on("stabilizationProgress", (p) => {
      status.textContent = "laying out… " + Math.round(100 * p.iterations / p.total) + "%"; });
    network.once("stabilizationIterationsDone", () => {
      layoutMs = Math.round(performance.now() - t0);
      network.setOptions({ physics: false });
      network.fit();
      network.once("afterDrawing", ready);
      network.redraw();
    });
  } else {
    network.fit();
    network.once("afterDrawing", ready);
    network.redraw();
  }
  $("counts").textContent = data.nodes.length + " entities, " + data.edges.length + " distinct triplets, " +
    data.occurrences + " occurrences";

  // Legend and relation filters.
  data.types.forEach((t, i) => {
    const row = el("span"); const sw = el("span", "", "swatch"); sw.style.background = t.colour;
    row.append(sw, typeName(i) + " (" + data.nodes.filter((n) => n.t === i).length + ")"); $("legend").append(row);
  });
  const relCount = new Map();
  for (const e of data.edges) relCount.set(e.rel, (relCount.get(e.rel) || 0) + e.occ.length);
  const relBoxes = [...relCount.keys()].sort().map((rel) => {
    const label = el("label"); const box = el("input"); box.type = "checkbox"; box.checked = true; box.value = rel;
    box.addEventListener("change", applyFilters);
    label.append(box, " " + rel + " (" + relCount.get(rel) + ")"); $("relations").append(label); return box;
  });
  $("allrel").onclick = () => { relBoxes.forEach((b) => { b.checked = true; }); applyFilters(); };
  $("norel").onclick = () => { relBoxes.forEach((b) => { b.checked = false; }); applyFilters(); };
  $("confidence").addEventListener("input", () => { $("confvalue").textContent = $("confidence").value;
                                                     applyFilters(); });

  const passes = (o, min) => o[8] === null || o[8] >= min;
  function applyFilters() {
    const rels = new Set(relBoxes.filter((b) => b.checked).map((b) => b.value));
    const min = parseFloat($("confidence").value);
    const shown = new Set(); const edgeUpdates = [];
    for (const e of data.edges) {
      const visible = rels.has(e.rel) && e.occ.some((o) => passes(o, min));
      if (visible) { shown.add(e.from); shown.add(e.to); }
      edgeUpdates.push({ id: e.id, hidden: !visible });
    }
    edges.update(edgeUpdates);
    nodes.update(data.nodes.map((n) => ({ id: n.id, hidden: !shown.has(n.id) })));
    status.textContent = shown.size + " of " + nodes.length + " nodes, " +
      edgeUpdates.filter((u) => !u.hidden).length + " of " + edges.length + " edges shown";
  }

  // Search by name or alias.
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    const q = $("search").value.trim().toLowerCase();
    if (!q) return;
    const hits = data.nodes.filter((n) => n.aliases.some((a) => a.toLowerCase().includes(q)));
    const box = $("matches"); box.replaceChildren(hits.length + " match" + (hits.length === 1 ? "" : "es"));
    for (const n of hits.slice(0, 50)) { box.append(el("br"), link(n)); }
    if (hits.length) {
      network.selectNodes(hits.map((n) => n.id));
      network.fit({ nodes: hits.map((n) => n.id), animation: false });
      if (hits.length === 1) showNode(hits[0].id);
    }
  });

  function link(n) {
    const a = el("a", n.name + " [" + typeName(n.t) + "]");
    a.onclick = () => { network.selectNodes([n.id]); network.focus(n.id, { scale: 1.2 }); showNode(n.id); };
    return a;
  }
  function sentenceView(o) {  // the sentence with the head and tail marked where the offsets say
    const s = o[2] === null ? null : data.sentences[o[2]];
    const div = el("div");
    if (s === null) { div.append(el("i", "(no sentence recorded)")); return div; }
    const marks = [];
    if (o[3] !== null) {
      for (const [a, b, cls] of [[o[4], o[5], "h"], [o[6], o[7], "t"]])
        if (a !== null && a - o[3] >= 0 && b - o[3] <= s.length) marks.push([a - o[3], b - o[3], cls]);
    }
    marks.sort((x, y) => x[0] - y[0]);
    let at = 0;
    for (const [a, b, cls] of marks) {
      if (a < at) continue;
      div.append(s.slice(at, a), el("mark", s.slice(a, b), cls)); at = b;
    }
    div.append(s.slice(at));
    return div;
  }
  const span = (a, b) => a === null ? "?" : a + "–" + b;
  function occurrence(e, o) {
    const box = el("div", undefined, "occ");
    box.append(el("b", o[9] + " —" + e.rel + "→ " + o[10]), sentenceView(o),
      el("div", "doc " + o[0] + (o[1] === null ? "" : ", chunk " + o[1]) + "; head " + span(o[4], o[5]) +
         ", tail " + span(o[6], o[7]) + "; confidence " + (o[8] === null ? "none" : o[8]), "meta"));
    return box;
  }
  function showOccurrences(target, list) {
    for (const [e, o] of list.slice(0, 200)) target.append(occurrence(e, o));
    if (list.length > 200) target.append(el("div", "… and " + (list.length - 200) + " more", "meta"));
  }
  function showNode(id) {
    const n = byId.get(id); const d = $("details"); d.replaceChildren();
    d.append(el("h2", n.name), el("div", "type: " + typeName(n.t) + "; " + n.m.length + " mention" +
      (n.m.length === 1 ? "" : "s") + "; aliases: " + n.aliases.join(" | ")));
    const list = [];
    for (const e of incident.get(id)) for (const o of e.occ) list.push([e, o]);
    showOccurrences(d, list);
  }
  function showEdge(id) {
    const e = data.edges.find((x) => x.id === id); const d = $("details"); d.replaceChildren();
    const h = el("h2"); h.append(link(byId.get(e.from)), " —" + e.rel + "→ ", link(byId.get(e.to)));
    d.append(h, el("div", e.occ.length + " occurrence" + (e.occ.length === 1 ? "" : "s")));
    showOccurrences(d, e.occ.map((o) => [e, o]));
  }
  network.on("click", (p) => {
    if (p.nodes.length) showNode(p.nodes[0]); else if (p.edges.length) showEdge(p.edges[0]);
  });
})();
</script>
</body>
</html>
"""
