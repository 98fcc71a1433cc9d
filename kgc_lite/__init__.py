"""kgc-lite: knowledge-graph triplets from text with small local LLMs on llama.cpp.

    import kgc_lite
    for record in kgc_lite.extract_records(["Ann Lee works for Acme Corp in Boston."], schema="conll04"):
        print(record["triplets"])

The package, one folder per stage of the pipeline (docs/design.md walks it):
io (reading, splitting, JSONL out) -> prompting (prompts, grammars) -> runtime (llama.cpp) -> extract (one pass,
two stages; extract/pipeline.py picks) -> graph (merging, export, view). Beside it: qa4re
(relation of a given pair), models (registry, build at first use), data + evaluation (benchmarks, scoring,
results files), train (fine-tuning, convert to GGUF), cli (the `kgc-lite` command, a thin skin over all this).
"""

from kgc_lite.errors import InputError, KgcError
from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.extract.pipeline import extract_records
from kgc_lite.extract.two_stage import TwoStage
from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig
from kgc_lite.schema import Relation, Schema, load_schema
from kgc_lite.types import Example, Triplet

__all__ = ["extract_records", "Extractor", "ExtractOptions", "TwoStage", "Schema", "Relation", "load_schema",
           "Triplet", "Example", "KgcError", "InputError", "PromptBuilder", "PromptConfig"]
