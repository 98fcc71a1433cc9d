"""Writers for a KnowledgeGraph (kgc_lite.graph.graph): RDF (N-Triples, Turtle, JSON-LD), Neo4j import CSVs, GraphML,
CSV/TSV triplet tables, and an interactive HTML page (kgc_lite/graph/view.py). rdflib and networkx import lazily, only for the formats that need them.

RDF shape (loads cleanly in rdflib; no RDF-star). With the base namespace B (default `urn:kgc-lite:`, which names
things without pretending they can be looked up; `--base https://your.org/kg/` for your own):

    B entity/<type>/<name>    an entity; <name> is its merge key (normalized name), <type> its type; an untyped
                              entity is B entity/<name>. Each part is percent-encoded UTF-8 (every byte but
                              A-Z a-z 0-9 - . _ ~), and a part of only dots is fully encoded ("." is %2E), so
                              any name gives one safe IRI and different keys never share one.
                              rdf:type kgc:Entity and B type/<type>; rdfs:label the canonical name;
                              skos:altLabel each other surface form.
    B relation/<relation>     a predicate (rdf:Property, rdfs:label the relation name).
    B doc/<doc id>            a source document (kgc:Document, rdfs:label its id).

Each distinct (head, relation, tail) is asserted once, as a plain triple. Each occurrence of it is a blank node
of type rdf:Statement (standard RDF reification: rdf:subject, rdf:predicate, rdf:object; labelled with the
edge id, _:r1, _:r2, ..., in N-Triples, so runs diff cleanly) carrying provenance:
kgc:doc, kgc:chunk, kgc:sentence, kgc:unitStart/unitEnd, kgc:headText/tailText and kgc:headStart/headEnd/
tailStart/tailEnd (character offsets in the document), kgc:confidence (xsd:double) when given. The vocabulary
kgc: is `urn:kgc-lite:vocab:` whatever the base, so files from different bases share their properties.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from kgc_lite.errors import KgcError
from kgc_lite.graph.graph import Edge, KnowledgeGraph

FORMATS = ("ntriples", "turtle", "jsonld", "neo4j", "graphml", "csv", "tsv", "html")
ALIASES = {"nt": "ntriples", "ttl": "turtle", "json-ld": "jsonld"}  # rdflib's and the file suffixes' names
SUFFIXES = {".nt": "ntriples", ".ttl": "turtle", ".jsonld": "jsonld", ".graphml": "graphml", ".csv": "csv",
            ".tsv": "tsv", ".html": "html", ".htm": "html"}
DEFAULT_BASE = "urn:kgc-lite:"
VOCAB = "urn:kgc-lite:vocab:"
_RDFLIB_FORMAT = {"ntriples": "nt", "turtle": "turtle", "jsonld": "json-ld"}
RDF_BATCH = 20_000  # triples per rdflib graph when streaming N-Triples/Turtle out
# Prefixes the JSON-LD context defines: a base IRI whose scheme is one of them would be read back as a compact IRI.
_CONTEXT_PREFIXES = ("rdf", "rdfs", "skos", "xsd", "kgc")

TABLE_COLUMNS = ("doc", "chunk", "head", "relation", "tail", "head_type", "tail_type", "head_id", "tail_id",
                 "head_name", "tail_name", "head_start", "head_end", "tail_start", "tail_end", "confidence",
                 "unit_start", "unit_end", "sentence")


def check_base(base: str) -> str:
    """The base namespace, if it can prefix every minted IRI safely; else a KgcError saying why."""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", base):
        raise KgcError(f"--base {base!r} is not an absolute IRI (it needs a scheme, as in urn:... or https://...)")
    if re.search(r"[\s<>\"{}|\\^`]", base):
        raise KgcError(f"--base {base!r} contains a character that is not allowed in an IRI")
    if base[-1] not in "/#:":
        raise KgcError(f"--base {base!r} must end with '/', '#' or ':' so that names can follow it")
    if base.split(":", 1)[0].lower() in _CONTEXT_PREFIXES:
        raise KgcError(f"--base {base!r}: the scheme is a prefix of kgc-lite's JSON-LD context")
    return base


def iri_part(text: str) -> str:
    """Percent-encode one IRI path segment.

    >>> iri_part('Zoë "<#1>"'), iri_part("..")
    ('Zo%C3%AB%20%22%3C%231%3E%22', '%2E%2E')
    """
    part = quote(text, safe="")
    if not part.strip("."):  # "." and ".." are dot-segments that IRI resolution would remove
        part = part.replace(".", "%2E")
    return part


def entity_iri(base: str, key: str, etype: str | None) -> str:
    typed = f"{iri_part(etype)}/" if etype is not None else ""
    return f"{base}entity/{typed}{iri_part(key)}"


def rdf_triples(graph: KnowledgeGraph, base: str = DEFAULT_BASE):
    """The graph's RDF triples (rdflib terms; shape in the module docstring), each exactly once, in a stable
    order: entities, then per edge its relation, document, asserted triple (first time) and statement node."""
    from rdflib import BNode, Literal, URIRef
    from rdflib.namespace import RDF, RDFS, SKOS, XSD

    # Terms are made once and reused: building an rdflib term (IRI check, literal casting) costs more than
    # adding it to a graph, and offsets, documents and relations repeat across edges.
    a, label, entity, document = RDF.type, RDFS.label, URIRef(f"{VOCAB}Entity"), URIRef(f"{VOCAB}Document")
    p = {name: URIRef(f"{VOCAB}{name}") for name in ("doc", "headText", "tailText", "sentence", "confidence",
                                                      *_OFFSET_NAMES)}
    ints: dict[int, Literal] = {}
    iris: dict[str, URIRef] = {}
    terms: dict[tuple, URIRef] = {}  # classes, predicates and documents, declared when first made
    asserted: set[tuple[str, str, str]] = set()
    for node in graph.nodes.values():
        iri = iris[node.id] = URIRef(entity_iri(base, node.key, node.type))
        name = node.name
        yield iri, a, entity
        yield iri, label, Literal(name)
        if node.type is not None:
            cls = terms.get(("type", node.type))
            if cls is None:
                cls = terms[("type", node.type)] = URIRef(f"{base}type/{iri_part(node.type)}")
                yield cls, a, RDFS.Class
                yield cls, label, Literal(node.type)
            yield iri, a, cls
        for alias in node.aliases:
            if alias != name:
                yield iri, SKOS.altLabel, Literal(alias)
    for edge in graph.edges:
        pred = terms.get(("relation", edge.relation))
        if pred is None:
            pred = terms[("relation", edge.relation)] = URIRef(f"{base}relation/{iri_part(edge.relation)}")
            yield pred, a, RDF.Property
            yield pred, label, Literal(edge.relation)
        doc = terms.get(("doc", edge.doc))
        if doc is None:
            doc = terms[("doc", edge.doc)] = URIRef(f"{base}doc/{iri_part(edge.doc)}")
            yield doc, a, document
            yield doc, label, Literal(edge.doc)
        head, tail = iris[edge.head], iris[edge.tail]
        if (edge.head, edge.relation, edge.tail) not in asserted:
            asserted.add((edge.head, edge.relation, edge.tail))
            yield head, pred, tail
        st = BNode(edge.id)  # the edge's id, as in the other formats: deterministic output, diffable runs
        yield st, a, RDF.Statement
        yield st, RDF.subject, head
        yield st, RDF.predicate, pred
        yield st, RDF.object, tail
        yield st, p["doc"], doc
        yield st, p["headText"], Literal(edge.head_text)
        yield st, p["tailText"], Literal(edge.tail_text)
        if edge.sentence is not None:
            yield st, p["sentence"], Literal(edge.sentence)
        for name, value in zip(_OFFSET_NAMES, _offset_values(edge)):
            if value is not None:
                lit = ints.get(value)
                if lit is None:
                    lit = ints[value] = Literal(value, datatype=XSD.integer)
                yield st, p[name], lit
        if edge.confidence is not None:
            yield st, p["confidence"], Literal(edge.confidence, datatype=XSD.double)


def _rdf_graph(base: str):
    from rdflib import Graph
    from rdflib.namespace import SKOS

    g = Graph(store="SimpleMemory")  # a single-context store: adding triples costs about 12% less than "Memory"
    for prefix, ns in (("kgc", VOCAB), ("ent", f"{base}entity/"), ("rel", f"{base}relation/"),
                       ("cls", f"{base}type/"), ("doc", f"{base}doc/"), ("skos", str(SKOS))):
        g.bind(prefix, ns)
    return g


def to_rdf(graph: KnowledgeGraph, base: str = DEFAULT_BASE):
    """The whole graph as one rdflib.Graph."""
    g = _rdf_graph(base)
    for triple in rdf_triples(graph, base):
        g.add(triple)
    return g


_OFFSET_NAMES = ("chunk", "unitStart", "unitEnd", "headStart", "headEnd", "tailStart", "tailEnd")


def _offset_values(edge: Edge) -> tuple:
    head, tail = edge.head_span or (None, None), edge.tail_span or (None, None)
    return edge.chunk, edge.unit_start, edge.unit_end, head[0], head[1], tail[0], tail[1]


def write_rdf(graph: KnowledgeGraph, fmt: str, out: BinaryIO, base: str = DEFAULT_BASE,
              batch: int = RDF_BATCH) -> None:
    """N-Triples and Turtle go out in rdflib graphs of `batch` triples each, so memory stays bounded: their
    concatenation is one valid document (Turtle may repeat a @prefix, which it allows). JSON-LD is one JSON
    document and is serialized whole."""
    if fmt == "jsonld":
        context = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
                   "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
                   "skos": "http://www.w3.org/2004/02/skos/core#", "kgc": VOCAB}
        out.write(to_rdf(graph, base).serialize(format="json-ld", encoding="utf-8", context=context))
        return
    from rdflib import BNode

    g, count, last = _rdf_graph(base), 0, None
    for triple in rdf_triples(graph, base):
        # Never between two triples of one statement node: Turtle writes a blank node as an anonymous [ ... ],
        # so a statement split over two batches would come back as two nodes.
        if count >= batch and not (isinstance(triple[0], BNode) and triple[0] == last):
            out.write(g.serialize(format=_RDFLIB_FORMAT[fmt], encoding="utf-8"))
            g, count = _rdf_graph(base), 0
        g.add(triple)
        count += 1  # not len(g): rdflib's in-memory store counts by walking every triple
        last = triple[0]
    if count or fmt != "ntriples":
        out.write(g.serialize(format=_RDFLIB_FORMAT[fmt], encoding="utf-8"))


# Characters XML 1.0 cannot hold, even escaped; GraphML is XML, so they become U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(value):
    return _NOT_XML.sub("\ufffd", value) if isinstance(value, str) else value


def to_networkx(graph: KnowledgeGraph):
    """The graph as a networkx.MultiDiGraph whose attributes are all GraphML scalars (lists become JSON strings;
    missing values are left out rather than written as empty strings)."""
    import networkx as nx

    g = nx.MultiDiGraph()
    for node in graph.nodes.values():
        attrs = {"name": node.name, "type": node.type, "aliases": json.dumps(node.aliases, ensure_ascii=False),
                 "mention_count": len(node.mentions),
                 "mentions": json.dumps([[m.doc, m.chunk, m.start, m.end] for m in node.mentions],
                                        ensure_ascii=False)}
        g.add_node(node.id, **{k: _xml_safe(v) for k, v in attrs.items() if v is not None})
    for edge in graph.edges:
        attrs = {"relation": edge.relation, "doc": edge.doc, "sentence": edge.sentence, "head_text": edge.head_text,
                 "tail_text": edge.tail_text, "confidence": edge.confidence, **_table_offsets(edge)}
        g.add_edge(edge.head, edge.tail, key=edge.id, **{k: _xml_safe(v) for k, v in attrs.items() if v is not None})
    return g


def write_graphml(graph: KnowledgeGraph, out: BinaryIO) -> None:
    import networkx as nx
    nx.write_graphml(to_networkx(graph), out, encoding="utf-8")


def _table_offsets(edge: Edge) -> dict[str, int | None]:
    return dict(zip(("chunk", "unit_start", "unit_end", "head_start", "head_end", "tail_start", "tail_end"),
                    _offset_values(edge)))


def write_table(graph: KnowledgeGraph, out: BinaryIO, delimiter: str = ",") -> None:
    """One row per triplet occurrence, header first. TSV is the csv module's dialect with tabs: a field that
    holds a tab, a line break or a double quote is quoted, so read it with a CSV reader, not by splitting."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text, delimiter=delimiter, lineterminator="\n")
        writer.writerow(TABLE_COLUMNS)
        for edge in graph.edges:
            head, tail = graph.node(edge.head), graph.node(edge.tail)
            row = {"doc": edge.doc, "head": edge.head_text, "relation": edge.relation, "tail": edge.tail_text,
                   "head_type": head.type, "tail_type": tail.type, "head_id": head.id, "tail_id": tail.id,
                   "head_name": head.name, "tail_name": tail.name, "confidence": edge.confidence,
                   "sentence": edge.sentence, **_table_offsets(edge)}
            writer.writerow(["" if row[c] is None else row[c] for c in TABLE_COLUMNS])
    finally:
        text.detach()  # the caller owns `out`


NEO4J_NODE_HEADER = ("id:ID", "name", "type", ":LABEL", "aliases:string[]", "mentions:int")
NEO4J_REL_HEADER = (":START_ID", ":END_ID", ":TYPE", "doc", "chunk:int", "sentence", "head_text", "tail_text",
                    "unit_start:int", "unit_end:int", "head_start:int", "head_end:int", "tail_start:int",
                    "tail_end:int", "confidence:float")
# neo4j-admin has no escape for its array delimiter, so one that occurs in no alias or label is chosen.
_ARRAY_DELIMITERS = ((";", None), ("|", "U+007C"), ("\x1f", "U+001F"))


def write_neo4j(graph: KnowledgeGraph, directory: Path, database: str = "neo4j") -> str:
    """Write nodes.csv and relationships.csv for `neo4j-admin database import full`; return that command."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise KgcError(f"{directory}: exists and is not a directory (neo4j output needs a directory)")
    directory.mkdir(parents=True, exist_ok=True)
    arrays = [[*node.aliases, *([node.type] if node.type else [])] for node in graph.nodes.values()]
    for delim, flag in _ARRAY_DELIMITERS:
        if not any(delim in item for array in arrays for item in array):
            break
    else:
        raise KgcError("every array delimiter neo4j-admin could use (; | U+001F) occurs in some alias or type")
    multiline = False
    nodes_path, rels_path = directory / "nodes.csv", directory / "relationships.csv"
    with open(nodes_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(NEO4J_NODE_HEADER)
        for node in graph.nodes.values():
            labels = delim.join(["Entity", *([node.type] if node.type else [])])
            multiline |= any("\n" in a or "\r" in a for a in node.aliases)
            writer.writerow([node.id, node.name, node.type or "", labels, delim.join(node.aliases),
                             len(node.mentions)])
    with open(rels_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(NEO4J_REL_HEADER)
        for edge in graph.edges:
            offsets = _table_offsets(edge)
            sentence = edge.sentence or ""
            multiline |= any(c in s for s in (sentence, edge.doc, edge.head_text, edge.tail_text) for c in "\r\n")
            writer.writerow([edge.head, edge.tail, edge.relation, edge.doc, offsets["chunk"], sentence,
                             edge.head_text, edge.tail_text,
                             *("" if offsets[k] is None else offsets[k] for k in
                               ("unit_start", "unit_end", "head_start", "head_end", "tail_start", "tail_end")),
                             "" if edge.confidence is None else edge.confidence])
    command = ["neo4j-admin", "database", "import", "full", f"--nodes={nodes_path.resolve()}",
               f"--relationships={rels_path.resolve()}"]
    if flag:
        command.append(f"--array-delimiter={flag}")
    if multiline:
        command.append("--multiline-fields=true")
    return shlex.join([*command, database])


def write(graph: KnowledgeGraph, fmt: str, out: BinaryIO, base: str = DEFAULT_BASE) -> None:
    """Write a single-file format (everything but neo4j) to a binary stream."""
    if fmt in _RDFLIB_FORMAT:
        write_rdf(graph, fmt, out, base)
    elif fmt == "graphml":
        write_graphml(graph, out)
    elif fmt in ("csv", "tsv"):
        write_table(graph, out, "," if fmt == "csv" else "\t")
    elif fmt == "html":
        from kgc_lite.graph.view import write_html
        write_html(graph, out)
    else:
        raise KgcError(f"format {fmt!r} does not write to a single stream (one of: "
                       f"{', '.join(f for f in FORMATS if f != 'neo4j')})")
