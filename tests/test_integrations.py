"""kgc_lite/integrations.py with the real LangChain classes: GraphDocuments from a CoNLL04 run and from the
default model, validated by their own pydantic models and loaded into a real local graph store (Kùzu, through
langchain-community's KuzuGraph.add_graph_documents, as Neo4jGraph would take them)."""

import sys
import warnings

import orjson
import pytest

from kgc_lite.errors import KgcError
from kgc_lite.graph.graph import normalize_name

from .conftest import FIXTURES, ROOT

pytest.importorskip("langchain_core", reason="pip install -e '.[langchain]'")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community announces its own sunset
    graph_document = pytest.importorskip("langchain_community.graphs.graph_document",
                                         reason="pip install -e '.[langchain]'")
from langchain_core.documents import Document  # noqa: E402

from kgc_lite.integrations import KgcGraphTransformer, graph_documents  # noqa: E402

CONLL04_RUN = FIXTURES / "conll04_test_run.jsonl"


def _records():
    return [orjson.loads(line) for line in CONLL04_RUN.read_bytes().splitlines()]


def test_graph_documents_of_a_conll04_run():
    records = _records()
    with_triplets = [r for r in records if r.get("triplets")]
    docs = graph_documents([str(CONLL04_RUN)])
    assert len(docs) == len(with_triplets) > 200
    for doc, record in zip(docs, with_triplets):
        # langchain's own validation: the pydantic models accept what was built, and JSON round-trips to equal
        assert isinstance(doc, graph_document.GraphDocument) and isinstance(doc.source, Document)
        assert graph_document.GraphDocument.model_validate_json(doc.model_dump_json()) == doc
        assert doc.source.page_content == record["text"]
        assert doc.source.metadata == {"id": f"{record['id']}:{record['chunk']}", "doc": record["id"],
                                       "chunk": record["chunk"], "start": record["start"], "end": record["end"]}
        assert [(r.source.type, r.type, r.target.type) for r in doc.relationships] == [
            (t["head_type"], t["relation"], t["tail_type"]) for t in record["triplets"]]
        for rel, t in zip(doc.relationships, record["triplets"]):
            assert normalize_name(rel.source.id) == normalize_name(t["head"])
            assert rel.properties["confidence"] == t["confidence"] and rel.properties["head_text"] == t["head"]
            if "head_span" in t:
                assert [rel.properties["head_start"], rel.properties["head_end"]] == t["head_span"]
        assert {n.id for n in doc.nodes} == {e.id for r in doc.relationships for e in (r.source, r.target)}
    # one entity, one id in every document: the stores merge on it
    ids = {}
    for doc in docs:
        for node in doc.nodes:
            assert ids.setdefault(node.properties["kgc_id"], (node.id, node.type)) == (node.id, node.type)
    with pytest.raises(ValueError):  # and the models do validate: a relationship needs its nodes
        graph_document.Relationship(source=docs[0].nodes[0], type="Work_for")


def test_graph_documents_load_into_a_local_graph_store(tmp_path):
    kuzu = pytest.importorskip("kuzu", reason="pip install kuzu (the test extra)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.graphs import KuzuGraph
    records = _records()
    triplets = [(r, t) for r in records for t in r.get("triplets", [])]
    key = lambda t, role: (normalize_name(t[role]), t[f"{role}_type"])  # noqa: E731
    docs = graph_documents([str(CONLL04_RUN)])
    db = kuzu.Database(str(tmp_path / "kuzu"))
    store = KuzuGraph(db, allow_dangerous_requests=True)
    allowed = sorted({(r.source.type, r.type, r.target.type) for d in docs for r in d.relationships})
    store.add_graph_documents(docs, allowed_relationships=allowed, include_source=True)
    conn = kuzu.Connection(db)
    count = lambda q: conn.execute(q).get_all()[0][0]  # noqa: E731
    assert count("MATCH (n) WHERE n.type = 'entity' RETURN count(n)") == len(
        {key(t, role) for _, t in triplets for role in ("head", "tail")})
    assert count("MATCH (a)-[r]->(b) WHERE a.type = 'entity' AND b.type = 'entity' RETURN count(r)") == len(
        {(key(t, "head"), t["relation"], key(t, "tail")) for _, t in triplets})  # the store merges repeats
    assert count("MATCH (c:Chunk) RETURN count(c)") == len({(r["id"], r["chunk"]) for r, _ in triplets})
    record, t = next((r, t) for r, t in triplets if t["relation"] == "Work_for")
    rows = conn.execute("MATCH (c:Chunk)-[:MENTIONS]->(p:Person)-[:Work_for]->(o:Organization) "
                        "WHERE c.id = $id RETURN p.id, o.id", {"id": f"{record['id']}:{record['chunk']}"}).get_all()
    assert any(normalize_name(p) == normalize_name(t["head"]) for p, _ in rows)


def test_the_transformer_runs_the_local_model_per_document():
    texts = (ROOT / "examples" / "news.txt").read_text().splitlines()
    documents = [Document(page_content=" ".join(texts[:2]), metadata={"source": "a"}),
                 Document(page_content="Nothing happened .", metadata={"source": "b"}),
                 Document(page_content=" ".join(texts[2:]), metadata={"source": "a"})]
    docs = KgcGraphTransformer(n_threads=2).convert_to_graph_documents(documents)
    assert len(docs) == 3 and [d.source for d in docs] == documents  # one per Document, its own source
    assert docs[0].relationships and docs[2].relationships, "the default model found nothing in news.txt"
    for doc in docs:
        assert graph_document.GraphDocument.model_validate_json(doc.model_dump_json()) == doc
        for rel in doc.relationships:  # every head and tail is text of its own document
            assert rel.properties["head_text"] in doc.source.page_content
            start, end = rel.properties["head_start"], rel.properties["head_end"]
            assert doc.source.page_content[start:end] == rel.properties["head_text"]


def test_bad_input_and_a_missing_extra_are_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "triplets": [{"head": "x", "relation": "r"}]}\n')
    with pytest.raises(KgcError, match=r'bad.jsonl:1: triplet 1: "tail" must be'):
        graph_documents([str(bad)])
    monkeypatch.setitem(sys.modules, "langchain_community.graphs.graph_document", None)
    with pytest.raises(KgcError, match=r"pip install 'kgc-lite\[langchain\]'"):
        graph_documents([str(CONLL04_RUN)])
    from kgc_lite.integrations import llama_index_extractor
    monkeypatch.setitem(sys.modules, "llama_index.core.graph_stores.types", None)
    with pytest.raises(KgcError, match=r"pip install 'kgc-lite\[llamaindex\]'"):
        llama_index_extractor(Replay([]))


class Replay:
    """Stands in for kgc_lite.Extractor: answers each text with the CoNLL04 run's record for it (the default
    model's real output), so the LlamaIndex wiring is tested on real extractions without rerunning the model."""

    def __init__(self, records):
        self.by_text = {r["text"]: r for r in records}

    def records(self, documents, batch=1):
        for doc in documents:
            yield {**self.by_text[doc.text], "id": doc.id}


def test_llama_index_property_graph_index_takes_the_extractor():
    core = pytest.importorskip("llama_index.core", reason="pip install -e '.[llamaindex]'")
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.graph_stores import SimplePropertyGraphStore
    from llama_index.core.graph_stores.types import EntityNode
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import TextNode

    from kgc_lite.graph.graph import KnowledgeGraph
    from kgc_lite.integrations import llama_index_extractor

    records = [r for r in _records() if r.get("triplets") and r["chunk"] == 0 and r["start"] == 0][:80]
    store = SimplePropertyGraphStore()
    core.PropertyGraphIndex(nodes=[TextNode(text=r["text"]) for r in records], property_graph_store=store,
                            kg_extractors=[llama_index_extractor(Replay(records))], llm=MockLLM(),
                            embed_model=MockEmbedding(embed_dim=8), embed_kg_nodes=False)
    graph = KnowledgeGraph().add_records(("x", r) for r in records)
    name = lambda t, role: graph.nodes[(normalize_name(t[role]), t[f"{role}_type"])].name  # noqa: E731
    triplets = [t for r in records for t in r["triplets"]]
    entities = [n for n in store.graph.nodes.values() if isinstance(n, EntityNode)]
    # LlamaIndex keys an entity by its name alone: "U.S." the Person and "U.S." the Location share one node
    assert {n.name for n in entities} == {name(t, role) for t in triplets for role in ("head", "tail")}
    assert len(entities) == len({n.name for n in entities})
    assert all(n.label in {t[f"{role}_type"] for t in triplets for role in ("head", "tail") if name(t, role) ==
                           n.name} for n in entities)
    stored = store.graph.get_triplets()
    assert {(h.name, r.label, t.name) for h, r, t in stored} == {
        (name(t, "head"), t["relation"], name(t, "tail")) for t in triplets}
    head, rel, tail = stored[0]
    assert {"confidence", "head_start", "tail_end"} <= set(rel.properties) and head.properties["kgc_id"]
    chunks = [n for n in store.graph.nodes.values() if n.label == "text_chunk"]
    assert len(chunks) == len(records)  # each source text is kept, linked to what it mentions
