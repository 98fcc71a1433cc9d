"""The exports loaded into real stores and asked questions: Turtle into pyoxigraph (SPARQL), GraphML into
networkx. Counts must equal what the JSONL of a CoNLL04 test run implies, and provenance comes back."""

import re

import networkx as nx
import orjson
import pytest

from kgc_lite.graph.graph import normalize_name

from .conftest import FIXTURES, ROOT, run_cli

CONLL04_RUN = FIXTURES / "conll04_test_run.jsonl"  # `kgc-lite extract` on CoNLL04 test, default model
PREFIXES = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX kgc: <urn:kgc-lite:vocab:>
"""


def jsonl_facts(path):
    """What the JSONL implies, counted from the records themselves (not through kgc_lite.graph.graph)."""
    records = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    triplets = [(r, t) for r in records for t in r.get("triplets", [])]
    key = lambda t, role: (normalize_name(t[role]), t.get(f"{role}_type") or None)  # noqa: E731
    return {"records": records, "triplets": triplets,
            "entities": {key(t, role) for _, t in triplets for role in ("head", "tail")},
            "relations": {t["relation"] for _, t in triplets},
            "distinct": {(key(t, "head"), t["relation"], key(t, "tail")) for _, t in triplets}}


def _export(source, *args):
    result = run_cli("export", str(source), *args, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def _sparql_count(store, where):
    (row,) = list(store.query(PREFIXES + f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}"))
    return int(row["n"].value)


def test_turtle_in_pyoxigraph_counts_and_provenance():
    ox = pytest.importorskip("pyoxigraph", reason="pip install pyoxigraph (the test extra)")
    facts = jsonl_facts(CONLL04_RUN)
    store = ox.Store()  # in memory
    store.load(_export(CONLL04_RUN, "--format", "ttl"), format=ox.RdfFormat.TURTLE)
    assert _sparql_count(store, "?e a kgc:Entity") == len(facts["entities"]) > 300
    assert _sparql_count(store, "?p a rdf:Property") == len(facts["relations"])
    assert _sparql_count(store, "?s ?p ?o . ?p a rdf:Property") == len(facts["distinct"])
    assert _sparql_count(store, "?st a rdf:Statement") == len(facts["triplets"])
    assert _sparql_count(store, "?d a kgc:Document") == len({r["id"] for r, t in facts["triplets"]})

    # Provenance, asked as a person would: which organizations are based in <place>, from which sentences?
    record, triplet = next((r, t) for r, t in facts["triplets"] if t["relation"] == "Organization_based_in"
                           and t.get("tail_type") and "head_span" in t and "tail_span" in t)
    tail_key = (normalize_name(triplet["tail"]), triplet["tail_type"])
    (place,) = {str(row["l"].value) for row in store.query(  # the node's label: its most frequent surface form
        PREFIXES + "SELECT ?l WHERE { ?e a kgc:Entity ; rdfs:label ?l }") if normalize_name(row["l"].value)
        == tail_key[0]} & {t[role] for _, t in facts["triplets"] for role in ("head", "tail")}
    query = PREFIXES + """SELECT ?org ?doc ?sentence ?unit ?hs ?he ?ts ?te WHERE {
        ?st rdf:subject ?o ; rdf:predicate ?p ; rdf:object ?where ; kgc:doc ?d ; kgc:sentence ?sentence ;
            kgc:unitStart ?unit ; kgc:headStart ?hs ; kgc:headEnd ?he ; kgc:tailStart ?ts ; kgc:tailEnd ?te .
        ?p rdfs:label "Organization_based_in" . ?o rdfs:label ?org . ?d rdfs:label ?doc .
        ?where rdfs:label ?place ; a ?cls . ?cls rdfs:label ?placeType .
        VALUES (?place ?placeType) { (%s %s) } }""" % (ox.Literal(place), ox.Literal(tail_key[1]))
    rows = list(store.query(query))
    got = {(str(r["doc"].value), r["sentence"].value, int(r["unit"].value), int(r["hs"].value),
            int(r["he"].value), int(r["ts"].value), int(r["te"].value)) for r in rows}
    expected = {(str(r["id"]), r["text"], r["start"], *t["head_span"], *t["tail_span"])
                for r, t in facts["triplets"] if t["relation"] == "Organization_based_in"
                and (normalize_name(t["tail"]), t.get("tail_type")) == tail_key and "head_span" in t}
    assert got == expected and (str(record["id"]), record["text"]) in {(g[0], g[1]) for g in got}
    for doc, sentence, unit, hs, he, ts, te in got:  # the offsets point at the head and tail in the sentence
        assert normalize_name(sentence[ts - unit:te - unit]) == tail_key[0]
        assert sentence[hs - unit:he - unit] in {t["head"] for _, t in facts["triplets"]}


def test_graphml_in_networkx_counts_and_provenance(tmp_path):
    facts = jsonl_facts(CONLL04_RUN)
    out = tmp_path / "kg.graphml"
    _export(CONLL04_RUN, "-f", "graphml", "-o", str(out))
    g = nx.read_graphml(out, force_multigraph=True)
    assert g.number_of_nodes() == len(facts["entities"])
    assert g.number_of_edges() == len(facts["triplets"])
    assert len({(u, a["relation"], v) for u, v, a in g.edges(data=True)}) == len(facts["distinct"])
    assert {a["relation"] for _, _, a in g.edges(data=True)} == facts["relations"]
    by_key = {(normalize_name(a["name"]), a.get("type")): n for n, a in g.nodes(data=True)}
    assert set(by_key) == facts["entities"]
    for record, t in facts["triplets"][:50]:  # each occurrence is an edge carrying its sentence and offsets
        head, tail = (by_key[(normalize_name(t[r]), t.get(f"{r}_type"))] for r in ("head", "tail"))
        edges = [a for a in g.get_edge_data(head, tail).values() if a["relation"] == t["relation"]
                 and a["doc"] == str(record["id"]) and a["sentence"] == record["text"]]
        assert edges and all(a.get("confidence") == t.get("confidence") for a in edges)
        if "head_span" in t:
            assert [a["head_start"] - a["unit_start"] for a in edges][0] == t["head_span"][0] - record["start"]


def test_the_readmes_sparql_example_answers(tmp_path, monkeypatch, capsys):
    """The README's pyoxigraph snippet, run as written on a graph where Microsoft is based in Redmond."""
    pytest.importorskip("pyoxigraph", reason="pip install pyoxigraph (the test extra)")
    text = "Microsoft is based in Redmond ."
    record = {"id": "news.txt", "chunk": 1, "start": 97, "end": 97 + len(text), "text": text, "triplets": [
        {"head": "Microsoft", "relation": "Organization_based_in", "tail": "Redmond", "head_type": "Organization",
         "tail_type": "Location", "head_span": [97, 106], "tail_span": [119, 126], "confidence": 0.8},
        {"head": "Microsoft", "relation": "Work_for", "tail": "Redmond", "head_type": "Organization",
         "tail_type": "Location", "head_span": [97, 106], "tail_span": [119, 126]}]}
    source = tmp_path / "news.jsonl"
    source.write_bytes(orjson.dumps(record) + b"\n")
    (tmp_path / "kg.ttl").write_bytes(_export(source, "-f", "ttl"))
    readme = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(import pyoxigraph.*?)```", readme, re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})
    assert capsys.readouterr().out == f"Microsoft 97 106 {text}\n"
