"""`kgc-lite export`: every format through the CLI, read back by its own library; merging rules; IRI safety."""

import csv
import io
import json
import re

import networkx as nx
import orjson
import pytest
import rdflib
import rdflib.compare
from rdflib.namespace import RDF, RDFS, SKOS

from kgc_lite.graph.export import VOCAB, entity_iri, iri_part, to_rdf, write_rdf
from kgc_lite.graph.graph import KnowledgeGraph, normalize_name

from .conftest import ROOT, run_cli

KGC = rdflib.Namespace(VOCAB)
S1 = "Satya Nadella , the chief executive of Microsoft , spoke in Redmond , Washington ."
S2 = "Microsoft is based in Redmond , Washington ."
S3 = 'MICROSOFT , based in "Redmond, Washington", hired Nadella .'

RECORDS = [
    {"id": "d1", "chunk": 0, "start": 0, "end": len(S1), "text": S1, "triplets": [
        {"head": "Satya Nadella", "relation": "Work_for", "tail": "Microsoft", "head_type": "Person",
         "tail_type": "Organization", "head_span": [0, 13], "tail_span": [39, 48], "confidence": 0.9},
        {"head": "Satya Nadella", "relation": "Live_in", "tail": "Redmond , Washington", "head_type": "Person",
         "tail_type": "Location", "head_span": [0, 13], "tail_span": [60, 80], "confidence": 0.3}]},
    {"id": "d1", "chunk": 1, "start": len(S1) + 1, "end": len(S1) + 1 + len(S2), "text": S2, "triplets": [
        {"head": "Microsoft", "relation": "Organization_based_in", "tail": "Redmond , Washington",
         "head_type": "Organization", "tail_type": "Location", "head_span": [84, 93], "tail_span": [106, 126]}]},
    {"id": "d2", "chunk": 0, "start": 0, "end": len(S3), "text": S3, "triplets": [
        {"head": "MICROSOFT", "relation": "Organization_based_in", "tail": '"Redmond, Washington"',
         "head_type": "Organization", "tail_type": "Location", "head_span": [0, 9], "tail_span": [21, 42]},
        {"head": "Nadella", "relation": "Work_for", "tail": "MICROSOFT", "head_type": "Person",
         "tail_type": "Organization", "head_span": [50, 57], "tail_span": [0, 9]}]},
    {"id": "d3", "error": "d3: not valid JSON"},
    {"id": "d4", "chunk": 0, "start": 0, "end": 27, "text": "Washington met Washington .", "triplets": [
        {"head": "Washington", "relation": "Live_in", "tail": "Washington", "head_type": "Person",
         "tail_type": "Location", "head_span": [0, 10], "tail_span": [15, 25]}]},
    {"id": "d5", "chunk": 0, "start": 0, "end": 13, "text": "Nothing here.", "triplets": []},
    {"id": "d6", "chunk": 0, "start": 0, "end": 26, "text": "Bill Gates Microsoft text.", "triplets": [
        {"head": "Bill Gates", "relation": "Work_for", "tail": "Microsoft"}]},
]
# What RECORDS imply. Nodes: Satya Nadella/Person, Microsoft/Organization (+ MICROSOFT), Redmond , Washington/
# Location (+ "Redmond, Washington" in quotes), Nadella/Person, Washington/Person, Washington/Location,
# Bill Gates/untyped, Microsoft/untyped. Edges: one per triplet. (Microsoft, based in, Redmond, Washington) occurs
# twice, so RDF asserts 6 distinct triples.
NODES, EDGES, DISTINCT_TRIPLES, MENTIONS = 8, 7, 6, 12


@pytest.fixture
def records_file(tmp_path):
    path = tmp_path / "triplets.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in RECORDS))
    return path


def _export(*args, input=None):
    result = run_cli("export", *args, input=input, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result


def _check_summary(stderr: bytes):
    line = stderr.decode().strip().splitlines()[0]
    assert line.startswith(f"kgc-lite: export: {NODES} nodes from {MENTIONS} mentions"), line
    assert f"{EDGES} edges" in line and "1 error records skipped" in line, line


@pytest.mark.parametrize("fmt,rdf_format", [("ntriples", "nt"), ("turtle", "turtle"), ("jsonld", "json-ld")])
def test_rdf_formats_parse_back_with_the_implied_counts(records_file, fmt, rdf_format):
    result = _export(str(records_file), "--format", fmt)
    _check_summary(result.stderr)
    g = rdflib.Graph().parse(data=result.stdout.decode(), format=rdf_format)
    entities = set(g.subjects(RDF.type, KGC.Entity))
    statements = set(g.subjects(RDF.type, RDF.Statement))
    asserted = [t for t in g if str(t[1]).startswith("urn:kgc-lite:relation/")]
    assert (len(entities), len(statements), len(asserted)) == (NODES, EDGES, DISTINCT_TRIPLES)
    for st in statements:  # every reified occurrence points at an asserted triple
        assert (g.value(st, RDF.subject), g.value(st, RDF.predicate), g.value(st, RDF.object)) in g
    microsoft = rdflib.URIRef("urn:kgc-lite:entity/Organization/microsoft")
    assert g.value(microsoft, RDFS.label) == rdflib.Literal("Microsoft")  # 2 mentions against 1
    assert set(g.objects(microsoft, SKOS.altLabel)) == {rdflib.Literal("MICROSOFT")}
    confident = [st for st in statements if g.value(st, KGC.confidence) is not None]
    assert sorted(g.value(st, KGC.confidence).toPython() for st in confident) == [0.3, 0.9]
    first = next(st for st in confident if g.value(st, KGC.confidence).toPython() == 0.9)
    assert g.value(first, KGC.sentence).toPython() == S1
    assert (g.value(first, KGC.headStart).toPython(), g.value(first, KGC.tailEnd).toPython()) == (0, 48)


@pytest.mark.parametrize("fmt,rdf_format", [("ntriples", "nt"), ("turtle", "turtle")])
def test_rdf_written_in_small_batches_is_the_same_graph(fmt, rdf_format):
    graph = KnowledgeGraph().add_records(("x", r) for r in RECORDS)
    whole, batched = io.BytesIO(), io.BytesIO()
    write_rdf(graph, fmt, whole)
    write_rdf(graph, fmt, batched, batch=7)
    assert batched.getvalue().count(b"@prefix kgc:" if fmt == "turtle" else b"\n") > 7
    a, b = (rdflib.Graph().parse(data=out.getvalue().decode(), format=rdf_format) for out in (whole, batched))
    assert len(a) == len(b) == len(to_rdf(graph)) and rdflib.compare.isomorphic(a, b)


def test_neo4j_csvs_and_command(records_file, tmp_path):
    out = tmp_path / "neo"
    result = _export(str(records_file), "-f", "neo4j", "-o", str(out))
    _check_summary(result.stderr)
    command = result.stderr.decode().strip().splitlines()[-1]
    assert command == (f"kgc-lite: import with: neo4j-admin database import full --nodes={out / 'nodes.csv'} "
                       f"--relationships={out / 'relationships.csv'} neo4j")
    with open(out / "nodes.csv", newline="", encoding="utf-8") as f:
        nodes = list(csv.reader(f))
    with open(out / "relationships.csv", newline="", encoding="utf-8") as f:
        rels = list(csv.reader(f))
    assert nodes[0][:5] == ["id:ID", "name", "type", ":LABEL", "aliases:string[]"]
    assert rels[0][:4] == [":START_ID", ":END_ID", ":TYPE", "doc"]
    assert {"sentence", "confidence:float", "head_start:int", "tail_end:int", "chunk:int"} <= set(rels[0])
    assert (len(nodes) - 1, len(rels) - 1) == (NODES, EDGES)
    by_id = {row[0]: dict(zip(nodes[0], row)) for row in nodes[1:]}
    assert len(by_id) == NODES and all(r[0] in by_id and r[1] in by_id for r in rels[1:])
    microsoft = next(n for n in by_id.values() if n["name"] == "Microsoft" and n["type"] == "Organization")
    assert microsoft[":LABEL"].split(";") == ["Entity", "Organization"]
    assert microsoft["aliases:string[]"].split(";") == ["Microsoft", "MICROSOFT"]
    untyped = [n for n in by_id.values() if n["type"] == ""]
    assert sorted(n["name"] for n in untyped) == ["Bill Gates", "Microsoft"]
    assert all(n[":LABEL"] == "Entity" for n in untyped)
    row = dict(zip(rels[0], rels[1]))
    assert (row[":TYPE"], row["doc"], row["sentence"], row["confidence:float"]) == ("Work_for", "d1", S1, "0.9")


def test_neo4j_picks_another_array_delimiter_when_an_alias_has_a_semicolon(tmp_path):
    path = tmp_path / "semi.jsonl"
    path.write_bytes(orjson.dumps({"id": "x", "triplets": [{"head": "A;B", "relation": "r", "tail": "C\nD"}]}))
    result = _export(str(path), "-f", "neo4j", "-o", str(tmp_path / "neo"))
    command = result.stderr.decode().strip().splitlines()[-1]
    assert "--array-delimiter=U+007C" in command and "--multiline-fields=true" in command
    with open(tmp_path / "neo" / "nodes.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["aliases:string[]"] for r in rows] == ["A;B", "C\nD"]


def test_graphml_reads_back_in_networkx(records_file, tmp_path):
    out = tmp_path / "kg.graphml"
    _export(str(records_file), "-o", str(out))  # format from the suffix
    g = nx.read_graphml(out, force_multigraph=True)
    assert isinstance(g, nx.MultiDiGraph) and (g.number_of_nodes(), g.number_of_edges()) == (NODES, EDGES)
    microsoft = next(a for _, a in g.nodes(data=True) if a["name"] == "Microsoft" and a.get("type"))
    assert json.loads(microsoft["aliases"]) == ["Microsoft", "MICROSOFT"] and microsoft["mention_count"] == 3
    assert json.loads(microsoft["mentions"])[0] == ["d1", 0, 39, 48]
    confidences = sorted(a["confidence"] for _, _, a in g.edges(data=True) if "confidence" in a)
    assert confidences == [0.3, 0.9]


@pytest.mark.parametrize("fmt,delimiter", [("csv", ","), ("tsv", "\t")])
def test_tables_have_one_row_per_triplet(records_file, fmt, delimiter):
    result = _export(str(records_file), "-f", fmt)
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode()), delimiter=delimiter))
    assert len(rows) == EDGES
    assert len({r["head_id"] for r in rows} | {r["tail_id"] for r in rows}) == NODES
    assert [(r["head"], r["relation"], r["tail"]) for r in rows] == [
        (t["head"], t["relation"], t["tail"]) for r in RECORDS for t in r.get("triplets", [])]
    assert rows[2]["tail_name"] == "Redmond , Washington" and rows[3]["tail"] == '"Redmond, Washington"'
    assert rows[2]["tail_id"] == rows[3]["tail_id"]
    assert rows[0]["sentence"] == S1 and rows[0]["confidence"] == "0.9" and rows[2]["confidence"] == ""


def test_stdin_and_several_files_make_one_graph(records_file):
    one = _export(str(records_file), "-f", "csv")
    twice = _export(str(records_file), "-", "-f", "csv", input=records_file.read_bytes())
    assert len(twice.stdout.decode().splitlines()) - 1 == 2 * EDGES
    assert f"{NODES} nodes from {MENTIONS} mentions" in twice.stderr.decode()  # same mentions: nothing new
    assert len(one.stdout.decode().splitlines()) - 1 == EDGES


def test_min_confidence_drops_only_low_confidence_triplets(records_file):
    result = _export(str(records_file), "-f", "tsv", "--min-confidence", "0.5")
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode()), delimiter="\t"))
    assert len(rows) == EDGES - 1 and "Live_in" not in {r["relation"] for r in rows if r["doc"] == "d1"}
    assert sum(r["confidence"] == "" for r in rows) == 5  # unscored triplets are kept
    assert "1 triplets below --min-confidence dropped" in result.stderr.decode()
    strict = _export(str(records_file), "-f", "tsv", "--min-confidence", "0.95")
    assert len(strict.stdout.decode().splitlines()) - 1 == EDGES - 2


# (a, b, merged?) — what the normalization equates and what it must keep apart.
MERGES = [
    ("Microsoft", "MICROSOFT", True),
    ("U.S .", "U.S.", True),
    ("Redmond , Washington", "Redmond, Washington", True),
    ("New  York", " New York ", True),
    ('"Microsoft"', "Microsoft", True),
    ("( Microsoft )", "Microsoft", True),
    ("``Microsoft''", "Microsoft", True),
    ("«Le Monde»", "Le Monde", True),
    ("'Ford's Theatre'", "Ford's Theatre", True),
    ("Ford 's Theatre", "Ford's Theatre", True),
    ("ｍｉｃｒｏｓｏｆｔ", "microsoft", True),
    ("Straße", "STRASSE", True),
    ("New\u00a0York", "New York", True),
    ("Acme ( UK )", "Acme (UK)", True),
    ("Microsoft", "Microsoft Corp.", False),
    ("Microsoft Corp", "Microsoft Corp.", False),
    ("US", "U.S.", False),
    ("U.S.", "United States", False),
    ("Zoë", "Zoe", False),
    ("Jean-Paul", "Jean - Paul", False),
    ("Redmond,Washington", "Redmond, Washington", False),
    ("(a) and (b)", "a) and (b", False),
    ("'a' and 'b'", "a' and 'b", False),
    ("Nadella", "Satya Nadella", False),
    ("Apple", "Apples", False),
    ("I.B.M.", "IBM", False),
]


@pytest.mark.parametrize("a,b,merged", MERGES)
def test_merging_rules(a, b, merged):
    assert (normalize_name(a) == normalize_name(b)) is merged
    graph = KnowledgeGraph()
    graph.add_record({"id": "x", "triplets": [{"head": a, "relation": "r", "tail": b, "head_type": "T",
                                               "tail_type": "T"}]})
    assert len(graph.nodes) == (1 if merged else 2)


@pytest.mark.parametrize("types", [("Person", "Location"), ("Person", None), ("person", "Person")])
def test_different_types_never_merge(types):
    graph = KnowledgeGraph()
    t = {"head": "Washington", "relation": "r", "tail": "Washington"}
    t.update({k: v for k, v in zip(("head_type", "tail_type"), types) if v is not None})
    graph.add_record({"id": "x", "triplets": [t]})
    assert len(graph.nodes) == 2


NASTY = ["Zoë Müller", 'He said "hi"', "<script>", "a#b", "50% off", "C++ / C#", "東京", "back\\slash",
         "tab\there", "new\nline", "..", ".", "a/b?c=d&e", "{x|y}^`~", "🙂 emoji", "form\x0cfeed", "%20"]


def test_iris_are_escaped_and_labels_round_trip(tmp_path):
    path = tmp_path / "nasty.jsonl"
    triplets = [{"head": name, "relation": "has spaces & <odd> #rel", "tail": "Tail", "head_type": "My Type/#1"}
                for name in NASTY]
    path.write_bytes(orjson.dumps({"id": "doc with spaces/#?", "chunk": 0, "start": 0, "end": 1,
                                   "text": "sentence\x0cwith a form feed", "triplets": triplets}))
    for fmt, rdf_format in (("ntriples", "nt"), ("turtle", "turtle"), ("jsonld", "json-ld")):
        result = _export(str(path), "-f", fmt, "--base", "http://example.org/kg/")
        g = rdflib.Graph().parse(data=result.stdout.decode(), format=rdf_format)
        labels = {str(g.value(s, RDFS.label)): s for s in g.subjects(RDF.type, KGC.Entity)}
        assert set(labels) == set(NASTY) | {"Tail"}
        for iri in map(str, labels.values()):
            assert iri.startswith("http://example.org/kg/entity/")
            assert not re.search(r"[\s<>\"{}|\\^`#]", iri) and "/./" not in iri and "/../" not in iri
    assert iri_part(".") == "%2E" and iri_part("..") == "%2E%2E" and iri_part("%20") == "%2520"
    assert entity_iri("urn:kgc-lite:", "a/b", "T") != entity_iri("urn:kgc-lite:", "b", "T/a")
    graphml = tmp_path / "nasty.graphml"
    _export(str(path), "-o", str(graphml))
    g = nx.read_graphml(graphml, force_multigraph=True)
    assert g.number_of_nodes() == len(NASTY) + 1 and "form\ufffdfeed" in {a["name"] for _, a in g.nodes(data=True)}


@pytest.mark.parametrize("lines,message", [
    ([b'{"id": "a", "triplets": []}', b"", b'{"id": "b", "triplets": [}'], "bad.jsonl:3: not valid JSON"),
    ([b'{"id": "a", "chunk": 0}'], 'bad.jsonl:1: expected "triplets" (a list) or "error"'),
    ([b'{"id": "a", "triplets": [{"head": "x", "relation": "r"}]}'], 'bad.jsonl:1: triplet 1: "tail" must be'),
    ([b'{"id": "a", "triplets": [{"head": "x", "relation": "r", "tail": "y", "confidence": "high"}]}'],
     '"confidence" must be a number'),
    ([b'{"id": "a", "triplets": [{"head": " ", "relation": "r", "tail": "y"}]}'], '"head" must be a non-blank'),
    ([b'{"id": "a", "triplets": [{"head": "x", "relation": "r", "tail": "y", "head_span": [1]}]}'],
     '"head_span" must be [start, end] integers'),
    ([b'[1, 2]'], "bad.jsonl:1: expected a JSON object"),
])
def test_bad_input_is_one_error_line(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_cli("export", str(path), "-f", "csv", timeout=60)
    err = result.stderr.decode()
    assert result.returncode == 1 and err.count("\n") == 1 and err.startswith("kgc-lite: error: "), err
    assert message in err and result.stdout == b""


@pytest.mark.parametrize("args,code,message", [
    (["-f", "neo4j"], 2, "give -o DIRECTORY"),
    (["-f", "xml"], 2, "--format must be one of"),
    ([], 2, "give --format"),
    (["-f", "turtle", "--base", "example.org/kg/"], 2, "not an absolute IRI"),
    (["-f", "turtle", "--base", "http://example.org/kg"], 2, "must end with"),
    (["-f", "turtle", "--base", "http://example.org/my kg/"], 2, "not allowed in an IRI"),
    (["missing.jsonl", "-f", "csv"], 1, "missing.jsonl: no such file"),
])
def test_bad_options_are_one_error_line(args, code, message):
    result = run_cli("export", *args, input=b"", timeout=60)
    err = result.stderr.decode()
    assert result.returncode == code and message in err and "Traceback" not in err, err


def test_extract_then_export_end_to_end(tmp_path):
    extracted = run_cli("extract", "--threads", "1", "examples/news.txt", timeout=300)
    assert extracted.returncode == 0, extracted.stderr.decode()
    records = [orjson.loads(line) for line in extracted.stdout.splitlines()]
    triplets = [t for r in records for t in r["triplets"]]
    assert triplets, "the default model found no triplet in examples/news.txt"
    source = tmp_path / "news.jsonl"
    source.write_bytes(extracted.stdout)
    _export(str(source), "-f", "neo4j", "-o", str(tmp_path / "neo"))
    ttl = _export(str(source), "-f", "turtle")
    with open(tmp_path / "neo" / "relationships.csv", newline="", encoding="utf-8") as f:
        assert len(list(csv.reader(f))) - 1 == len(triplets)
    g = rdflib.Graph().parse(data=ttl.stdout.decode(), format="turtle")
    assert len(set(g.subjects(RDF.type, RDF.Statement))) == len(triplets)
    keys = {(normalize_name(t[role]), t.get(f"{role}_type")) for t in triplets for role in ("head", "tail")}
    assert len(set(g.subjects(RDF.type, KGC.Entity))) == len(keys)
    scores = sorted(t["confidence"] for t in triplets if "confidence" in t)  # carried through when extract gives it
    assert sorted(o.toPython() for o in g.objects(None, KGC.confidence)) == scores
    text = (ROOT / "examples" / "news.txt").read_text()
    for r in records:  # provenance offsets point into the source document
        for t in r["triplets"]:
            start, end = t["head_span"]
            assert text[start:end] == t["head"]


@pytest.mark.parametrize("alias,name", [("nt", "ntriples"), ("ttl", "turtle"), ("json-ld", "jsonld")])
def test_rdflib_format_names_are_accepted(records_file, alias, name):
    fmt = {"ntriples": "nt", "turtle": "turtle", "jsonld": "json-ld"}[name]
    a, b = (rdflib.Graph().parse(data=_export(str(records_file), "-f", f).stdout.decode(), format=fmt)
            for f in (alias, name))
    assert len(a) > 50 and rdflib.compare.isomorphic(a, b)


NOT_KGC = [
    (b"", "no records (an empty input"),
    (b"\n  \n", "no records (an empty input"),
    (b"Satya Nadella works for Microsoft.\n", "in.jsonl:1: not valid JSON"),
    (b'[\n  {"id": "a", "triplets": []}\n]\n', "in.jsonl:1: not valid JSON"),
    (b'{"text": "A B .", "triple_list": [{"head": {"text": "A"}, "rel": {"text": "r"}, "tail": {"text": "B"}}]}\n',
     'in.jsonl:1: expected "triplets" (a list) or "error"'),
    (b'{"id": "a", "triplets": []}\n{"id": "b", "triplets": [{"head": "x", "relation": "r", "tail": "y"}\n',
     "in.jsonl:2: not valid JSON"),
]


@pytest.mark.parametrize("fmt", ["csv", "ttl", "html", "graphml"])
@pytest.mark.parametrize("content,message", NOT_KGC)
def test_empty_or_foreign_input_is_one_error_line(tmp_path, fmt, content, message):
    path, out = tmp_path / "in.jsonl", tmp_path / f"kg.{fmt}"
    path.write_bytes(content)
    result = run_cli("export", str(path), "-f", fmt, "-o", str(out), timeout=60)
    err = result.stderr.decode()
    assert result.returncode == 1 and err.count("\n") == 1 and err.startswith("kgc-lite: error: "), err
    assert message in err and not out.exists()


def test_empty_stdin_is_one_error_line():
    result = run_cli("export", "-f", "csv", input=b"", timeout=60)
    assert result.returncode == 1 and result.stderr.decode().count("\n") == 1 and b"no records" in result.stderr
