"""`kgc-lite export --format html` opened in a real browser (headless Debian Chromium): the counts the page
reports against the JSONL, the filters, search and click-for-details, escaping, offline loading, a missing extra."""

import importlib.util
import os

import orjson
import pytest

from kgc_lite.errors import KgcError
from kgc_lite.graph.graph import normalize_name
from kgc_lite.graph.view import check_available, vis_network_js

from .browser import page
from .conftest import FIXTURES, run_cli
from .test_export import RECORDS, S1, S2, S3

if importlib.util.find_spec("pyvis") is None:  # found, not imported: the view needs only its JavaScript file
    pytest.skip("pip install 'kgc-lite[view]'", allow_module_level=True)
CONLL04_RUN = FIXTURES / "conll04_test_run.jsonl"  # `kgc-lite extract` on CoNLL04 test, default model


def expected_counts(path):
    """Nodes, distinct edges and occurrences the JSONL implies, counted here from the records themselves."""
    nodes, edges, occurrences = set(), set(), 0
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        for t in record.get("triplets", []):
            head = (normalize_name(t["head"]), t.get("head_type") or None)
            tail = (normalize_name(t["tail"]), t.get("tail_type") or None)
            nodes |= {head, tail}
            edges.add((head, t["relation"], tail))
            occurrences += 1
    return len(nodes), len(edges), occurrences


def _html(tmp_path, source, *args):
    out = tmp_path / "kg.html"
    result = run_cli("export", str(source), "--format", "html", "-o", str(out), *args, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return out


def _counts(tab):
    data = tab.evaluate("({...document.body.dataset})")
    return int(data["nodes"]), int(data["edges"]), int(data["occurrences"])


def test_a_conll04_run_opens_in_chromium_with_the_jsonl_counts(tmp_path):
    nodes, edges, occurrences = expected_counts(CONLL04_RUN)
    assert nodes > 300 and occurrences > 300  # a real run, not a toy
    out = _html(tmp_path, CONLL04_RUN)
    assert b"<script src" not in out.read_bytes() and b"https://" not in out.read_bytes().split(b"<script>")[0]
    with page(out.as_uri()) as (tab, seen):
        assert _counts(tab) == (nodes, edges, occurrences)
        assert tab.text_content("#status") == f"{nodes} nodes, {edges} edges"
        shot = tmp_path / "conll04.png"
        tab.screenshot(path=str(shot))
    assert seen == {"errors": [], "requests": []}  # no script error, nothing fetched from the network
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def _write(tmp_path, records, name="kg.jsonl"):
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _shown(tab):
    return tab.evaluate("[kgView.nodes.get({filter: (n) => !n.hidden}).length, "
                        "kgView.edges.get({filter: (e) => !e.hidden}).length]")


def _click(tab, what, ids):
    """A real mouse click on a node, or on the middle of an edge, where vis-network drew it."""
    x, y = tab.evaluate("""([what, ids]) => {
        const net = kgView.network, pos = net.getPositions(ids);
        const p = what === "node" ? pos[ids[0]] : {x: (pos[ids[0]].x + pos[ids[1]].x) / 2,
                                                   y: (pos[ids[0]].y + pos[ids[1]].y) / 2};
        const dom = net.canvasToDOM(p), box = document.getElementById("graph").getBoundingClientRect();
        return [box.left + dom.x, box.top + dom.y]; }""", [what, ids])
    tab.mouse.click(x, y)


def test_filters_search_and_details(tmp_path):
    out = _html(tmp_path, _write(tmp_path, RECORDS))
    with page(out.as_uri()) as (tab, seen):
        assert _counts(tab) == (8, 6, 7) and _shown(tab) == [8, 6]
        slide = "(v) => { const s = document.getElementById('confidence'); s.value = v; " \
                "s.dispatchEvent(new Event('input')); }"
        tab.evaluate(slide, "0.5")  # drops Live_in at 0.3; unscored edges stay
        assert _shown(tab) == [8, 5]
        tab.evaluate(slide, "0.95")  # drops Work_for at 0.9 too, and with it Satya Nadella
        assert _shown(tab) == [7, 4] and tab.text_content("#status") == "7 of 8 nodes, 4 of 6 edges shown"
        tab.evaluate(slide, "0")
        tab.uncheck("#relations input[value=Work_for]")
        assert _shown(tab) == [5, 3]  # Nadella, Bill Gates and the untyped Microsoft have only Work_for edges
        tab.click("#allrel")
        assert _shown(tab) == [8, 6]

        tab.fill("#search", "microsoft")
        tab.press("#search", "Enter")
        assert tab.text_content("#matches").startswith("2 matches")
        assert len(tab.evaluate("kgView.network.getSelectedNodes()")) == 2

        ids = tab.evaluate("Object.fromEntries(kgView.data.nodes.map((n) => [n.name + '/' + n.t, n.id]))")
        satya = ids["Satya Nadella/0"]
        _click(tab, "node", [satya])
        details = tab.text_content("#details")
        assert details.startswith("Satya Nadella") and S1 in details and "confidence 0.9" in details
        assert "head 0–13, tail 39–48" in details
        marks = tab.eval_on_selector_all("#details mark", "(ms) => ms.map((m) => m.textContent)")
        assert marks[:2] == ["Satya Nadella", "Microsoft"]

        microsoft, redmond = ids["Microsoft/1"], ids["Redmond , Washington/2"]
        tab.evaluate("(ids) => kgView.network.fit({nodes: ids, animation: false})", [microsoft, redmond])
        _click(tab, "edge", [microsoft, redmond])
        details = tab.text_content("#details")
        assert "2 occurrences" in details and S2 in details and S3 in details
        assert "doc d2, chunk 0; head 0–9, tail 21–42; confidence none" in details
    assert seen == {"errors": [], "requests": []}


def test_hostile_names_stay_text(tmp_path):
    evil = ["</script><script>window.pwned = 1</script>", "<img src=x onerror='window.pwned = 1'>", "<!--",
            "a\u2028b", "&amp; \"quoted\""]
    records = [{"id": f"d{i}", "text": f"{name} likes x", "triplets": [
        {"head": name, "relation": "Likes </script>", "tail": "x", "head_type": "<b>T</b>"}]}
        for i, name in enumerate(evil)]
    out = _html(tmp_path, _write(tmp_path, records))
    with page(out.as_uri()) as (tab, seen):
        assert _counts(tab) == (len(evil) + 1, len(evil), len(evil))
        assert tab.evaluate("window.pwned") is None
        names = tab.evaluate("kgView.data.nodes.map((n) => n.name)")
        assert set(names) == set(evil) | {"x"}
        tab.fill("#search", "script")
        tab.press("#search", "Enter")
        assert evil[0] + " [<b>T</b>]" in tab.text_content("#matches")
    assert seen["errors"] == [] and seen["requests"] == []  # the <img src=x> was never made an element


def test_an_empty_graph_still_loads(tmp_path):
    out = _html(tmp_path, _write(tmp_path, [{"id": "a", "text": "Nothing.", "triplets": []}]))
    with page(out.as_uri()) as (tab, seen):
        assert _counts(tab) == (0, 0, 0)
    assert seen["errors"] == []


def test_without_the_view_extra_it_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(KgcError, match=r"pip install 'kgc-lite\[view\]'"):
        vis_network_js()
    fake = tmp_path / "site" / "pyvis"  # a pyvis without vis-network inside, ahead of the real one
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    out = tmp_path / "kg.html"
    result = run_cli("export", str(_write(tmp_path, RECORDS)), "-f", "html", "-o", str(out),
                     env={"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])})
    err = result.stderr.decode()
    assert result.returncode == 1 and err.count("\n") == 1 and "kgc-lite[view]" in err, err
    assert not out.exists()


def test_without_igraph_it_is_one_line(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "igraph", None)  # import igraph now raises ImportError
    with pytest.raises(KgcError, match=r"needs igraph .* pip install 'kgc-lite\[view\]'"):
        check_available()


def test_physics_on_request_moves_nodes_and_still_reports_ready(tmp_path):
    out = _html(tmp_path, _write(tmp_path, RECORDS))
    positions = "Object.values(kgView.network.getPositions()).map((p) => [Math.round(p.x), Math.round(p.y)])"
    with page(out.as_uri()) as (tab, _):
        still = tab.evaluate(positions)
    with page(out.as_uri() + "#iterations=60") as (tab, seen):
        assert _counts(tab) == (8, 6, 7) and int(tab.evaluate("document.body.dataset.layoutMs")) > 0
        assert tab.evaluate(positions) != still
        assert tab.evaluate("kgView.network.physics.physicsEnabled") is False  # switched off once laid out
    assert seen["errors"] == []


def test_a_5000_node_graph_renders(tmp_path):
    """Copies of the CoNLL04 run, names tagged per copy so they do not merge (as scripts/bench_view.py does)."""
    records = [orjson.loads(line) for line in CONLL04_RUN.read_bytes().splitlines()]
    copies = [{**r, "id": f"{r['id']} #{i}", "triplets": [{**t, "head": f"{t['head']} #{i}",
                                                           "tail": f"{t['tail']} #{i}"} for t in r["triplets"]]}
              for i in range(10) for r in records]
    source = _write(tmp_path, copies)
    nodes, edges, occurrences = expected_counts(source)
    assert nodes >= 5000
    with page(_html(tmp_path, source).as_uri(), timeout_s=120) as (tab, seen):
        assert _counts(tab) == (nodes, edges, occurrences)
        before = tab.evaluate("kgView.network.getViewPosition()")
        tab.mouse.move(800, 400)
        tab.mouse.down()
        tab.mouse.move(900, 450, steps=5)
        tab.mouse.up()
        assert tab.evaluate("kgView.network.getViewPosition()") != before  # it pans
    assert seen["errors"] == []
