"""kgc-lite inside LangChain and LlamaIndex graph pipelines: a local model in place of LLMGraphTransformer or
SimpleLLMPathExtractor (llama_index_extractor, at the end of this module).

LangChain's LLMGraphTransformer turns Documents into GraphDocuments with a hosted chat model; the graph stores
(Neo4jGraph, KuzuGraph, MemgraphGraph, FalkorDBGraph, ...) take them through `add_graph_documents`.
`KgcGraphTransformer` has the same `convert_to_graph_documents(documents)` and runs kgc-lite's extractor on the
machine instead, with no API key; `graph_documents(["triplets.jsonl"])` turns a finished `kgc-lite extract` run
into GraphDocuments without running a model.

The classes are langchain-community's `langchain_community.graphs.graph_document` GraphDocument, Node and
Relationship (the ones LLMGraphTransformer returns and the stores read; langchain-core has no graph classes of
its own), built on langchain-core's Document and Serializable. They are imported lazily, here only:
`pip install 'kgc-lite[langchain]'`.

Mapping, chosen to match what LLMGraphTransformer emits, so Cypher written for it works unchanged:
    Node.id      the entity's canonical name after kgc-lite's merging (kgc_lite/graph/graph.py), so the same entity has
                 the same id in every GraphDocument and the stores MERGE it into one node;
    Node.type    its entity type ("Entity" when the model gave none);
    Node.properties  kgc_id (the node id of `kgc-lite export`), aliases, mentions (how many);
    Relationship.type  the relation name as extracted (e.g. Work_for);
    Relationship.properties  confidence, head_text, tail_text and the character offsets head_start, head_end,
                 tail_start, tail_end, where known;
    GraphDocument.source  the text the triplets came from: the caller's Document for the transformer; for a
                 JSONL run, one Document per record (a sentence or chunk) with metadata id ("doc:chunk"), doc,
                 chunk, start, end.
Caveat inherited from the stores: with `baseEntityLabel=True`, Neo4jGraph merges nodes on id alone, so two
entities with one name and different types ("Washington" Person and Location) become one node there.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from kgc_lite.errors import KgcError
from kgc_lite.graph.graph import KnowledgeGraph, normalize_name, read_records

UNTYPED = "Entity"


def _langchain():
    try:
        from langchain_community.graphs.graph_document import GraphDocument, Node, Relationship
        from langchain_core.documents import Document
    except ImportError:
        raise KgcError("the LangChain adapter needs langchain-community and langchain-core: "
                       "pip install 'kgc-lite[langchain]'") from None
    return GraphDocument, Node, Relationship, Document


def _merged(groups: list[list[dict]], min_confidence: float | None) -> list[list[tuple]]:
    """For each group of records, its (head node, triplet, tail node) in order, entities merged across all groups
    by kgc-lite's rules (kgc_lite/graph/graph.py); triplets below min_confidence left out."""
    graph = KnowledgeGraph(min_confidence)
    for records in groups:
        for record in records:
            graph.add_record(record)
    out = []
    for records in groups:
        items = []
        for record in records:
            for t in record.get("triplets") or []:
                confidence = t.get("confidence")
                if confidence is not None and min_confidence is not None and confidence < min_confidence:
                    continue
                head, tail = (graph.nodes[(normalize_name(t[role]), t.get(f"{role}_type") or None)]
                              for role in ("head", "tail"))
                items.append((head, t, tail))
        out.append(items)
    return out


def _node_properties(node) -> dict:
    return {"kgc_id": node.id, "aliases": node.aliases, "mentions": len(node.mentions)}


def _relation_properties(t: dict) -> dict:
    props = {"confidence": t.get("confidence"), "head_text": t["head"], "tail_text": t["tail"]}
    for role in ("head", "tail"):
        span = t.get(f"{role}_span")
        if span:
            props[f"{role}_start"], props[f"{role}_end"] = span
    return {k: v for k, v in props.items() if v is not None}


def _build(groups: list[tuple[object, list[dict]]], min_confidence: float | None) -> list:
    """One GraphDocument per (source Document, its kgc-lite records), entities merged across all groups."""
    GraphDocument, Node, Relationship, _ = _langchain()
    out = []
    for (source, _), items in zip(groups, _merged([records for _, records in groups], min_confidence)):
        nodes: dict[str, object] = {}
        relationships = []
        for head, t, tail in items:
            ends = []
            for kg_node in (head, tail):
                node = nodes.get(kg_node.id)
                if node is None:
                    node = nodes[kg_node.id] = Node(id=kg_node.name, type=kg_node.type or UNTYPED,
                                                    properties=_node_properties(kg_node))
                ends.append(node)
            relationships.append(Relationship(source=ends[0], target=ends[1], type=t["relation"],
                                              properties=_relation_properties(t)))
        out.append(GraphDocument(nodes=list(nodes.values()), relationships=relationships, source=source))
    return out


def _default_extractor(schema: str, model: str | None, n_threads: int | None):
    """An Extractor as `kgc-lite extract --one-pass` builds it: the model's own prompt style and ICL count."""
    from kgc_lite.extract.extractor import Extractor
    from kgc_lite.extract.pipeline import model_options
    from kgc_lite.models.resolve import resolve
    resolved = resolve(model)
    options = model_options(resolved)
    return Extractor(schema=schema, options=options, resolved=resolved, n_threads=n_threads)


def _extract_per_text(extractor, texts: list[str], batch: int) -> list[list[dict]]:
    """kgc-lite records for each text (one per sentence or chunk of it), in order."""
    from kgc_lite.io.inputs import Document as KgcDocument
    # Internal ids by position: the callers' own ids need not be unique or present.
    per_text: list[list[dict]] = [[] for _ in texts]
    for record in extractor.records(iter([KgcDocument(str(i), text) for i, text in enumerate(texts)]),
                                    batch=batch):
        per_text[int(record["id"])].append(record)
    return per_text


def graph_documents(sources: Iterable[str] | None = None, min_confidence: float | None = None,
                    records: Iterable[dict] | None = None) -> list:
    """GraphDocuments from a `kgc-lite extract` run: its JSONL files (or `records`, already parsed), one
    GraphDocument per record that has triplets. Malformed input raises KgcError, as `kgc-lite export` does."""
    Document = _langchain()[3]
    items = ((f"record {i + 1}", r) for i, r in enumerate(records)) if records is not None else \
        read_records(list(sources) if sources is not None else None)
    groups = []
    check = KnowledgeGraph()  # validates each record, with its file:line, before it is used
    for where, record in items:
        check.add_record(record, where)
        if not record.get("triplets"):
            continue  # error records and records without triplets give no graph
        doc, chunk = str(record["id"]), record.get("chunk")
        metadata = {"id": doc if chunk is None else f"{doc}:{chunk}", "doc": doc, "chunk": chunk,
                    "start": record.get("start"), "end": record.get("end")}
        source = Document(page_content=record.get("text") or "",
                          metadata={k: v for k, v in metadata.items() if v is not None})
        groups.append((source, [record]))
    return _build(groups, min_confidence)


class KgcGraphTransformer:
    """A local stand-in for LangChain's LLMGraphTransformer: `convert_to_graph_documents(documents)` returns one
    GraphDocument per Document, its triplets extracted by kgc-lite (sentence by sentence, as `kgc-lite extract`
    does) in one pass with the given model and schema. For anything else (two stages, other prompt options),
    pass your own kgc_lite.Extractor.

        from kgc_lite.integrations import KgcGraphTransformer
        graph_docs = KgcGraphTransformer(schema="conll04").convert_to_graph_documents(docs)
        neo4j_graph.add_graph_documents(graph_docs, include_source=True)
    """

    def __init__(self, extractor=None, *, schema: str = "conll04", model: str | None = None,
                 min_confidence: float | None = None, batch: int = 8, n_threads: int | None = None):
        _langchain()  # a missing extra fails here, before a model loads
        self.extractor = extractor or _default_extractor(schema, model, n_threads)
        self.min_confidence = min_confidence
        self.batch = batch

    def convert_to_graph_documents(self, documents: Sequence) -> list:
        documents = list(documents)
        per_doc = _extract_per_text(self.extractor, [doc.page_content for doc in documents], self.batch)
        return _build(list(zip(documents, per_doc)), self.min_confidence)

    async def aconvert_to_graph_documents(self, documents: Sequence) -> list:
        import asyncio
        return await asyncio.to_thread(self.convert_to_graph_documents, documents)


def llama_index_extractor(extractor=None, *, schema: str = "conll04", model: str | None = None,
                          min_confidence: float | None = None, batch: int = 8, n_threads: int | None = None):
    """A LlamaIndex property-graph extractor (a TransformComponent, like SimpleLLMPathExtractor) that runs
    kgc-lite on each node's text and sets the node's KG_NODES_KEY / KG_RELATIONS_KEY metadata, which
    PropertyGraphIndex then writes to its graph store:

        from kgc_lite.integrations import llama_index_extractor
        index = PropertyGraphIndex.from_documents(docs, kg_extractors=[llama_index_extractor()], ...)

    EntityNode.name is the canonical name after merging, its label the entity type ("entity" when untyped, as
    LlamaIndex's own extractors write); Relation.label is the relation, with the same properties as the LangChain
    mapping above. LlamaIndex keys entities by name alone, so one name of two types is one node in its stores.
    Needs llama-index-core: pip install 'kgc-lite[llamaindex]'."""
    try:
        from llama_index.core.graph_stores.types import KG_NODES_KEY, KG_RELATIONS_KEY, EntityNode, Relation
        from llama_index.core.schema import MetadataMode, TransformComponent
    except ImportError:
        raise KgcError("the LlamaIndex adapter needs llama-index-core: pip install 'kgc-lite[llamaindex]'") from None
    from pydantic import PrivateAttr

    class KgcPathExtractor(TransformComponent):
        _extractor = PrivateAttr()

        @classmethod
        def class_name(cls) -> str:
            return "KgcPathExtractor"

        def __call__(self, nodes, show_progress: bool = False, **kwargs):
            nodes = list(nodes)
            texts = [node.get_content(metadata_mode=MetadataMode.NONE) for node in nodes]
            per_node = _extract_per_text(self._extractor, texts, batch)
            for node, items in zip(nodes, _merged(per_node, min_confidence)):
                entities = node.metadata.pop(KG_NODES_KEY, [])
                relations = node.metadata.pop(KG_RELATIONS_KEY, [])
                for head, t, tail in items:
                    ends = [EntityNode(name=n.name, label=n.type or "entity", properties=_node_properties(n))
                            for n in (head, tail)]
                    entities.extend(ends)
                    relations.append(Relation(label=t["relation"], source_id=ends[0].id, target_id=ends[1].id,
                                              properties=_relation_properties(t)))
                node.metadata[KG_NODES_KEY] = entities
                node.metadata[KG_RELATIONS_KEY] = relations
            return nodes

    component = KgcPathExtractor()
    component._extractor = extractor or _default_extractor(schema, model, n_threads)
    return component
