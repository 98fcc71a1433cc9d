"""kgc-lite: knowledge-graph triplets from text with small local LLMs on llama.cpp.

    from kgc_lite import Extractor, ExtractOptions
    ex = Extractor(schema="conll04", options=ExtractOptions(style="code"))
    ex.extract("Ann Lee works for Acme Corp in Boston .")

Pipeline, one module per stage: inputs (reading, splitting) → prompts → grammar → engine (llama.cpp) →
extract (parsing, checks) → cli (JSONL out). Offline stages: data, evaluate, train, convert.
"""

from .data import Example, Triplet
from .errors import InputError, KgcError
from .extract import ExtractOptions, Extractor
from .prompts import PromptBuilder, PromptConfig
from .schema import Relation, Schema, load_schema

__all__ = ["Example", "Triplet", "InputError", "KgcError", "ExtractOptions", "Extractor", "PromptBuilder",
           "PromptConfig", "Relation", "Schema", "load_schema"]
