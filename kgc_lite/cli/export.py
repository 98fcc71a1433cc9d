"""`kgc-lite export`: extract's JSONL in, a knowledge graph out (RDF, Neo4j CSVs, GraphML, CSV/TSV, HTML)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import fail
from kgc_lite.errors import KgcError
from kgc_lite.graph import export as ex
from kgc_lite.graph.graph import build_graph

EPILOG = """\b
Entity merging: one node per (normalized name, type). The normalization equates only
  Unicode NFKC forms, case (casefold), runs of whitespace, quotes/brackets around the
  whole name ('"Microsoft"' = "Microsoft"), and tokenizer spacing around punctuation
  ("U.S ." = "U.S.", "Redmond , Washington" = "Redmond, Washington", "Ford 's" = "Ford's").
It never merges different types (or a typed with an untyped mention), and does no fuzzy
  matching, no dropped words ("Microsoft" != "Microsoft Corp."), no accent stripping,
  no abbreviation expansion ("US" != "U.S.").
Every triplet occurrence is one edge with its provenance (doc, chunk, offsets, sentence,
  confidence); RDF asserts each distinct triple once and reifies each occurrence as an
  rdf:Statement. Details: the docstrings of kgc_lite/graph/graph.py and kgc_lite/graph/export.py.
Input is read line by line, but the graph is held in memory (about 180 MB for 100k
  triplets); graphml and jsonld also build the whole document (1-2 GB for 100k).
html writes one self-contained page (vis-network inside, nothing loaded from the
  network; needs pip install 'kgc-lite[view]'): search entities, filter relations and
  confidence, click a node or edge for its sentences and offsets.

\b
Examples:
  kgc-lite extract doc.txt | kgc-lite export --format ttl -o doc.ttl
  kgc-lite export triplets.jsonl --format html -o kg.html
  kgc-lite export triplets.jsonl --format neo4j -o neo4j-import/
  kgc-lite export a.jsonl b.jsonl -f graphml --min-confidence 0.5 > kg.graphml"""


@app.command("export", epilog=EPILOG)
def export_command(
    files: List[str] = typer.Argument(None, help="JSONL files written by `kgc-lite extract`; none or '-' reads "
                                      "stdin. Error records are skipped."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help=f"Output format: {', '.join(ex.FORMATS)} "
                                      "(also nt, ttl, json-ld). Default: from the -o suffix (.nt .ttl .jsonld "
                                      ".graphml .csv .tsv .html)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output file; for neo4j, a directory for "
                                          "nodes.csv and relationships.csv (required). Default: stdout."),
    base: str = typer.Option(ex.DEFAULT_BASE, "--base", help="Base namespace of minted IRIs (RDF formats); must "
                             "end with '/', '#' or ':'."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", min=0.0, max=1.0, help="Drop "
                                                   "triplets whose confidence is below this; triplets without a "
                                                   "confidence field are always kept."),
    database: str = typer.Option("neo4j", "--database", help="Database name in the printed neo4j-admin command."),
) -> None:
    """Turn extract's JSONL into a knowledge graph: merged entity nodes, one edge per triplet, with provenance."""
    if fmt is None:
        fmt = ex.SUFFIXES.get(output.suffix.lower()) if output else None
        if fmt is None:
            raise fail(f"give --format ({', '.join(ex.FORMATS)})", 2)
    fmt = ex.ALIASES.get(fmt, fmt)
    if fmt not in ex.FORMATS:
        raise fail(f"--format must be one of: {', '.join(ex.FORMATS)} (got {fmt!r})", 2)
    if fmt == "neo4j" and output is None:
        raise fail("--format neo4j writes two files: give -o DIRECTORY", 2)
    if output is not None and fmt != "neo4j" and output.is_dir():
        raise fail(f"{output}: is a directory (--format {fmt} writes one file)", 2)
    try:
        ex.check_base(base)
    except KgcError as exc:
        raise fail(str(exc), 2)
    if fmt == "html":
        from kgc_lite.graph.view import check_available
        check_available()  # a missing extra fails now, not after reading the whole input
    graph = build_graph(files, min_confidence)
    if fmt == "neo4j":
        command = ex.write_neo4j(graph, output, database)
    elif output is not None:
        with open(output, "wb") as out:
            ex.write(graph, fmt, out, base)
    else:
        _to_stdout(graph, fmt, base)
    typer.echo(f"kgc-lite: export: {graph.summary()}", err=True)
    if fmt == "neo4j":
        typer.echo(f"kgc-lite: import with: {command}", err=True)


def _to_stdout(graph, fmt: str, base: str) -> None:
    try:
        ex.write(graph, fmt, sys.stdout.buffer, base)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # The reader (e.g. `head`) has gone: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0)
