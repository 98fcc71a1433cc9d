"""From records to a graph: merging triplets into nodes and edges, export formats, and the HTML view."""
